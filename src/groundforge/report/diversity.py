"""Diversity of a written dataset from its labels: one table per statistic, ready for CSV.

Everything here reads annotation records (`export.reader.DatasetReader.records`); nothing
renders or samples. Each function returns plain rows (lists of dicts), so the same numbers feed
the plots, the CSV files and the tests.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import numpy as np


def object_rows(records: Iterable[dict]) -> list[dict]:
    """One row per visible object: image, camera, class, box, visibility, truncation."""
    rows = []
    for record in records:
        camera = record["camera"]
        width, height = camera["width"], camera["height"]
        for obj in record["objects"]:
            if obj["pixel_count"] <= 0:
                continue
            left, top, w, h = obj["bbox_visible"]
            rows.append(
                {
                    "camera": camera["name"],
                    "shot": record["shot"],
                    "instance_id": obj["instance_id"],
                    "class_name": obj["class_name"],
                    "box_width_px": w,
                    "box_height_px": h,
                    "box_area_fraction": w * h / (width * height),
                    "aspect_ratio": w / h,
                    "centre_x": (left + w / 2) / width,
                    "centre_y": (top + h / 2) / height,
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
    xs = [o["centre_x"] for o in objects if o["camera"] == camera]
    ys = [o["centre_y"] for o in objects if o["camera"] == camera]
    grid, _, _ = np.histogram2d(ys, xs, bins=bins, range=[[0, 1], [0, 1]])
    return grid


def histogram_rows(values: list[float], bins: int, low: float, high: float, name: str):
    """Rows of a histogram: bin edges and counts, for the CSV behind a plot."""
    counts, edges = np.histogram(np.asarray(values, dtype=float), bins=bins, range=(low, high))
    return [
        {f"{name}_from": float(a), f"{name}_to": float(b), "count": int(c)}
        for a, b, c in zip(edges[:-1], edges[1:], counts, strict=True)
    ]
