"""Diversity of a written dataset from its labels: one table per statistic, ready for CSV.

Everything here reads annotation records (`export.reader.DatasetReader.records`); nothing
renders or samples. Each function returns plain rows (lists of dicts), so the same numbers feed
the plots, the CSV files and the tests.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import numpy as np

# The keys that rows of synthetic objects (object_rows) and of real boxes
# (realset.RealSet.objects) share, so that the two can be compared column by column.
BOX_KEYS = (
    "class_name",
    "box_width_px",
    "box_height_px",
    "box_width_fraction",
    "box_height_fraction",
    "box_area_fraction",
    "aspect_ratio",
    "centre_x",
    "centre_y",
)


def box_fields(left: float, top: float, w: float, h: float, width: int, height: int) -> dict:
    """Size and position of one box (pixels) in an image of width x height pixels: sizes in
    pixels and as fractions of the image's, the centre normalised to [0, 1]."""
    return {
        "box_width_px": w,
        "box_height_px": h,
        "box_width_fraction": w / width,
        "box_height_fraction": h / height,
        "box_area_fraction": w * h / (width * height),
        "aspect_ratio": w / h,
        "centre_x": (left + w / 2) / width,
        "centre_y": (top + h / 2) / height,
    }


def object_rows(records: Iterable[dict]) -> list[dict]:
    """One row per visible object: image, camera, class, box, visibility, truncation."""
    rows = []
    for record in records:
        camera = record["camera"]
        width, height = camera["width"], camera["height"]
        for obj in record["objects"]:
            if obj["pixel_count"] <= 0:
                continue
            rows.append(
                {
                    "camera": camera["name"],
                    "shot": record["shot"],
                    "instance_id": obj["instance_id"],
                    "class_name": obj["class_name"],
                    **box_fields(*obj["bbox_visible"], width, height),
                    "visible_fraction": obj["visible_fraction"],
                    "truncated": bool(obj["truncated"]),
                    "distance_m": float(np.linalg.norm(obj["center_3d"])),
                }
            )
    return rows


def image_rows(records: Iterable[dict]) -> list[dict]:
    """One row per image: camera, shot, visible objects, depth range."""
    rows = []
    for record in records:
        depth = record.get("depth_range_m") or [None, None]
        rows.append(
            {
                "camera": record["camera"]["name"],
                "shot": record["shot"],
                "objects": sum(1 for o in record["objects"] if o["pixel_count"] > 0),
                "depth_min_m": depth[0],
                "depth_max_m": depth[1],
            }
        )
    return rows


def class_counts(objects: list[dict], classes: list[str]) -> list[dict]:
    """Visible objects per class, every class listed (zero where none)."""
    counts = Counter(o["class_name"] for o in objects)
    total = max(1, sum(counts.values()))
    return [
        {"class_name": c, "objects": counts.get(c, 0), "share": counts.get(c, 0) / total}
        for c in classes
    ]


def centre_heatmap(objects: list[dict], camera: str, bins: int = 16) -> np.ndarray:
    """(bins, bins) counts of box centres of one camera's objects; row 0 is the image top."""
    return centre_grid([o for o in objects if o["camera"] == camera], bins)


def histogram_rows(values: list[float], bins: int, low: float, high: float, name: str):
    """Rows of a histogram: bin edges and counts, for the CSV behind a plot."""
    counts, edges = np.histogram(np.asarray(values, dtype=float), bins=bins, range=(low, high))
    return [
        {f"{name}_from": float(a), f"{name}_to": float(b), "count": int(c)}
        for a, b, c in zip(edges[:-1], edges[1:], counts, strict=True)
    ]


def class_comparison(
    synthetic: list[dict], real: list[dict], synthetic_classes: list[str], real_classes: list[str]
) -> list[dict]:
    """Objects and share per class name in both sets: the synthetic classes first, then the
    real classes that the synthetic set lacks."""
    names = list(synthetic_classes) + [c for c in real_classes if c not in synthetic_classes]
    ours = {r["class_name"]: r for r in class_counts(synthetic, names)}
    theirs = {r["class_name"]: r for r in class_counts(real, names)}
    return [
        {
            "class_name": name,
            "synthetic_objects": ours[name]["objects"],
            "synthetic_share": ours[name]["share"],
            "real_objects": theirs[name]["objects"],
            "real_share": theirs[name]["share"],
        }
        for name in names
    ]


def histogram_comparison(
    synthetic: list[float], real: list[float], bins: int, low: float, high: float, name: str
) -> list[dict]:
    """Rows of two histograms over the same bins: edges, counts and shares of both sets."""
    ours = histogram_rows(synthetic, bins, low, high, name)
    theirs = histogram_rows(real, bins, low, high, name)
    rows = []
    for a, b in zip(ours, theirs, strict=True):
        rows.append(
            {
                f"{name}_from": a[f"{name}_from"],
                f"{name}_to": a[f"{name}_to"],
                "synthetic_count": a["count"],
                "synthetic_share": a["count"] / max(1, len(synthetic)),
                "real_count": b["count"],
                "real_share": b["count"] / max(1, len(real)),
            }
        )
    return rows


def centre_grid(objects: list[dict], bins: int = 16) -> np.ndarray:
    """(bins, bins) counts of the box centres of all objects; row 0 is the image top."""
    xs = [o["centre_x"] for o in objects]
    ys = [o["centre_y"] for o in objects]
    grid, _, _ = np.histogram2d(ys, xs, bins=bins, range=[[0, 1], [0, 1]])
    return grid


def defect_rows(records: Iterable[dict]) -> list[dict]:
    """One row per defect or placement fault of an object in an image (defects with their
    pixels in that image; faults with the object's)."""
    rows = []
    for r in records:
        for o in r["objects"]:
            for d in o.get("defects", []):
                if d["pixel_count"] > 0:
                    rows.append(_defect_row(r, o, d, d["pixel_count"]))
            for f in o.get("faults", []):
                rows.append(_defect_row(r, o, f, o["pixel_count"]))
    return rows


def _defect_row(record: dict, obj: dict, defect: dict, pixels: int) -> dict:
    return {
        "camera": record["camera"]["name"],
        "shot": record["shot"],
        "instance_id": obj["instance_id"],
        "class_name": obj["class_name"],
        "name": defect["name"],
        "kind": defect["kind"],
        "severity": defect["severity"],
        "pixel_count": int(pixels),
    }


def defect_counts(records: Iterable[dict]) -> list[dict]:
    """Per defect name: the distinct products (shot, instance) that have it, seen or not, and
    the images in which it is seen, sorted by name."""
    products: dict[str, set] = {}
    images: dict[str, set] = {}
    for r in records:
        key = (r["camera"]["name"], r["shot"])
        for o in r["objects"]:
            for d in o.get("defects", []) + o.get("faults", []):
                products.setdefault(d["name"], set()).add((r["shot"], o["instance_id"]))
                images.setdefault(d["name"], set())
                visible = d.get("pixel_count", o["pixel_count"]) > 0
                if visible:
                    images[d["name"]].add(key)
    return [
        {"name": n, "products": len(products[n]), "images_showing": len(images[n])}
        for n in sorted(products)
    ]
