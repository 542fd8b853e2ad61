"""The report of a written dataset: one self-contained HTML file, its plots as PNG, and every
number behind them as CSV.

    build_report(Path("out"), Path("out/report"))
    build_report(Path("out"), Path("out/report"), real=Path("photos.manifest"),
                 match_format=True, embedder="efficientnet-lite0")

The HTML embeds its plots (base64 PNG), so it opens offline and can be mailed as one file.

Without real images the report shows the labels' diversity, the image statistics and their
power spectrum. With them (a folder, a Ground Truth manifest or a COCO file, see realset) it
adds the real labels beside the synthetic ones, how the images were compared (as stored or
format-matched), the fidelity measures, both sets in feature space with each synthetic image's
nearest real ones, and, given an embedder, the same on a network's embeddings.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no screen: render plots to memory only
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from groundforge.export.preview import contact_sheet  # noqa: E402
from groundforge.export.reader import DatasetReader  # noqa: E402
from groundforge.report import diversity, features, fidelity, realset  # noqa: E402

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
        return self.png(name, buffer.getvalue())

    def png(self, name: str, data: bytes) -> str:
        """Save PNG bytes as plots/<name>.png and keep them for the HTML."""
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
p, figcaption { overflow-wrap: anywhere; }
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


def _histogram(
    writer: ReportWriter, name: str, values, bins: int, low, high, key: str, title: str, xlabel
) -> None:
    """A histogram as csv/<name>.csv (bin edges under `key`) and plots/<name>.png."""
    writer.csv(name, diversity.histogram_rows(values, bins, low, high, key))
    writer.plot(name, _hist(values, bins, title, xlabel, low, high))


def label_sections(writer: ReportWriter, reader: DatasetReader) -> tuple[list[dict], list[str]]:
    """Diversity from the labels: classes, objects per image, boxes, positions, visibility.

    Returns the object rows (diversity.object_rows) and the class names.
    """
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
    _histogram(
        writer,
        "objects_per_image",
        per_image,
        top,
        0,
        top,
        "objects",
        "Objects per image",
        "objects",
    )
    areas = [o["box_area_fraction"] for o in objects]
    largest = max(areas, default=0.1) * 1.05
    _histogram(
        writer,
        "box_sizes",
        areas,
        30,
        0,
        largest,
        "area_fraction",
        "Box sizes",
        "box area / image area",
    )
    aspects = [o["aspect_ratio"] for o in objects]
    _histogram(
        writer, "aspect_ratios", aspects, 30, 0, 4, "aspect", "Box aspect ratios", "width / height"
    )
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
    _histogram(
        writer,
        "visible_fraction",
        fractions,
        20,
        0,
        1,
        "fraction",
        "Visible fraction",
        "visible / unoccluded pixels",
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
    if any("anomaly" in r for r in records):
        defect_section(writer, records)
    return objects, classes


def defect_section(writer: ReportWriter, records: list[dict]) -> None:
    """Defects and faulty placement: how many of each type, how severe, how large in the
    image, and how many images are anomalies."""
    types = diversity.defect_counts(records)
    writer.csv("defects_by_type", types)
    writer.plot("defects_by_type", _bar(types, "name", "products", "Defective products per type"))
    conditions = [
        {"condition": c, "images": sum(bool(r.get("anomaly")) == (c == "anomaly") for r in records)}
        for c in ("normal", "anomaly")
    ]
    writer.csv("image_condition", conditions)
    writer.plot("image_condition", _bar(conditions, "condition", "images", "Images"))
    seen = diversity.defect_rows(records)
    writer.csv("defects", seen)
    severities = [d["severity"] for d in seen]
    _histogram(
        writer, "defect_severity", severities, 20, 0, 1, "severity", "Defect severity", "severity"
    )
    writer.sections.append(
        Section(
            "Defects",
            "Per defect type, the products that have it (a product counts once however many "
            "cameras see it) and the images that show it; an image is an anomaly when a defect "
            "pixel or a faulty product is in view. Every defect seen, with its pixel count, "
            "is in defects.csv.",
            [
                ("defects_by_type", "Defective products per type"),
                ("image_condition", "Normal and anomalous images"),
                ("defect_severity", "Severity of the defects seen"),
            ],
            [("Defects by type", types)],
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
# Synthetic images shown with their nearest real ones, and how many neighbours each.
NEIGHBOUR_QUERIES = 6
NEIGHBOURS = 3
# (width, height) of one image of the neighbour grid, pixels.
GRID_CELL_PX = (176, 132)
# Images handed to the embedder at once: bounds the memory its batches take.
EMBED_CHUNK = 64
# Up to this many images per side stay in memory once loaded (about 240 MiB at most).
KEEP_IN_MEMORY = 400
SYNTHETIC_COLOUR = "#3a6ea5"
REAL_COLOUR = "#d9822b"


@dataclass
class Mode:
    """How the two sets were put side by side: as stored, or format-matched."""

    short_side_px: int | None = None  # None: as stored
    jpeg_quality: int | None = None

    @property
    def matched(self) -> bool:
        return self.short_side_px is not None

    def describe(self) -> str:
        if not self.matched:
            return (
                "as stored: each image in its own file format and size (shrunk to "
                f"{features.MAX_SIDE_PX} px on the long side at most); the file format alone "
                "can give the synthetic images away, which --match-format rules out"
            )
        return (
            f"format-matched: every image of both sets resized (Lanczos) to a shorter side of "
            f"{self.short_side_px} px and re-encoded as JPEG of quality {self.jpeg_quality} "
            f"({realset.JPEG_SUBSAMPLING} chroma) before any statistic was computed"
        )


@dataclass(frozen=True)
class ImageSource:
    """Where one image comes from and how it is prepared; calling it loads and prepares it.
    Picklable, so feature workers load their own images and the report never holds them all:
    a thousand prepared images would take about 0.6 GiB per side."""

    path: Path
    mode: Mode
    entry: realset.RealImage | None = None  # real images: read with its error messages

    def __call__(self) -> np.ndarray:
        if self.entry is not None:
            rgb = realset.load_rgb(self.entry)
        else:
            with Image.open(self.path) as image:
                rgb = np.asarray(image.convert("RGB"))
        return _prepare(rgb, self.mode)[0]


class LazyImages(Sequence):
    """Images that load when indexed or iterated: (H, W, 3) uint8, at most
    features.MAX_SIDE_PX on the long side. A slice gives a list of loaded images. Sets of up
    to KEEP_IN_MEMORY images keep what they loaded (about 0.6 MiB an image), so the spectrum,
    the embedder and the neighbour grid read each file once."""

    def __init__(self, sources: list[ImageSource] | None = None):
        self.sources: list[ImageSource] = list(sources or [])
        self._kept: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.sources)

    def _load(self, i: int) -> np.ndarray:
        image = self._kept.get(i)
        if image is None:
            image = self.sources[i]()
            if len(self.sources) <= KEEP_IN_MEMORY:
                self._kept[i] = image
        return image

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self._load(i) for i in range(len(self.sources))[index]]
        return self._load(range(len(self.sources))[index])

    def __add__(self, other: LazyImages) -> LazyImages:
        return LazyImages(self.sources + other.sources)


@dataclass
class ImageSet:
    """One side's images as every statistic sees them, and what names them in the CSVs."""

    images: LazyImages
    ids: list[dict]  # {"camera", "shot"} for synthetic images, {"image"} for real ones
    encodings: list[dict] = field(default_factory=list)  # format-matched only: what was written


