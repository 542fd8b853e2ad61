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
import numpy as np  # noqa: E402

from groundforge.export.preview import contact_sheet  # noqa: E402
from groundforge.export.reader import DatasetReader  # noqa: E402
from groundforge.report import diversity, features, fidelity  # noqa: E402

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


SHOWN_STATISTICS = (
    "brightness",
    "contrast",
    "sharpness",
    "colourfulness",
    "entropy",
    "spectrum_slope",
    "noise_sigma",
)
# Fewer images per side than this make the two-sample numbers unreliable.
FEW_IMAGES = 100
# KID's unbiased estimate on fewer images per subset is noise; below this it is left out.
MIN_KID_IMAGES = 10
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def synthetic_features(reader: DatasetReader, limit: int) -> tuple[np.ndarray, list[dict]]:
    """(n, D) feature matrix and per-image statistic rows of up to `limit` images."""
    rows, vectors = [], []
    for shot, camera in reader.keys()[:limit]:
        rgb = reader.load_image(camera, shot)
        stats = features.image_statistics(rgb)
        rows.append({"camera": camera, "shot": shot, **stats})
        vectors.append([stats[name] for name in features.FEATURE_NAMES])
    return np.asarray(vectors, dtype=np.float64).reshape(-1, len(features.FEATURE_NAMES)), rows


def real_images(path: Path, limit: int) -> list[np.ndarray]:
    """Up to `limit` RGB images from a folder (searched recursively), in name order."""
    from PIL import Image

    files = sorted(p for p in Path(path).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    images = []
    for file in files[:limit]:
        with Image.open(file) as im:
            images.append(np.asarray(im.convert("RGB")))
    return images


def image_sections(
    writer: ReportWriter,
    synth: np.ndarray,
    rows: list[dict],
    real: np.ndarray | None,
    real_rows: list[dict] | None,
) -> None:
    """Image statistics (overlaid with the real images' when given) and diversity."""
    writer.csv("image_statistics", rows)
    plots = []
    for name in SHOWN_STATISTICS:
        column = features.FEATURE_NAMES.index(name)
        figure, ax = plt.subplots(figsize=(6, 3))
        values = [synth[:, column]] + ([real[:, column]] if real is not None else [])
        low = float(min(v.min() for v in values)) if synth.size else 0.0
        high = float(max(v.max() for v in values)) if synth.size else 1.0
        ax.hist(synth[:, column], bins=30, range=(low, high), alpha=0.6, label="synthetic")
        table = diversity.histogram_rows(list(synth[:, column]), 30, low, high, name)
        if real is not None:
            ax.hist(real[:, column], bins=30, range=(low, high), alpha=0.6, label="real")
            real_counts = diversity.histogram_rows(list(real[:, column]), 30, low, high, name)
            for row, other in zip(table, real_counts, strict=True):
                row["real_count"] = other["count"]
            ax.legend()
        ax.set_title(name.replace("_", " "))
        writer.csv(f"stat_{name}", table)
        writer.plot(f"stat_{name}", figure)
        plots.append((f"stat_{name}", f"Image {name.replace('_', ' ')}"))
    vendi = fidelity.vendi_score(fidelity.standardise(synth, synth)[0]) if len(synth) else 0.0
    summary = [{"images": len(synth), "vendi_score": float(vendi)}]
    writer.csv("diversity", summary)
    writer.sections.append(
        Section(
            "Image statistics",
            "Per image: brightness, contrast (RMS), sharpness (variance of the Laplacian), "
            "colourfulness, entropy, power-spectrum slope and noise. The Vendi score is the "
            "effective number of distinct images over the hand-crafted features.",
            plots,
            [("Diversity", summary)],
        )
    )
    if real is not None:
        fidelity_section(writer, synth, real)


def fidelity_section(writer: ReportWriter, synth: np.ndarray, real: np.ndarray) -> None:
    """How far the synthetic images are from the real ones, and what gives them away."""
    rng = np.random.default_rng(0)
    distances = [
        {"statistic": k, **v} for k, v in fidelity.per_statistic_distances(real, synth).items()
    ]
    writer.csv("fidelity_distances", distances)
    real_z, synth_z = fidelity.standardise(real, synth)
    folds = min(5, len(real_z), len(synth_z))
    tests = []
    if folds >= 2:
        overall = fidelity.classifier_two_sample_test(real_z, synth_z, rng, folds=folds)
        groups = fidelity.classifier_two_sample_test(
            real_z, synth_z, rng, folds=folds, per_group=True
        )
        tests = [{"features": "all", **overall}]
        tests += [{"features": g, **v} for g, v in groups.items()]
    writer.csv("two_sample_tests", tests)
    k = min(5, len(real_z) - 1, len(synth_z) - 1)
    prdc = fidelity.precision_recall_density_coverage(real_z, synth_z, k=k) if k >= 1 else {}
    size = min(len(real_z), len(synth_z), 1000)
    kid_mean = kid_std = None
    if size >= MIN_KID_IMAGES:
        kid_mean, kid_std = fidelity.kid(real_z, synth_z, rng, subsets=50, subset_size=size)
    measures = [{**prdc, "hand_crafted_feature_kid": kid_mean, "kid_std": kid_std}]
    writer.csv("fidelity_measures", measures)
    warning = ""
    if min(len(real), len(synth)) < FEW_IMAGES:
        warning = (
            f" Warning: fewer than {FEW_IMAGES} images on one side "
            f"({len(real)} real, {len(synth)} synthetic); these numbers are unreliable."
        )
    writer.sections.append(
        Section(
            "Fidelity against real images",
            "A classifier is trained to tell real from synthetic images from their statistics: an "
            "AUC of 0.5 means it cannot; per feature group it shows what gives the images away. "
            "KID here is computed on the hand-crafted features, not Inception's." + warning,
            tables=[
                ("Classifier two-sample tests (cross-validated AUC, permutation p-value)", tests),
                ("Precision, recall, density, coverage and feature KID", measures),
                ("Per statistic: KS statistic and Wasserstein distance", distances),
            ],
        )
    )


def build_report(dataset: Path, out: Path, real: Path | None = None, limit: int = 300) -> Path:
    """Write report.html, plots/ and csv/ for the dataset at `dataset` into `out`; with
    `real`, a folder of photographs, also how close the images come to them.

    limit: images per side whose statistics are computed (the first ones, in shot order);
    about 0.2-0.4 s each on 2 cores.
    """
    reader = DatasetReader(Path(dataset))
    writer = ReportWriter(out)
    label_sections(writer, reader)
    synth, rows = synthetic_features(reader, limit)
    real_matrix = real_rows = None
    if real is not None:
        images = real_images(real, limit)
        if not images:
            raise ValueError(f"{real} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        real_matrix = features.feature_matrix(images)
        real_rows = [dict(zip(features.FEATURE_NAMES, r, strict=True)) for r in real_matrix]
        writer.csv("real_image_statistics", real_rows)
    image_sections(writer, synth, rows, real_matrix, real_rows)
    sample_section(writer, Path(dataset))
    path = writer.out / "report.html"
    path.write_text(writer.html(f"groundforge report: {reader.info['name']}"), encoding="utf-8")
    log.info("report written to %s", path)
    return path
