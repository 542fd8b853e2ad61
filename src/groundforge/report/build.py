"""The report of a written dataset: one self-contained HTML file, its plots as PNG, and every
number behind them as CSV.

    build_report(Path("out"), Path("out/report"))

The HTML embeds its plots (base64 PNG), so it opens offline and can be mailed as one file.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import logging
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no screen: render plots to memory only
import matplotlib.pyplot as plt  # noqa: E402

from groundforge.export.preview import contact_sheet  # noqa: E402
from groundforge.export.reader import DatasetReader  # noqa: E402
from groundforge.report import diversity  # noqa: E402

log = logging.getLogger(__name__)


@dataclass
class Section:
    """One part of the report: a title, text, plots and tables."""

    title: str
    text: str = ""
    plots: list[tuple[str, str]] = field(default_factory=list)  # (file name, caption)
    tables: list[tuple[str, list[dict]]] = field(default_factory=list)  # (caption, rows)


class ReportWriter:
    """Collects plots and CSVs under `out` and the sections of the HTML."""

    def __init__(self, out: Path):
        self.out = Path(out)
        (self.out / "plots").mkdir(parents=True, exist_ok=True)
        (self.out / "csv").mkdir(parents=True, exist_ok=True)
        self.sections: list[Section] = []
        self.images: dict[str, bytes] = {}

    def csv(self, name: str, rows: list[dict]) -> Path:
        """Write rows (dicts with the same keys) as csv/<name>.csv."""
        path = self.out / "csv" / f"{name}.csv"
        with path.open("w", newline="", encoding="utf-8") as f:
            if rows:
                writer = csv.DictWriter(f, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
        return path

    def plot(self, name: str, figure) -> str:
        """Save a matplotlib figure as plots/<name>.png and keep it for the HTML."""
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
        plt.close(figure)
        data = buffer.getvalue()
        (self.out / "plots" / f"{name}.png").write_bytes(data)
        self.images[name] = data
        return name

    def html(self, title: str) -> str:
        """The whole report as one HTML page with its plots embedded."""
        parts = [
            "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
            f"<h1>{html.escape(title)}</h1><nav><ul>",
        ]
        parts += [
            f"<li><a href='#s{i}'>{html.escape(s.title)}</a></li>"
            for i, s in enumerate(self.sections)
        ]
        parts.append("</ul></nav>")
        for i, section in enumerate(self.sections):
            parts.append(f"<section id='s{i}'><h2>{html.escape(section.title)}</h2>")
            if section.text:
                parts.append(f"<p>{html.escape(section.text)}</p>")
            for name, caption in section.plots:
                encoded = base64.b64encode(self.images[name]).decode("ascii")
                parts.append(
                    f"<figure><img alt='{html.escape(caption)}' src='data:image/png;base64,"
                    f"{encoded}'><figcaption>{html.escape(caption)} "
                    f"(<a href='csv/{name}.csv'>csv</a>)</figcaption></figure>"
                )
            for caption, rows in section.tables:
                parts.append(_table(caption, rows))
            parts.append("</section>")
        parts.append("</body></html>")
        return "\n".join(parts)


STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 1rem auto; padding: 0 1rem;
       color: #222; }
img { max-width: 100%; height: auto; }
figure { margin: 1rem 0; }
table { border-collapse: collapse; margin: 0.5rem 0; display: block; overflow-x: auto; }
td, th { border: 1px solid #ccc; padding: 0.2rem 0.5rem; text-align: right; }
nav ul { columns: 2; }
"""


def _table(caption: str, rows: list[dict]) -> str:
    if not rows:
        return f"<p>{html.escape(caption)}: none</p>"
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row.values()) + "</tr>"
        for row in rows
    )
    return f"<table><caption>{html.escape(caption)}</caption><tr>{head}</tr>{body}</table>"


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _bar(rows: list[dict], x: str, y: str, title: str):
    figure, ax = plt.subplots(figsize=(6, 3))
    ax.bar([str(r[x]) for r in rows], [r[y] for r in rows], color="#3a6ea5")
    ax.set_title(title)
    ax.set_ylabel(y)
    return figure


def _hist(values: list[float], bins: int, title: str, xlabel: str, low: float, high: float):
    figure, ax = plt.subplots(figsize=(6, 3))
    ax.hist(values, bins=bins, range=(low, high), color="#3a6ea5")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count")
    return figure