def _prepare(rgb: np.ndarray, mode: Mode) -> tuple[np.ndarray, dict | None]:
    """rgb as the statistics see it: format-matched when asked, bounded in size."""
    encoding = None
    if mode.matched:
        rgb, encoding = realset.match_format(rgb, mode.short_side_px, mode.jpeg_quality)
    return features.bounded(rgb), encoding


def synthetic_images(reader: DatasetReader, limit: int, mode: Mode) -> ImageSet:
    """The first `limit` synthetic images (shot order), prepared for comparison."""
    result = ImageSet(LazyImages(), [])
    for shot, camera in reader.keys()[:limit]:
        source = ImageSource(reader.paths(camera, shot)["image"], mode)
        encoding = _prepare(reader.load_image(camera, shot), mode)[1] if mode.matched else None
        result.images.sources.append(source)
        result.ids.append({"camera": camera, "shot": shot})
        if encoding is not None:
            result.encodings.append({"side": "synthetic", "image": f"{camera}/{shot}", **encoding})
    return result


def real_images(real: realset.RealSet, limit: int, mode: Mode) -> ImageSet:
    """The first `limit` real images (input order), prepared for comparison."""
    result = ImageSet(LazyImages(), [])
    # Each is read once here, so an unreadable file fails before minutes of statistics.
    for entry, rgb in zip(real.entries, real.images(limit), strict=False):
        encoding = _prepare(rgb, mode)[1] if mode.matched else None
        result.images.sources.append(ImageSource(entry.path, mode, entry))
        result.ids.append({"image": entry.name})
        if encoding is not None:
            result.encodings.append({"side": "real", "image": entry.name, **encoding})
    return result


