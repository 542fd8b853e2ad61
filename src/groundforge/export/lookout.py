"""Amazon Lookout for Vision manifests of a dataset with defects: a train and a test manifest
(JSON Lines, FORMATS.md "Amazon Lookout for Vision") and a segmentation mask per image.

Under `out` (DATASET/lookout by default; it must lie inside the dataset, since Lookout wants
images and masks under one bucket prefix): `train.manifest`, `test.manifest` and
`masks/<camera>/<shot>.png`. Locations are relative to the dataset root, after `prefix`.

- Every line has both the classification and the segmentation label. `anomaly-label` is 1 for
  an anomaly and 0 for a normal image, as in the Lookout guide's examples; Lookout itself reads
  only `class-name`.
- A mask is RGB: white background, each defect type in its own colour, the same colour map on
  every line (every defect type of the dataset, indices from 1 in `defect_types` order).
- Normal images get an all-white mask, as the normal lines of AWS's own getting-started
  segmentation manifest do.
- An anomaly made only of placement faults (a tipped or off-centre product) has no defect
  pixels, so its mask is all white too: it still teaches the classifier, but Lookout's
  segmentation training expects a mask on every anomaly and may report such images.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from groundforge.export.coco_defects import (
    ImageDefects,
    defect_types,
    load_defect_ids,
    read_defect_labels,
)
from groundforge.export.files import atomic_open, save_image
from groundforge.export.groundtruth import job_name
from groundforge.export.layout import DatasetInfo, relative_paths, shot_name
from groundforge.export.palette import BACKGROUND_HEX, class_colors, class_hex
from groundforge.export.reader import DatasetReader
from groundforge.sampling.seeds import rng_for

logger = logging.getLogger(__name__)

LOOKOUT_DIR = "lookout"
TRAIN_MANIFEST = "train.manifest"
TEST_MANIFEST = "test.manifest"
LABEL = "anomaly-label"
MASK = "anomaly-mask-ref"


def stratified_split(
    keys: Sequence[tuple[str, int, int]], strata: Sequence[object], test_share: float, seed: int
) -> list[bool]:
    """Whether each item goes to the test split.

    keys: (camera, shot, instance id or 0) of each item. In each stratum (items with equal
    `strata` values) the round(test_share * n) items with the lowest seeded draw go to test;
    a stratum of two or more items keeps at least one item on each side. An item's draw depends
    only on its key and the seed, so growing a dataset moves few items across.
    """
    if not 0 <= test_share < 1:
        raise ValueError(f"test share must be at least 0 and below 1, got {test_share}")
    draws = [
        rng_for(seed, shot, f"export-split/{camera}/{instance}").random()
        for camera, shot, instance in keys
    ]
    in_test = [False] * len(keys)
    for stratum in dict.fromkeys(strata):
        members = [i for i, s in enumerate(strata) if s == stratum]
        count = int(np.floor(test_share * len(members) + 0.5))
        if len(members) >= 2 and test_share > 0:
            count = min(max(count, 1), len(members) - 1)
        for i in sorted(members, key=lambda i: (draws[i], keys[i]))[:count]:
            in_test[i] = True
    return in_test


def anomaly_names(types: Sequence[str]) -> list[str]:
    """Lookout's names for the defect types: its anomaly names match [a-zA-Z0-9]*, so
    "missing_cap" becomes "missingCap"; a name taken twice gets its position appended."""
    out: list[str] = []
    for index, name in enumerate(types, start=1):
        words = [w for w in re.split(r"[^a-zA-Z0-9]+", name) if w]
        camel = (words[0] + "".join(w[:1].upper() + w[1:] for w in words[1:])) if words else ""
        camel = camel or f"defect{index}"
        out.append(camel if camel not in out else f"{camel}{index}")
    return out


def color_map(types: Sequence[str]) -> dict[str, dict]:
    """internal-color-map: "0" the white background, then each defect type from "1", by its
    Lookout name (anomaly_names)."""
    entries = {"0": {"class-name": "BACKGROUND", "hex-color": BACKGROUND_HEX, "confidence": 0.0}}
    for index, name in enumerate(anomaly_names(types), start=1):
        entries[str(index)] = {"class-name": name, "hex-color": class_hex(index), "confidence": 1.0}
    return entries


def mask_colors(
    defect_ids: np.ndarray, names: dict[int, str], type_index: dict[str, int]
) -> np.ndarray:
    """(H, W, 3) uint8 mask: white where defect_ids is 0, each defect in its type's colour.

    defect_ids: (H, W) uint16. names: defect id -> type name, for every id in the image.
    """
    present = np.flatnonzero(np.bincount(defect_ids.ravel()))
    unknown = sorted(set(present.tolist()) - set(names) - {0})
    if unknown:
        raise ValueError(f"defect ids {unknown} have pixels but no entry in the annotation")
    lut = np.zeros(int(defect_ids.max(initial=0)) + 1, dtype=np.int64)
    for defect_id, name in names.items():
        if defect_id < len(lut):
            lut[defect_id] = type_index[name]
    return class_colors(lut)[defect_ids]


def manifest_line(
    image: ImageDefects, info: DatasetInfo, mask: str, colors: dict, prefix: str = ""
) -> dict:
    """The Lookout line of one image. mask: its mask's path relative to the dataset root."""
    common = {"human-annotated": "no", "creation-date": info.created, "job-name": job_name(info)}
    image_path = relative_paths(image.camera, image.shot, info.image_format)["image"]
    return {
        "source-ref": prefix + image_path,
        LABEL: 1 if image.anomaly else 0,
        f"{LABEL}-metadata": {
            "class-name": "anomaly" if image.anomaly else "normal",
            "type": "groundtruth/image-classification",
            "confidence": 1,
            **common,
        },
        MASK: prefix + mask,
        f"{MASK}-metadata": {
            "internal-color-map": colors,
            "type": "groundtruth/semantic-segmentation",
            **common,
        },
    }