def label_sections(writer: ReportWriter, reader: DatasetReader) -> None:
    """Diversity from the labels: classes, objects per image, boxes, positions, visibility."""
    records = [record for record, _ in reader.records()]
    objects = diversity.object_rows(records)
    images = diversity.image_rows(records)
    classes = [c["name"] for c in reader.info["classes"]]

    counts = diversity.class_counts(objects, classes)
    writer.csv("classes", counts)
    writer.plot("classes", _bar(counts, "class_name", "objects", "Visible objects per class"))
    summary = [
        {
            "images": len(images),
            "objects": len(objects),
            "classes": len(classes),
            "cameras": len(reader.info["cameras"]),
        }
    ]
    writer.sections.append(
        Section(
            "Summary",
            f"Dataset {reader.info['name']}.",
            [("classes", "Visible objects per class")],
            [("Counts", summary)],
        )
    )

    per_image = [r["objects"] for r in images]
    top = max(per_image, default=0) + 1
    writer.csv("objects_per_image", diversity.histogram_rows(per_image, top, 0, top, "objects"))
    writer.plot("objects_per_image", _hist(per_image, top, "Objects per image", "objects", 0, top))
    areas = [o["box_area_fraction"] for o in objects]
    largest = max(areas, default=0.1) * 1.05
    writer.csv("box_sizes", diversity.histogram_rows(areas, 30, 0, largest, "area_fraction"))
    writer.plot("box_sizes", _hist(areas, 30, "Box sizes", "box area / image area", 0, largest))
    aspects = [o["aspect_ratio"] for o in objects]
    writer.csv("aspect_ratios", diversity.histogram_rows(aspects, 30, 0, 4, "aspect"))
    writer.plot("aspect_ratios", _hist(aspects, 30, "Box aspect ratios", "width / height", 0, 4))
    writer.sections.append(
        Section(
            "Objects and boxes",
            plots=[
                ("objects_per_image", "Objects per image"),
                ("box_sizes", "Box sizes"),
                ("aspect_ratios", "Box aspect ratios"),
            ],
        )
    )

    heat_plots = []
    for camera in reader.camera_names:
        grid = diversity.centre_heatmap(objects, camera)
        rows = [
            {"row": i, "column": j, "count": int(grid[i, j])}
            for i in range(grid.shape[0])
            for j in range(grid.shape[1])
        ]
        name = f"centres_{camera}"
        writer.csv(name, rows)
        figure, ax = plt.subplots(figsize=(4, 3))
        ax.imshow(grid, cmap="magma", extent=(0, 1, 1, 0))
        ax.set_title(f"Box centres, camera {camera}")
        writer.plot(name, figure)
        heat_plots.append((name, f"Box centres seen by camera {camera}"))
    writer.sections.append(Section("Where objects appear", plots=heat_plots))

    fractions = [o["visible_fraction"] for o in objects]
    writer.csv("visible_fraction", diversity.histogram_rows(fractions, 20, 0, 1, "fraction"))
    writer.plot(
        "visible_fraction",
        _hist(fractions, 20, "Visible fraction", "visible / unoccluded pixels", 0, 1),
    )
    truncated = [
        {"truncated": k, "objects": sum(o["truncated"] == k for o in objects)}
        for k in (False, True)
    ]
    writer.csv("truncation", truncated)
    writer.plot("truncation", _bar(truncated, "truncated", "objects", "Truncated objects"))
    depths = [r["depth_max_m"] for r in images if r["depth_max_m"] is not None]
    writer.csv(
        "depth_ranges",
        [
            {
                "camera": r["camera"],
                "shot": r["shot"],
                "depth_min_m": r["depth_min_m"],
                "depth_max_m": r["depth_max_m"],
            }
            for r in images
        ],
    )
    writer.plot(
        "depth_ranges",
        _hist(
            depths, 30, "Farthest surface per image", "metres", 0, max(depths, default=1.0) * 1.05
        ),
    )
    writer.sections.append(
        Section(
            "Occlusion, truncation and depth",
            plots=[
                ("visible_fraction", "Visible fraction of each object"),
                ("truncation", "Objects leaving the image"),
                ("depth_ranges", "Depth range of each image"),
            ],
        )
    )


def sample_section(writer: ReportWriter, dataset: Path) -> None:
    """A grid of sample images with their labels drawn."""
    sheet = contact_sheet(dataset, writer.out / "plots" / "samples.png", count=8)
    writer.images["samples"] = sheet.read_bytes()
    writer.csv("samples", [{"file": "plots/samples.png"}])
    writer.sections.append(
        Section(
            "Sample images",
            "Boxes, class names and mask outlines.",
            [("samples", "Sample images with their labels")],
        )
    )


def build_report(dataset: Path, out: Path) -> Path:
    """Write report.html, plots/ and csv/ for the dataset at `dataset` into `out`."""
    reader = DatasetReader(Path(dataset))
    writer = ReportWriter(out)
    label_sections(writer, reader)
    sample_section(writer, Path(dataset))
    path = writer.out / "report.html"
    path.write_text(writer.html(f"groundforge report: {reader.info['name']}"), encoding="utf-8")
    log.info("report written to %s", path)
    return path
