"""The MVTec AD folder layout of a dataset with defects, as anomalib's MVTecAD and Folder
datamodules read it:

    <out>/<category>/train/good/<stem>.png                      normal samples only
    <out>/<category>/test/good/<stem>.png
    <out>/<category>/test/<anomaly>/<stem>.png
    <out>/<category>/ground_truth/<anomaly>/<stem>_mask.png     0 and 255, the sample's size
    <out>/<category>/index.jsonl                                where each sample came from

A sample is a whole image, or with `crop` one product. Stems are `<camera>_<shot>` and, for
crops, `_<instance id>` after it, all fixed width: anomalib pairs images with masks by sorting
both, which a stem that is the start of another would upset.

- Category: the class name; for whole images of a dataset of several classes, the dataset's
  name.
- An anomaly is filed under the defect type with the most pixels in the sample; its mask holds
  the pixels of all its defects (of a crop: only its product's).
- An anomaly with no defect pixels, made only of placement faults (tipped, off-centre, ...), is
  filed under the fault's name (of the faulty product with the most pixels) with an all-zero
  mask: anomalib wants a mask for every test image outside good/, and a fault has no area of
  its own.
- Normal samples: `test_share` of them, seeded, to test/good, the rest to train/good; every
  anomaly goes to test.
- Crops: the square about the product's visible box and its defects' boxes, grown by `margin`
  of that box on every side, moved inside the image and cut only where it is larger than the
  image; resized to crop_size (the image bilinear, the mask nearest-neighbour).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from groundforge.export.coco_defects import (
    ImageDefects,
    ProductDefects,
    load_defect_ids,
    read_defect_labels,
)
from groundforge.export.files import atomic_open, save_image
from groundforge.export.layout import DatasetInfo, relative_paths
from groundforge.export.lookout import stratified_split
from groundforge.export.reader import DatasetReader

logger = logging.getLogger(__name__)

MVTEC_DIR = "mvtec"
GOOD = "good"
INDEX = "index.jsonl"


@dataclasses.dataclass(frozen=True)
class Sample:
    """One image of the layout. label: its anomaly folder, None when normal. defect_ids: the
    defects whose pixels make its mask. box: (x, y, w, h) pixels of a crop, None for a whole
    image. test: whether it goes to test (anomalies always do)."""

    category: str
    stem: str
    image: ImageDefects
    label: str | None
    defect_ids: frozenset[int]
    box: tuple[int, int, int, int] | None = None
    instance_id: int | None = None
    test: bool = True


def anomaly_label(defect_pixels: Counter[str], fault_pixels: Counter[str]) -> str | None:
    """The folder of an anomaly: the defect type with the most pixels; without defect pixels,
    the fault with the most product pixels; ties go to the first name. None if neither."""
    for weights in (defect_pixels, fault_pixels):
        named = {name: n for name, n in weights.items() if n > 0}
        if named:
            return min(named, key=lambda name: (-named[name], name))
    return None


def _weights(products: list[ProductDefects]) -> tuple[Counter[str], Counter[str]]:
    """Defect pixels per defect type, and visible product pixels per fault name."""
    defect_pixels: Counter[str] = Counter()
    fault_pixels: Counter[str] = Counter()
    for product in products:
        for defect in product.defects:
            defect_pixels[defect["name"]] += int(defect["pixel_count"])
        for fault in product.faults:
            fault_pixels[fault] += product.pixel_count
    return defect_pixels, fault_pixels


def image_sample(image: ImageDefects, category: str) -> Sample:
    """The sample of a whole image."""
    label = None
    if image.anomaly:
        label = anomaly_label(*_weights(list(image.products)))
        if label is None:
            raise ValueError(
                f"camera {image.camera} shot {image.shot} is labelled an anomaly but has "
                "no defect pixels and no visible faulty product"
            )
    return Sample(category, image.stem, image, label, frozenset(image.defect_names))


def crop_box(
    boxes: list[tuple[int, int, int, int]], width: int, height: int, margin: float
) -> tuple[int, int, int, int]:
    """(x, y, w, h) pixels: the square about the union of `boxes` (x, y, w, h), grown by
    `margin` of its size on every side, moved inside a width x height image and cut only where
    it is larger than the image."""
    x0 = min(b[0] for b in boxes)
    y0 = min(b[1] for b in boxes)
    x1 = max(b[0] + b[2] for b in boxes)
    y1 = max(b[1] + b[3] for b in boxes)
    side = math.ceil(max(x1 - x0, y1 - y0) * (1 + 2 * margin))

    def place(centre: float, extent: int) -> tuple[int, int]:
        size = min(side, extent)
        start = int(np.floor(centre - side / 2 + 0.5))
        return min(max(start, 0), extent - size), size

    x, w = place((x0 + x1) / 2, width)
    y, h = place((y0 + y1) / 2, height)
    return x, y, w, h


def product_samples(image: ImageDefects, margin: float) -> list[Sample]:
    """One sample per labelled product with visible pixels, cropped about it."""
    samples = []
    for product in image.products:
        if product.pixel_count == 0 or product.bbox_visible is None:
            continue
        label = None
        if product.defect_pixels > 0 or product.faults:
            label = anomaly_label(*_weights([product]))
        boxes = [product.bbox_visible] + [
            tuple(d["bbox"]) for d in product.defects if d["pixel_count"] > 0
        ]
        samples.append(
            Sample(
                category=product.class_name,
                stem=f"{image.stem}_{product.instance_id:05d}",
                image=image,
                label=label,
                defect_ids=frozenset(int(d["defect_id"]) for d in product.defects),
                box=crop_box(boxes, image.width, image.height, margin),
                instance_id=product.instance_id,
            )
        )
    return samples


def sample_paths(sample: Sample) -> tuple[str, str | None]:
    """The image's and the mask's path relative to the category folder (mask None if normal)."""
    if sample.label is None:
        return f"{'test' if sample.test else 'train'}/{GOOD}/{sample.stem}.png", None
    return (
        f"test/{sample.label}/{sample.stem}.png",
        f"ground_truth/{sample.label}/{sample.stem}_mask.png",
    )


def sample_pixels(
    sample: Sample, rgb: np.ndarray, defect_ids: np.ndarray, crop_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """(S, S, 3) uint8 image and (S, S) uint8 mask (0 or 255) of a sample, S its size.

    rgb: (H, W, 3) uint8 and defect_ids: (H, W) uint16 of its whole image.
    """
    mask = np.where(np.isin(defect_ids, list(sample.defect_ids)), 255, 0).astype(np.uint8)
    if sample.box is None:
        return rgb, mask
    x, y, w, h = sample.box
    size = (crop_size, crop_size)
    image = Image.fromarray(rgb[y : y + h, x : x + w]).resize(size, Image.Resampling.BILINEAR)
    small = Image.fromarray(mask[y : y + h, x : x + w]).resize(size, Image.Resampling.NEAREST)
    return np.asarray(image), np.asarray(small)


def _clear(folders: list[Path]) -> None:
    """Empty `folders` of earlier exports, leaving each with an empty index that marks it ours;
    refuse, before removing anything, if one holds other files."""
    for folder in folders:
        if folder.exists() and not (folder / INDEX).is_file() and any(folder.iterdir()):
            raise ValueError(
                f"{folder} already holds files that are not a groundforge MVTec export; "
                "give an empty --out folder"
            )
    for folder in folders:
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        (folder / INDEX).touch()


def write_mvtec(
    root: Path,
    out: Path | None = None,
    test_share: float = 0.2,
    seed: int = 0,
    crop: bool = False,
    crop_size: int = 256,
    margin: float = 0.1,
) -> dict[str, dict[str, int]]:
    """Write the MVTec AD layout of a dataset under `out` (default DATASET/mvtec).

    Returns, per category, the number of images in each folder ('train/good', 'test/dent').
    Raises NoDefectLabels for a dataset without defects and ValueError for bad arguments or an
    `out` holding other files, before writing anything.
    """
    root = Path(root)
    reader = DatasetReader(root)
    if crop_size < 1 or margin < 0:
        raise ValueError(f"crop size must be >= 1 and margin >= 0, got {crop_size}, {margin}")
    info = DatasetInfo.from_dict(reader.info)
    samples = split_samples(
        mvtec_samples(read_defect_labels(reader), info, crop, margin), test_share, seed
    )
    folder = root / MVTEC_DIR if out is None else Path(out)
    categories = sorted({s.category for s in samples})
    _clear([folder / c for c in categories])

    index: dict[str, list[dict]] = {c: [] for c in categories}
    for group in _by_image(samples):
        image = group[0].image
        rgb = reader.load_image(image.camera, image.shot)
        defect_ids = load_defect_ids(root, image)
        for s in group:
            image_rel, mask_rel = sample_paths(s)
            pixels, mask = sample_pixels(s, rgb, defect_ids, crop_size)
            _save(folder / s.category / image_rel, pixels)
            if mask_rel is not None:
                _save(folder / s.category / mask_rel, mask)
            index[s.category].append(_index_entry(s, info, image_rel, mask_rel))

    for c in categories:
        with atomic_open(folder / c / INDEX, "w") as f:
            for entry in index[c]:
                f.write(json.dumps(entry, separators=(",", ":")) + "\n")
    counts = {
        c: dict(sorted(Counter(e["image"].rsplit("/", 1)[0] for e in index[c]).items()))
        for c in categories
    }
    logger.info("MVTec AD layout written to %s: %s", folder, counts)
    return counts


def mvtec_samples(
    images: list[ImageDefects], info: DatasetInfo, crop: bool, margin: float
) -> list[Sample]:
    """The samples of a dataset: one per image, or with `crop` one per visible product."""
    if crop:
        return [s for image in images for s in product_samples(image, margin)]
    classes = [name for _, name in info.classes]
    category = classes[0] if len(classes) == 1 else info.name
    return [image_sample(image, category) for image in images]


def split_samples(samples: list[Sample], test_share: float, seed: int) -> list[Sample]:
    """`samples` with normal ones sent to test or train (stratified by category)."""
    normal = [i for i, s in enumerate(samples) if s.label is None]
    keys = [
        (samples[i].image.camera, samples[i].image.shot, samples[i].instance_id or 0)
        for i in normal
    ]
    strata = [samples[i].category for i in normal]
    split = list(samples)
    for i, test in zip(normal, stratified_split(keys, strata, test_share, seed), strict=True):
        split[i] = dataclasses.replace(samples[i], test=test)
    return split


def _by_image(samples: list[Sample]) -> list[list[Sample]]:
    """Samples grouped by their image, in order, so each image is read once."""
    groups: dict[tuple[str, int], list[Sample]] = {}
    for s in samples:
        groups.setdefault((s.image.camera, s.image.shot), []).append(s)
    return list(groups.values())


def _save(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(path, np.ascontiguousarray(pixels))


def _index_entry(sample: Sample, info: DatasetInfo, image: str, mask: str | None) -> dict:
    """Where a sample came from, for index.jsonl."""
    entry = {
        "image": image,
        "mask": mask,
        "label": sample.label or GOOD,
        "source": relative_paths(sample.image.camera, sample.image.shot, info.image_format)[
            "image"
        ],
        "camera": sample.image.camera,
        "shot": sample.image.shot,
    }
    if sample.box is not None:
        entry["instance_id"] = sample.instance_id
        entry["box_xywh"] = list(sample.box)
    return entry
