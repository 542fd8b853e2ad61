"""SageMaker Ground Truth augmented-manifest lines: object detection plus semantic segmentation.

Each line also carries groundforge's own `depth-ref`, `instance-ref` and `annotations-ref`.
Locations are relative to the dataset root unless a prefix (say 's3://bucket/dataset/') is given.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from groundforge.export.coco import visible_objects
from groundforge.export.palette import BACKGROUND_HEX, class_hex

if TYPE_CHECKING:
    from groundforge.export.layout import DatasetInfo

BOXES = "boxes"
SEMANTIC = "semantic-ref"


def job_name(info: DatasetInfo) -> str:
    """The job name written into every label's metadata."""
    return f"groundforge-{info.name}"


def color_map(info: DatasetInfo) -> dict[str, dict]:
    """Ground Truth internal-color-map: class index (str) -> class-name, hex-color, confidence."""
    entries = {"0": {"class-name": "BACKGROUND", "hex-color": BACKGROUND_HEX, "confidence": 1.0}}
    for class_id, name in info.classes:
        entries[str(class_id)] = {
            "class-name": name,
            "hex-color": class_hex(class_id),
            "confidence": 1.0,
        }
    return entries


def manifest_line(
    annotation: dict, info: DatasetInfo, paths: dict[str, str], prefix: str = ""
) -> dict:
    """The manifest object of one image.

    paths: relative file paths of the image (layout.relative_paths). Box values are the visible
    boxes of objects with pixels; creation-date is the dataset's, so a re-run is byte-identical.
    """
    camera = annotation["camera"]
    objects = visible_objects(annotation)
    common = {"human-annotated": "no", "creation-date": info.created, "job-name": job_name(info)}
    boxes = [
        {
            "class_id": int(o["class_id"]),
            "left": int(o["bbox_visible"][0]),
            "top": int(o["bbox_visible"][1]),
            "width": int(o["bbox_visible"][2]),
            "height": int(o["bbox_visible"][3]),
        }
        for o in objects
    ]
    if "anomaly" in annotation:
        for box, o in zip(boxes, objects, strict=True):
            box["label-category-attributes"] = defect_attributes(o)
    line = {
        "source-ref": prefix + paths["image"],
        BOXES: {
            "image_size": [{"width": camera["width"], "height": camera["height"], "depth": 3}],
            "annotations": boxes,
        },
        f"{BOXES}-metadata": {
            "objects": [{"confidence": 1.0} for _ in boxes],
            "class-map": {str(i): n for i, n in info.classes},
            "type": "groundtruth/object-detection",
            **common,
        },
        SEMANTIC: prefix + paths["semantic"],
        f"{SEMANTIC}-metadata": {
            "internal-color-map": color_map(info),
            "type": "groundtruth/semantic-segmentation",
            **common,
        },
        "depth-ref": prefix + paths["depth"],
        "instance-ref": prefix + paths["instance"],
        "annotations-ref": prefix + paths["annotation"],
    }
    if "flow" in annotation:
        line["flow-ref"] = prefix + annotation["flow"]
    if "anomaly" in annotation:
        line["defect-ref"] = prefix + annotation["defect_mask"]
        line["anomaly"] = "anomaly" if annotation["anomaly"] else "normal"
    return line


def defect_attributes(obj: dict) -> dict:
    """An object's defects (those seen in this image) and placement faults as Ground Truth
    label-category attributes: comma-separated names, "" when none."""
    seen = [d["name"] for d in obj.get("defects", []) if d["pixel_count"] > 0]
    faults = [f["name"] for f in obj.get("faults", [])]
    return {
        "defects": ",".join(seen),
        "faults": ",".join(faults),
        "condition": "defective" if seen or faults else "good",
    }
