"""YOLO detection labels (Ultralytics): one text file per image and a data.yaml.

Ultralytics finds an image's labels by replacing the last '/images/' in its path with '/labels/'
and the extension with '.txt', so images/<camera>/<shot>.png has labels/<camera>/<shot>.txt.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from groundforge.export.coco import visible_objects
from groundforge.export.files import atomic_open

if TYPE_CHECKING:
    from groundforge.export.layout import DatasetInfo


def label_path(camera: str, shot: int) -> str:
    """The label file of one image, relative to the dataset root."""
    return f"labels/{camera}/{shot:06d}.txt"


def label_lines(annotation: dict) -> list[str]:
    """'class x_center y_center width height' per visible object, normalised to 0-1.

    YOLO classes count from 0: dataset class id - 1. Boxes are the visible (mask) boxes.
    """
    width, height = annotation["camera"]["width"], annotation["camera"]["height"]
    lines = []
    for obj in visible_objects(annotation):
        left, top, w, h = obj["bbox_visible"]
        lines.append(
            f"{obj['class_id'] - 1} {(left + w / 2) / width:.6f} {(top + h / 2) / height:.6f} "
            f"{w / width:.6f} {h / height:.6f}"
        )
    return lines


def label_text(annotation: dict) -> str:
    """The contents of one label file (empty for an image without visible objects)."""
    lines = label_lines(annotation)
    return "\n".join(lines) + ("\n" if lines else "")


def class_names(info: DatasetInfo) -> dict[int, str]:
    """YOLO index -> name for indices 0..max id - 1.

    Ultralytics requires indices without gaps, so an unused dataset id k gets 'unused_k'.
    """
    names = info.class_names
    return {k - 1: names.get(k, f"unused_{k}") for k in range(1, max(names, default=0) + 1)}


def write_data_yaml(path: Path, root: Path, info: DatasetInfo) -> None:
    """Write data.yaml: the dataset root, one image folder per camera, the class names.

    `path` is absolute because Ultralytics resolves a relative one against the working directory;
    removing the line makes it resolve against this file's folder instead. groundforge writes no
    split, so val names the same folders as train.
    """
    folders = [f"images/{name}" for name in info.camera_names]
    names = class_names(info)
    data = {
        "path": str(Path(root).resolve()),
        "train": folders,
        "val": folders,
        "nc": len(names),
        "names": names,
    }
    with atomic_open(path, "w") as f:
        yaml.safe_dump(data, f, sort_keys=False)