def comparison_mode(
    reader: DatasetReader, real: realset.RealSet, limit: int, match: bool, quality: int
) -> Mode:
    """As stored, or format-matched at the smaller of the two sets' median shorter sides."""
    if not match:
        return Mode()
    by_camera = {c["name"]: (c["width"], c["height"]) for c in reader.info["cameras"]}
    synthetic = [by_camera[camera] for _, camera in reader.keys()[:limit]]
    return Mode(realset.common_short_side(synthetic, real.sizes(limit)), quality)


def mode_section(
    writer: ReportWriter,
    mode: Mode,
    reader: DatasetReader,
    real: realset.RealSet,
    limit: int,
    tables: list,
) -> None:
    """Which comparison mode was used, the file formats of both sets, and `tables`."""
    formats = real.formats(limit)
    rows = [
        {
            "mode": "format-matched" if mode.matched else "as stored",
            "short_side_px": mode.short_side_px if mode.matched else "",
            "jpeg_quality": mode.jpeg_quality if mode.matched else "",
            "synthetic_format": reader.info.get("image_format", "png"),
            "real_formats": ", ".join(f"{k.lstrip('.')}: {n}" for k, n in sorted(formats.items())),
        }
    ]
    writer.csv("comparison_mode", rows)
    writer.sections.append(
        Section(
            "How the images were compared",
            f"Images compared {mode.describe()}.",
            tables=[("Comparison mode", rows), *tables],
        )
    )


def format_tables(writer: ReportWriter, synth: ImageSet, real: ImageSet) -> list:
    """CSV of what the format matching wrote for every image (size, JPEG bytes, subsampling,
    quantisation tables), and a table of it per side."""
    rows = synth.encodings + real.encodings
    writer.csv("format_matching", rows)
    summary = []
    for side in ("synthetic", "real"):
        mine = [r for r in rows if r["side"] == side]
        summary.append(
            {
                "side": side,
                "images": len(mine),
                "sizes": ", ".join(sorted({f"{r['width']}x{r['height']}" for r in mine})),
                "subsampling": ", ".join(sorted({r["subsampling"] for r in mine})),
                "quantisation_tables": len({(r["luma_qtable"], r["chroma_qtable"]) for r in mine}),
            }
        )
    return [("Format matching per side (csv/format_matching.csv has every image)", summary)]


