"""Defects as labels of their own: each image's defect labels read back from a dataset, the
dataset's defect types, and COCO instances whose categories are those types (coco_defects.json).

The defect exports (this one, lookout.py, mvtec.py) share what is here. A dataset has defect
labels when its scene declares `defects`: then every annotation carries `anomaly`, a
`defect_mask` (a uint16 PNG of defect ids, 0 where there is none) and, per object, `defects`
(with pixels) and `faults` (placement faults, which have none).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
from PIL import Image

from groundforge.export.coco import header
from groundforge.export.files import write_json
from groundforge.export.layout import DatasetInfo
from groundforge.export.reader import DatasetReader
from groundforge.spec.scene import PLACEMENT_FAULTS

logger = logging.getLogger(__name__)

COCO_DEFECTS_JSON = "coco_defects.json"
SUPERCATEGORY = "defect"


class NoDefectLabels(ValueError):
    """The dataset cannot be exported with defect labels; the message says why and what to do."""


@dataclasses.dataclass(frozen=True)
class ProductDefects:
    """One labelled product of an image: its visible box and pixels, its defects and faults.

    defects: the annotation's entries (defect_id, name, kind, pixel_count, bbox, segmentation).
    faults: names of its placement faults.
    """

    instance_id: int
    class_name: str
    bbox_visible: tuple[int, int, int, int] | None
    pixel_count: int
    defects: tuple[dict, ...]
    faults: tuple[str, ...]

    @property
    def defect_pixels(self) -> int:
        """Pixels of this product's defects in the image."""
        return sum(int(d["pixel_count"]) for d in self.defects)


@dataclasses.dataclass(frozen=True)
class ImageDefects:
    """The defect labels of one image. defect_mask: path of its defect-id PNG, from the root."""

    camera: str
    shot: int
    width: int
    height: int
    anomaly: bool
    defect_mask: str
    products: tuple[ProductDefects, ...]

    @property
    def stem(self) -> str:
        """A file stem naming the image uniquely in a dataset ('inspect_000042')."""
        return f"{self.camera}_{self.shot:06d}"

    @property
    def defect_names(self) -> dict[int, str]:
        """Defect id -> defect type name, for every defect of the image."""
        return {int(d["defect_id"]): d["name"] for p in self.products for d in p.defects}


def read_defect_labels(reader: DatasetReader) -> list[ImageDefects]:
    """The defect labels of every complete image, by shot then camera.

    Raises NoDefectLabels when the dataset has no images or was made without defects.
    """
    images = []
    for annotation, _ in reader.records():
        if "anomaly" not in annotation or "defect_mask" not in annotation:
            raise NoDefectLabels(
                f"{reader.root} has no defect labels (its annotations have no 'anomaly'); "
                "generate it from a scene with a `defects` section, such as the built-in "
                "bottle-inspection"
            )
        images.append(image_defects(annotation))
    if not images:
        raise NoDefectLabels(
            f"{reader.root} holds no complete images yet; let `groundforge generate` write some"
        )
    return images


def image_defects(annotation: dict) -> ImageDefects:
    """The defect labels of one image annotation (segmentations of objects left out)."""
    products = tuple(
        ProductDefects(
            instance_id=int(o["instance_id"]),
            class_name=o["class_name"],
            bbox_visible=None if o["bbox_visible"] is None else tuple(o["bbox_visible"]),
            pixel_count=int(o["pixel_count"]),
            defects=tuple(o.get("defects", ())),
            faults=tuple(f["name"] for f in o.get("faults", ())),
        )
        for o in annotation["objects"]
    )
    camera = annotation["camera"]
    return ImageDefects(
        camera=camera["name"],
        shot=int(annotation["shot"]),
        width=int(camera["width"]),
        height=int(camera["height"]),
        anomaly=bool(annotation["anomaly"]),
        defect_mask=annotation["defect_mask"],
        products=products,
    )


def defect_types(images: list[ImageDefects], info: dict | None = None) -> list[str]:
    """Names of the defect types that have pixels (faults have none): the scene's, in its
    order, as dataset.json records them, so every dataset of a scene numbers them alike;
    for datasets that do not record them, those seen in `images`, sorted."""
    seen = {d["name"] for image in images for p in image.products for d in p.defects}
    declared = (info or {}).get("defect_types")
    if not declared:
        return sorted(seen)
    ordered = [
        name
        for types in declared.values()
        for name, kind in types.items()
        if kind not in PLACEMENT_FAULTS
    ]
    ordered = list(dict.fromkeys(ordered))  # a name used by two classes counts once
    return ordered + sorted(seen - set(ordered))


def load_defect_ids(root: Path, image: ImageDefects) -> np.ndarray:
    """(H, W) uint16 defect ids of one image; 0 where there is no defect."""
    path = Path(root) / image.defect_mask
    with Image.open(path) as png:
        ids = np.asarray(png).astype(np.uint16)
    if ids.shape != (image.height, image.width):
        raise ValueError(
            f"{path}: {ids.shape[1]}x{ids.shape[0]} pixels, but the image is "
            f"{image.width}x{image.height}"
        )
    return ids


def coco_defects(root: Path) -> dict:
    """COCO instances of a dataset's defects: one category per defect type (ids from 1, in
    defect_types order), one annotation per defect with pixels; images as in coco.json."""
    reader = DatasetReader(root)
    images = read_defect_labels(reader)
    coco_path = reader.root / "coco.json"
    if not coco_path.is_file():
        raise NoDefectLabels(
            f"{reader.root} has no coco.json: the run that wrote it did not finish; run "
            "`groundforge generate` again with the same arguments to complete it"
        )
    coco_images = reader.coco()["images"]
    image_ids = {(entry["camera"], int(entry["shot"])): entry["id"] for entry in coco_images}
    types = defect_types(images, reader.info)
    category_ids = {name: i for i, name in enumerate(types, start=1)}

    annotations = []
    for image in images:
        image_id = image_ids.get((image.camera, image.shot))
        if image_id is None:
            raise ValueError(
                f"{coco_path} lists no image for camera {image.camera!r} shot {image.shot}; "
                "run `groundforge generate` again with the same arguments to refresh it"
            )
        for product in image.products:
            for defect in product.defects:
                if defect["pixel_count"] == 0:
                    continue
                annotations.append(
                    {
                        "id": len(annotations) + 1,
                        "image_id": image_id,
                        "category_id": category_ids[defect["name"]],
                        "bbox": [int(v) for v in defect["bbox"]],
                        "area": int(defect["pixel_count"]),
                        "iscrowd": 0,
                        "segmentation": defect["segmentation"],
                        "instance_id": product.instance_id,
                        "defect_id": int(defect["defect_id"]),
                        "kind": defect["kind"],
                        "severity": defect["severity"],
                    }
                )

    info = DatasetInfo.from_dict(reader.info)
    return {
        "info": {**header(info), "description": f"groundforge dataset {info.name}: defects"},
        "licenses": [],
        "categories": [
            {"id": i, "name": name, "supercategory": SUPERCATEGORY}
            for name, i in category_ids.items()
        ],
        "images": coco_images,
        "annotations": annotations,
    }


def write_coco_defects(root: Path, out: Path | None = None) -> Path:
    """Write coco_defects.json into `out` (default: the dataset root); returns its path."""
    document = coco_defects(root)
    folder = Path(root) if out is None else Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / COCO_DEFECTS_JSON
    write_json(path, document)
    logger.info(
        "%s: %d defects of %d types on %d images",
        path,
        len(document["annotations"]),
        len(document["categories"]),
        len(document["images"]),
    )
    return path
