"""COCO instances JSON (pycocotools, Detectron2, MMDetection, FiftyOne) from image annotations."""

from __future__ import annotations

import json
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from groundforge.export.layout import DatasetInfo

SUPERCATEGORY = "product"


def visible_objects(annotation: dict) -> list[dict]:
    """The objects of an image annotation that have visible pixels (the ones a detector learns)."""
    return [o for o in annotation["objects"] if o["pixel_count"] > 0]


def categories(info: DatasetInfo) -> list[dict]:
    """COCO categories: the dataset's classes, ids as in the dataset (from 1)."""
    return [{"id": i, "name": n, "supercategory": SUPERCATEGORY} for i, n in info.classes]


def image_entry(image_id: int, file_name: str, camera: dict, shot: int) -> dict:
    """One COCO image: id, file_name relative to the dataset root, width, height, camera, shot."""
    return {
        "id": image_id,
        "file_name": file_name,
        "width": int(camera["width"]),
        "height": int(camera["height"]),
        "camera": camera["name"],
        "shot": int(shot),
    }


def annotation_entry(annotation_id: int, image_id: int, obj: dict) -> dict:
    """One COCO annotation of a visible object: the mask's box, its pixel count, its RLE."""
    return {
        "id": annotation_id,
        "image_id": image_id,
        "category_id": int(obj["class_id"]),
        "bbox": [int(x) for x in obj["bbox_visible"]],
        "area": int(obj["pixel_count"]),
        "iscrowd": 0,
        "segmentation": obj["segmentation"],
        "instance_id": int(obj["instance_id"]),
        "visible_fraction": obj["visible_fraction"],
        "truncated": bool(obj["truncated"]),
    }


def header(info: DatasetInfo) -> dict:
    """The COCO `info` block.

    It holds no dates, so coco.json depends only on the images and two runs compare byte for byte.
    """
    return {
        "description": f"groundforge dataset {info.name}",
        "version": info.generator_version,
        "contributor": "groundforge (synthetic)",
        "url": "",
    }


class StreamWriter:
    """Writes a COCO file to `f` with annotations streamed one by one, so none are held in memory.

    images are known up front (they come from the layout, not from the annotation files).
    """

    def __init__(self, f: IO[str], info: DatasetInfo, images: list[dict]):
        self._f = f
        self._first = True
        head = {
            "info": header(info),
            "licenses": [],
            "categories": categories(info),
            "images": images,
        }
        # The document is written by hand around its last key, the streamed annotations list.
        f.write("{" + json.dumps(head, separators=(",", ":"))[1:-1] + ',"annotations":[')

    def add(self, annotation: dict) -> None:
        """Append one annotation."""
        if not self._first:
            self._f.write(",")
        self._first = False
        self._f.write(json.dumps(annotation, separators=(",", ":"), allow_nan=False))

    def close(self) -> None:
        """Close the JSON document (not the file)."""
        self._f.write("]}")