def image_sections(
    writer: ReportWriter,
    synth: np.ndarray,
    rows: list[dict],
    real: np.ndarray | None,
    real_rows: list[dict] | None,
    mode: Mode | None = None,
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
        fidelity_section(writer, synth, real, mode or Mode())


def _few_images_warning(n_real: int, n_synth: int) -> str:
    if min(n_real, n_synth) >= FEW_IMAGES:
        return ""
    return (
        f" Warning: fewer than {FEW_IMAGES} images on one side "
        f"({n_real} real, {n_synth} synthetic); these numbers are unreliable."
    )


def fidelity_section(
    writer: ReportWriter, synth: np.ndarray, real: np.ndarray, mode: Mode | None = None
) -> None:
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
    measures = [_set_measures(real_z, synth_z, rng, "hand_crafted_feature")]
    writer.csv("fidelity_measures", measures)
    writer.sections.append(
        Section(
            "Fidelity against real images",
            "A classifier is trained to tell real from synthetic images from their statistics: an "
            "AUC of 0.5 means it cannot; per feature group it shows what gives the images away. "
            "KID here is computed on the hand-crafted features, not Inception's. "
            f"Images compared {(mode or Mode()).describe()}."
            + _few_images_warning(len(real), len(synth)),
            tables=[
                ("Classifier two-sample tests (cross-validated AUC, permutation p-value)", tests),
                ("Precision, recall, density, coverage and feature KID", measures),
                ("Per statistic: KS statistic and Wasserstein distance", distances),
            ],
        )
    )


def _set_measures(
    real: np.ndarray, synth: np.ndarray, rng: np.random.Generator, prefix: str
) -> dict:
    """PRDC (k = 5 at most) and KID (`<prefix>_kid`, `kid_std`) of two feature matrices."""
    k = min(5, len(real) - 1, len(synth) - 1)
    prdc = fidelity.precision_recall_density_coverage(real, synth, k=k) if k >= 1 else {}
    size = min(len(real), len(synth), 1000)
    kid_mean = kid_std = None
    if size >= MIN_KID_IMAGES:
        kid_mean, kid_std = fidelity.kid(real, synth, rng, subsets=50, subset_size=size)
    return {**prdc, f"{prefix}_kid": kid_mean, "kid_std": kid_std}


def label_comparison_section(
    writer: ReportWriter, objects: list[dict], classes: list[str], real: realset.RealSet
) -> None:
    """Classes, box sizes and box positions of the synthetic and the real labels side by side."""
    counts = diversity.class_comparison(objects, real.objects, classes, real.classes or [])
    writer.csv("label_classes", counts)
    writer.plot("label_classes", _class_bars(counts))
    plots = [("label_classes", "Share of objects per class, synthetic and real")]

    for key, title, label in (
        ("box_area_fraction", "Box sizes", "box area / image area"),
        ("box_width_fraction", "Box widths", "box width / image width"),
        ("box_height_fraction", "Box heights", "box height / image height"),
    ):
        ours = [o[key] for o in objects]
        theirs = [o[key] for o in real.objects]
        high = max(ours + theirs, default=0.1) * 1.05
        name = f"label_{key}"
        rows = diversity.histogram_comparison(ours, theirs, 30, 0.0, high, key)
        writer.csv(name, rows)
        writer.plot(name, _share_histograms(rows, key, title, label))
        plots.append((name, f"{title}: share of boxes, synthetic and real"))

    grids = diversity.centre_grid(objects), diversity.centre_grid(real.objects)
    rows = [
        {
            "row": i,
            "column": j,
            "synthetic_count": int(grids[0][i, j]),
            "real_count": int(grids[1][i, j]),
        }
        for i in range(grids[0].shape[0])
        for j in range(grids[0].shape[1])
    ]
    writer.csv("label_centres", rows)
    writer.plot("label_centres", _centre_maps(grids))
    plots.append(("label_centres", "Box centres, synthetic (all cameras) and real"))

    missing = [r["class_name"] for r in counts if r["synthetic_objects"] == 0 and r["real_objects"]]
    text = (
        f"{len(objects)} synthetic objects against {len(real.objects)} real boxes from "
        f"{real.source.name}; classes are matched by name. Sizes are fractions of the image's, "
        "so images of different resolutions compare."
    )
    if missing:
        text += f" Real classes with no synthetic object: {', '.join(missing)}."
    if real.skipped_boxes:
        text += f" {real.skipped_boxes} real boxes of zero width or height are left out."
    writer.sections.append(Section("Labels against the real set", text, plots))


def _class_bars(rows: list[dict]):
    figure, ax = plt.subplots(figsize=(7, 3))
    x = np.arange(len(rows))
    ax.bar(
        x - 0.2,
        [r["synthetic_share"] for r in rows],
        0.4,
        color=SYNTHETIC_COLOUR,
        label="synthetic",
    )
    ax.bar(x + 0.2, [r["real_share"] for r in rows], 0.4, color=REAL_COLOUR, label="real")
    ax.set_xticks(x, [r["class_name"] for r in rows], rotation=30, ha="right")
    ax.set_ylabel("share of objects")
    ax.set_title("Objects per class")
    ax.legend()
    return figure


def _share_histograms(rows: list[dict], key: str, title: str, label: str):
    figure, ax = plt.subplots(figsize=(6, 3))
    edges = [r[f"{key}_from"] for r in rows] + [rows[-1][f"{key}_to"]]
    for column, colour, side in (
        ("synthetic_share", SYNTHETIC_COLOUR, "synthetic"),
        ("real_share", REAL_COLOUR, "real"),
    ):
        ax.stairs([r[column] for r in rows], edges, color=colour, linewidth=1.5, label=side)
    ax.set_title(title)
    ax.set_xlabel(label)
    ax.set_ylabel("share of boxes")
    ax.legend()
    return figure


def _centre_maps(grids: tuple[np.ndarray, np.ndarray]):
    figure, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    for ax, grid, side in zip(axes, grids, ("synthetic", "real"), strict=True):
        share = grid / max(1.0, grid.sum())
        ax.imshow(share, cmap="magma", extent=(0, 1, 1, 0))
        ax.set_title(f"Box centres, {side}")
        ax.set_xlabel("x / width")
        ax.set_ylabel("y / height")
    return figure


def spectrum_section(writer: ReportWriter, synth: ImageSet, real: ImageSet | None) -> None:
    """The mean radial power spectrum of both sets, log-log."""
    if not synth.images:
        return
    # One pass over each side's images: their spectra and shorter sides.
    sides = [("synthetic", synth.images, SYNTHETIC_COLOUR)]
    if real is not None:
        sides.append(("real", real.images, REAL_COLOUR))
    spectra, shortest = {}, []
    for side, images, _ in sides:
        spectra[side] = []
        for rgb in images:
            shortest.append(min(features.bounded(rgb).shape[:2]))
            spectra[side].append(features.image_spectrum(rgb))
    freqs = features.grid_from_shortest(min(shortest))
    rows = [{"frequency_cpp": float(f)} for f in freqs]
    figure, ax = plt.subplots(figsize=(6, 3.5))
    for side, _, colour in sides:
        power = features.mean_of_spectra(spectra[side], freqs)
        for row, value in zip(rows, power, strict=True):
            row[f"{side}_power"] = float(value)
        ax.loglog(freqs, power, color=colour, label=side)
    ax.set_xlabel("frequency, cycles per pixel")
    ax.set_ylabel("power per pixel (luma)")
    ax.set_title("Mean radial power spectrum")
    ax.legend()
    writer.csv("power_spectrum", rows)
    writer.plot("power_spectrum", figure)
    writer.sections.append(
        Section(
            "Power spectrum",
            "Radially averaged power spectrum of luma (Hann window, divided by the pixel count), "
            "averaged over the images. Natural photographs fall off about as 1/f²; too little "
            "power at high frequencies means renders softer than photographs, too much means "
            "aliasing or noise.",
            [("power_spectrum", "Mean radial power spectrum, synthetic and real (log-log)")],
        )
    )


def _id_text(identity: dict) -> str:
    return identity["image"] if "image" in identity else f"{identity['camera']}/{identity['shot']}"


def embedding_plots(
    writer: ReportWriter, prefix: str, synth: np.ndarray, real: np.ndarray, ids: tuple
) -> list[tuple[str, str]]:
    """PCA (and t-SNE from TSNE_MIN_POINTS points) maps of both sets' (n, D) feature rows."""
    X = np.concatenate([synth, real])
    if len(X) < 3:
        return []
    sides = ["synthetic"] * len(synth) + ["real"] * len(real)
    names = [_id_text(i) for i in ids[0]] + [_id_text(i) for i in ids[1]]
    coords, explained = fidelity.pca_2d(X)
    maps = [("pca", coords, (f"PC 1 ({explained[0]:.0%})", f"PC 2 ({explained[1]:.0%})"))]
    if len(X) >= fidelity.TSNE_MIN_POINTS:
        maps.append(("tsne", fidelity.tsne_2d(X, np.random.default_rng(0)), ("t-SNE 1", "t-SNE 2")))

    plots = []
    for method, xy, axes in maps:
        name = f"{prefix}_{method}"
        writer.csv(
            name,
            [
                {"side": side, "image": image, "x": float(x), "y": float(y)}
                for side, image, (x, y) in zip(sides, names, xy, strict=True)
            ],
        )
        label = "PCA" if method == "pca" else "t-SNE"
        writer.plot(name, _scatter(xy, len(synth), axes, f"{label} of both sets"))
        plots.append((name, f"{label} map of the synthetic and real images"))
    return plots


def _scatter(xy: np.ndarray, n_synth: int, axes: tuple[str, str], title: str):
    figure, ax = plt.subplots(figsize=(5.5, 4.5))
    ax.scatter(*xy[:n_synth].T, s=12, color=SYNTHETIC_COLOUR, alpha=0.7, label="synthetic")
    ax.scatter(*xy[n_synth:].T, s=12, color=REAL_COLOUR, alpha=0.7, label="real")
    ax.set_xlabel(axes[0])
    ax.set_ylabel(axes[1])
    ax.set_title(title)
    ax.legend()
    return figure


def neighbour_plot(
    writer: ReportWriter, name: str, synth: np.ndarray, real: np.ndarray, sets: tuple
) -> list[tuple[str, str]]:
    """A grid of a few synthetic images, each with its nearest real images in the given
    feature rows, and the CSV of (synthetic shot, camera, real image, rank, distance)."""
    synth_set, real_set = sets
    if not len(synth) or not len(real):
        return []
    queries = np.unique(np.linspace(0, len(synth) - 1, NEIGHBOUR_QUERIES).round().astype(int))
    k = min(NEIGHBOURS, len(real))
    indices, distances = fidelity.nearest_neighbours(synth[queries], real, k)
    rows = [
        {
            "synthetic_shot": synth_set.ids[q]["shot"],
            "synthetic_camera": synth_set.ids[q]["camera"],
            "real_image": real_set.ids[indices[i, r]]["image"],
            "rank": r + 1,
            "distance": float(distances[i, r]),
        }
        for i, q in enumerate(queries)
        for r in range(k)
    ]
    writer.csv(name, rows)

    grid = []
    for i, q in enumerate(queries):
        cells = [(synth_set.images[q], f"synthetic\n{_id_text(synth_set.ids[q])}")]
        for r in range(k):
            j = indices[i, r]
            cells.append(
                (
                    real_set.images[j],
                    f"#{r + 1}  d = {distances[i, r]:.3g}\n{_id_text(real_set.ids[j])}",
                )
            )
        grid.append(cells)
    writer.png(name, _image_grid(grid))
    return [(name, f"Synthetic images (left) and their {k} nearest real images, with distances")]


def _image_grid(rows: list[list[tuple[np.ndarray, str]]]) -> bytes:
    """PNG bytes of a grid of images, each fitted into GRID_CELL_PX under its two-line caption."""
    from PIL import Image, ImageDraw, ImageFont, ImageOps

    cell_w, cell_h = GRID_CELL_PX
    caption_h, pad = 30, 6
    columns = max(len(r) for r in rows)
    sheet = Image.new(
        "RGB",
        (columns * (cell_w + pad) + pad, len(rows) * (cell_h + caption_h + pad) + pad),
        "white",
    )
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=11)
    for i, cells in enumerate(rows):
        top = pad + i * (cell_h + caption_h + pad)
        for j, (rgb, caption) in enumerate(cells):
            left = pad + j * (cell_w + pad)
            thumb = ImageOps.contain(
                Image.fromarray(rgb), (cell_w, cell_h), Image.Resampling.LANCZOS
            )
            lines = [_shorten(line, 30) for line in caption.split("\n")]
            draw.multiline_text(
                (left, top), "\n".join(lines), fill=(20, 20, 20), font=font, spacing=2
            )
            sheet.paste(thumb, (left, top + caption_h))
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG")
    return buffer.getvalue()