def lookout_folder(root: Path, out: Path | None) -> Path:
    """Where the export goes: `out`, or DATASET/lookout; refused outside the dataset."""
    folder = Path(root) / LOOKOUT_DIR if out is None else Path(out)
    if not folder.resolve().is_relative_to(Path(root).resolve()):
        raise ValueError(
            f"{folder} is outside the dataset {root}: Lookout for Vision wants images and "
            "masks under one bucket prefix, so the masks must go inside the dataset folder; "
            "leave out --out or give a folder inside the dataset"
        )
    return folder


def write_lookout(
    root: Path,
    out: Path | None = None,
    prefix: str = "",
    test_share: float = 0.2,
    seed: int = 0,
) -> dict[str, int]:
    """Write the Lookout manifests and masks of a dataset; returns counts of lines and types.

    Raises NoDefectLabels for a dataset without defects and ValueError for a refused `out` or
    test share, before writing anything.
    """
    root = Path(root)
    reader = DatasetReader(root)
    folder = lookout_folder(root, out)
    images = read_defect_labels(reader)
    keys = [(image.camera, image.shot, 0) for image in images]
    in_test = stratified_split(keys, [image.anomaly for image in images], test_share, seed)

    info = DatasetInfo.from_dict(reader.info)
    types = defect_types(images, reader.info)
    type_index = {name: i for i, name in enumerate(types, start=1)}
    colors = color_map(types)
    lines: dict[bool, list[dict]] = {False: [], True: []}
    for image, test in zip(images, in_test, strict=True):
        mask = write_mask(root, folder, image, type_index)
        lines[test].append(manifest_line(image, info, mask, colors, prefix))
    _write_lines(folder / TRAIN_MANIFEST, lines[False])
    _write_lines(folder / TEST_MANIFEST, lines[True])

    _warn_of_lookout_limits(images, in_test)
    counts = {
        "train": len(lines[False]),
        "test": len(lines[True]),
        "anomalies": sum(image.anomaly for image in images),
        "defect_types": len(types),
    }
    logger.info("Lookout for Vision manifests written to %s: %s", folder, counts)
    return counts


def write_mask(root: Path, folder: Path, image: ImageDefects, type_index: dict[str, int]) -> str:
    """Write the mask of one image under folder/masks; returns its path from the dataset root."""
    path = folder / "masks" / image.camera / f"{shot_name(image.shot)}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        pixels = mask_colors(load_defect_ids(root, image), image.defect_names, type_index)
    except ValueError as err:
        raise ValueError(f"{root / image.defect_mask}: {err}") from err
    save_image(path, pixels)
    return path.resolve().relative_to(root.resolve()).as_posix()


def _write_lines(path: Path, lines: list[dict]) -> None:
    with atomic_open(path, "w") as f:
        for line in lines:
            f.write(json.dumps(line, separators=(",", ":"), allow_nan=False) + "\n")


def _warn_of_lookout_limits(images: list[ImageDefects], in_test: list[bool]) -> None:
    """Log what Lookout would refuse or flag: mixed image sizes, too few test images, anomalies
    without defect pixels."""
    sizes = {(image.width, image.height) for image in images}
    if len(sizes) > 1:
        logger.warning("images of %d sizes; Lookout wants one size per project", len(sizes))
    test = Counter(image.anomaly for image, t in zip(images, in_test, strict=True) if t)
    if test[False] < 10 or test[True] < 10:
        logger.warning(
            "the test manifest has %d normal and %d anomalous images; Lookout wants 10 of each",
            test[False],
            test[True],
        )
    fault_only = [i for i in images if i.anomaly and not any(p.defect_pixels for p in i.products)]
    if fault_only:
        logger.warning(
            "%d anomalous images have only placement faults: their masks are all white",
            len(fault_only),
        )