def _shorten(text: str, length: int) -> str:
    """text, or an ellipsis and its last length - 1 characters (file names differ at the end)."""
    return text if len(text) <= length else "\u2026" + text[-(length - 1) :]


def feature_space_section(
    writer: ReportWriter, synth: np.ndarray, real: np.ndarray, sets: tuple
) -> None:
    """Both sets in the standardised hand-crafted feature space: 2-D maps and nearest neighbours."""
    real_z, synth_z = fidelity.standardise(real, synth)
    ids = (sets[0].ids, sets[1].ids)
    plots = embedding_plots(writer, "embedding", synth_z, real_z, ids)
    plots += neighbour_plot(writer, "neighbours", synth_z, real_z, sets)
    writer.sections.append(
        Section(
            "Feature space",
            "Both sets' hand-crafted features, each standardised by the real set's mean and "
            "standard deviation. PCA projects onto the two directions of largest variance: "
            "linear, so distances and spreads can be read off, but it flattens what differs "
            f"in the other {synth.shape[1] - 2} dimensions. From {fidelity.TSNE_MIN_POINTS} "
            "images on, a t-SNE map is added (perplexity "
            f"{fidelity.TSNE_PERPLEXITY:.0f} at most): it keeps each image's neighbours close, "
            "so it shows whether synthetic images sit among real ones, but its cluster sizes "
            "and the distances between clusters mean nothing. Nearest neighbours are found by "
            "Euclidean distance in the standardised space; a synthetic image much closer to one "
            "real image than to the rest may copy it.",
            plots,
        )
    )


def open_embedder(embedder) -> tuple[object | None, str | None]:
    """(embedder, None), or (None, why) when the packages it needs are missing.

    embedder: an embedder object, or the spec groundforge.report.embed.load_embedder takes
    ("efficientnet-lite0", a .onnx path). A bad model file raises ValueError.
    """
    if not isinstance(embedder, str | Path):
        return embedder, None
    try:
        from groundforge.report.embed import EmbedderUnavailable
        from groundforge.report.embed import load_embedder as load
    except ImportError as err:
        return None, str(err)
    try:
        return load(embedder), None
    except EmbedderUnavailable as err:
        return None, str(err)


def embed(embedder, images: list[np.ndarray]) -> np.ndarray:
    """(n, dim) float64 embeddings of images, EMBED_CHUNK at a time."""
    chunks = [
        np.asarray(embedder(images[i : i + EMBED_CHUNK]), np.float64)
        for i in range(0, len(images), EMBED_CHUNK)
    ]
    return np.concatenate(chunks) if chunks else np.zeros((0, embedder.dim))


def deep_section(writer: ReportWriter, embedder, synth: ImageSet, real: ImageSet) -> None:
    """The classifier test, PRDC, KID, 2-D maps and neighbours on a network's embeddings."""
    name = embedder.name
    synth_e, real_e = embed(embedder, synth.images), embed(embedder, real.images)
    rng = np.random.default_rng(0)
    folds = min(5, len(real_e), len(synth_e))
    tests = []
    if folds >= 2:
        tests = [fidelity.classifier_two_sample_test(real_e, synth_e, rng, folds=folds)]
    writer.csv(f"{name}_two_sample_test", tests)
    measures = [
        {
            **_set_measures(real_e, synth_e, rng, name),
            f"{name}_vendi_score": fidelity.vendi_score(synth_e),
        }
    ]
    writer.csv(f"{name}_measures", measures)
    ids = (synth.ids, real.ids)
    plots = embedding_plots(writer, f"{name}_embedding", synth_e, real_e, ids)
    plots += neighbour_plot(writer, f"{name}_neighbours", synth_e, real_e, (synth, real))
    writer.sections.append(
        Section(
            f"Deep features ({name})",
            f"The same measures on the {embedder.dim}-d embeddings of the network {name}, which "
            "respond to shapes and textures the hand-crafted statistics miss. KID is the kernel "
            f"formula on these embeddings ({name}_kid), not Inception's and not comparable with "
            "published values. PRDC, KID, the maps and the neighbours use the embeddings as "
            "they are; the classifier standardises them itself."
            + _few_images_warning(len(real_e), len(synth_e)),
            plots,
            [
                ("Classifier two-sample test (cross-validated AUC, permutation p-value)", tests),
                (f"Precision, recall, density, coverage, {name}_kid and Vendi score", measures),
            ],
        )
    )


def unavailable_section(writer: ReportWriter, why: str) -> None:
    writer.sections.append(
        Section(
            "Deep features",
            f"Not computed: {why}. Deep features need `pip install 'groundforge[embed]'`.",
        )
    )


def statistics_sections(
    writer: ReportWriter, synth: ImageSet, real: ImageSet | None, mode: Mode
) -> None:
    """Hand-crafted statistics of both sets, their comparison and the feature space."""
    synth_matrix = features.feature_matrix(synth.images.sources)
    rows = [
        {**identity, **dict(zip(features.FEATURE_NAMES, map(float, vector), strict=True))}
        for identity, vector in zip(synth.ids, synth_matrix, strict=True)
    ]
    if real is None:
        image_sections(writer, synth_matrix, rows, None, None)
        return
    if not real.images:
        raise ValueError("the real set has no images")
    real_matrix = features.feature_matrix(real.images.sources)
    real_rows = [
        {**identity, **dict(zip(features.FEATURE_NAMES, map(float, vector), strict=True))}
        for identity, vector in zip(real.ids, real_matrix, strict=True)
    ]
    writer.csv("real_image_statistics", real_rows)
    image_sections(writer, synth_matrix, rows, real_matrix, real_rows, mode)
    if len(synth_matrix):
        feature_space_section(writer, synth_matrix, real_matrix, (synth, real))


def build_report(
    dataset: Path,
    out: Path,
    real: Path | None = None,
    limit: int = 300,
    *,
    real_images_root: Path | None = None,
    match_format: bool = False,
    jpeg_quality: int = 90,
    embedder=None,
) -> Path:
    """Write report.html, plots/ and csv/ for the dataset at `dataset` into `out`; with `real`
    (a folder of images, a Ground Truth manifest or a COCO file), also how close the images
    come to the real ones.

    limit: images per side whose statistics are computed (the first ones, in shot order);
    about 0.2-0.4 s each on 2 cores. real_images_root: folder that relative image locations of
    the manifest or COCO file are resolved against. match_format: resize both sets to one
    shorter side and re-encode them as JPEG of jpeg_quality first. embedder: None (no deep
    features), an embedder spec ("efficientnet-lite0", a .onnx path) or an embedder object;
    used only with `real`.
    """
    reader = DatasetReader(Path(dataset))
    # Bad input fails here, before minutes of statistics.
    real_set = realset.open_real_set(real, real_images_root) if real is not None else None
    network, unavailable = open_embedder(embedder) if real_set and embedder else (None, None)

    writer = ReportWriter(out)
    objects, classes = label_sections(writer, reader)
    if real_set is not None and real_set.labelled:
        label_comparison_section(writer, objects, classes, real_set)
    mode = (
        comparison_mode(reader, real_set, limit, match_format, jpeg_quality) if real_set else Mode()
    )
    synth = synthetic_images(reader, limit, mode)
    real_side = real_images(real_set, limit, mode) if real_set is not None else None
    if real_set is not None:
        tables = format_tables(writer, synth, real_side) if mode.matched else []
        mode_section(writer, mode, reader, real_set, limit, tables)

    statistics_sections(writer, synth, real_side, mode)
    spectrum_section(writer, synth, real_side)
    if network is not None:
        deep_section(writer, network, synth, real_side)
    elif unavailable is not None:
        unavailable_section(writer, unavailable)
    sample_section(writer, Path(dataset))
    path = writer.out / "report.html"
    path.write_text(writer.html(f"groundforge report: {reader.info['name']}"), encoding="utf-8")
    log.info("report written to %s", path)
    return path
