"""Defect exports of a generated inspection dataset: Lookout for Vision manifests and masks, the
MVTec AD layout (whole images and product crops), COCO with defect categories, and the CLI.

Expected values come from the dataset's own files (annotation JSON, defect-id PNGs, images),
read here directly, never from the code under test.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from collections import Counter
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO
from typer.testing import CliRunner

from groundforge.cli import app
from groundforge.export.coco_defects import NoDefectLabels, write_coco_defects
from groundforge.export.lookout import stratified_split, write_lookout
from groundforge.export.mvtec import crop_box, write_mvtec
from groundforge.run.batch import generate

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

# The built-in bottle-inspection scene at 160x120 with 30% of the bottles defective.
SCENE = """\
name: small-inspection
seed: 7
classes: [bottle]
materials:
  glass: {base_color: {dist: choice, values: ["#2f6b34", "#6b3a12", "#3a4f6b"]},
          roughness: 0.1}
  label:
    base_color: "#ffffff"
    roughness: 0.6
    texture: {kind: label, text: "GROUNDFORGE", barcode: true, color_a: "#f4f1e8",
              color_b: "#1d2a5c", size: 512}
  cap: {base_color: {dist: choice, values: ["#b8860b", "#a0a4a8", "#8b1a1a"]},
        metallic: 0.9, roughness: 0.35}
assets:
  bottle:
    class: bottle
    product: bottle
    scale: {dist: uniform, min: 0.97, max: 1.03}
    materials: {body: glass, label: label, cap: cap}
defects:
  bottle:
    quota: 0.3
    types:
      scratch: 2
      dent: 2
      crack: 1
      stain: 1
      chip: {rate: 1, kind: hole}
      missing_cap: {rate: 2, kind: missing_part, part: cap}
      misprint: 1
      contamination: 1
      tipped: 1
      off_centre: 1
environment:
  background_color: "#15171a"
  floor:
    size: [6, 6]
    material: {base_color: "#4d4f52", roughness: 0.9}
  belt:
    length: 2.0
    width: 0.3
    height: 0.8
objects:
  - asset: bottle
    count: {dist: randint, min: 2, max: 3}
    surface: belt
    region: [-0.17, 0.17, -0.072, 0.072]
    pose: upright
    yaw_deg: {dist: uniform, min: -15, max: 15}
    gap: 0.02
lights:
  - type: area
    position: [0.0, -0.5, 1.5]
    look_at: [0.0, 0.0, 0.9]
    size: [0.6, 0.3]
    intensity: 2.0
  - {type: ambient, intensity: 0.35}
cameras:
  - name: inspect
    resolution: [160, 120]
    fov_deg: 42
    position: [0.0, -0.45, 1.02]
    look_at: [0.0, 0.0, 0.9]
"""
PREFIX = "s3://bucket/data/"
EXPORTS = ("lookout*", "mvtec*", "coco_defects.json")


def declared_types(dataset: Path) -> list[str]:
    """The scene's defect types with pixels (not placement faults), in its order, as the
    scene file of the fixture declares them."""
    types = json.loads((dataset / "dataset.json").read_text())["defect_types"]
    faults = {"tipped", "rotated", "off_centre", "doubled", "missing"}
    return [n for t in types.values() for n, kind in t.items() if kind not in faults]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("inspection")
    scene = folder / "scene.yaml"
    scene.write_text(SCENE)
    generate(scene, folder / "data", count=10)
    return folder / "data"


@pytest.fixture(scope="module")
def annotations(dataset) -> dict[str, dict]:
    """Image path relative to the root -> its annotation."""
    found = {}
    for path in sorted((dataset / "annotations").glob("*/*.json")):
        record = json.loads(path.read_text())
        found[f"images/{path.parent.name}/{path.stem}.png"] = record
    return found


@pytest.fixture(scope="module")
def lookout(dataset) -> Path:
    write_lookout(dataset, prefix=PREFIX)
    return dataset / "lookout"


@pytest.fixture(scope="module")
def mvtec(dataset) -> Path:
    write_mvtec(dataset)
    return dataset / "mvtec" / "bottle"


@pytest.fixture(scope="module")
def mvtec_crops(dataset) -> Path:
    write_mvtec(dataset, out=dataset / "mvtec-crops", crop=True, crop_size=64)
    return dataset / "mvtec-crops" / "bottle"


def copy_dataset(dataset: Path, target: Path) -> Path:
    shutil.copytree(dataset, target, ignore=shutil.ignore_patterns(*EXPORTS))
    return target


@pytest.fixture(scope="module")
def fault_dataset(dataset, annotations, tmp_path_factory) -> tuple[Path, str, int]:
    """A copy where the first normal image has a tipped bottle and nothing else: an anomaly of
    placement faults only, as the generator labels one (its defect PNG is all 0).

    Returns the copy's root, the image and the instance id of the tipped bottle."""
    root = copy_dataset(dataset, tmp_path_factory.mktemp("faults") / "data")
    image = next(k for k, a in annotations.items() if not a["anomaly"])
    path = root / image.replace("images/", "annotations/").replace(".png", ".json")
    record = json.loads(path.read_text())
    record["anomaly"] = True
    tipped = next(o for o in record["objects"] if o["pixel_count"] > 0)
    tipped["faults"] = [
        {"name": "tipped", "kind": "tipped", "severity": 0.5, "params": {"up_axis_deg": 90.0}}
    ]
    path.write_text(json.dumps(record))
    return root, image, tipped["instance_id"]


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def defect_ids(root: Path, annotation: dict) -> np.ndarray:
    return np.asarray(Image.open(root / annotation["defect_mask"])).astype(np.int64)


def names_by_id(annotation: dict) -> dict[int, str]:
    return {d["defect_id"]: d["name"] for o in annotation["objects"] for d in o["defects"]}


def rgb_of(hex_color: str) -> tuple[int, int, int]:
    return tuple(int(hex_color[i : i + 2], 16) for i in (1, 3, 5))


def stem_of(image: str) -> str:
    """'images/inspect/000003.png' -> 'inspect_000003'."""
    _, camera, name = image.split("/")
    return f"{camera}_{Path(name).stem}"


# -- Lookout for Vision --------------------------------------------------------------------------


def all_lookout_lines(lookout: Path) -> list[dict]:
    return read_lines(lookout / "train.manifest") + read_lines(lookout / "test.manifest")


def test_dataset_has_both_classes_and_a_multi_type_image(annotations):
    labels = Counter(a["anomaly"] for a in annotations.values())
    assert labels[True] >= 2 and labels[False] >= 2
    assert any(len(set(names_by_id(a).values())) > 1 for a in annotations.values())


def is_iso_8601(text: str) -> bool:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) is not None


def test_lookout_lines_carry_every_required_field(lookout):
    for line in all_lookout_lines(lookout):
        assert line["source-ref"].startswith(PREFIX)
        assert line["anomaly-label"] in (0, 1)
        label = line["anomaly-label-metadata"]
        assert label["type"] == "groundtruth/image-classification"
        assert label["human-annotated"] == "no"
        assert label["confidence"] == 1
        assert label["job-name"] and is_iso_8601(label["creation-date"])

        assert line["anomaly-mask-ref"].startswith(PREFIX)
        assert line["anomaly-mask-ref"].endswith(".png")
        mask = line["anomaly-mask-ref-metadata"]
        assert mask["type"] == "groundtruth/semantic-segmentation"
        assert mask["human-annotated"] == "no"
        assert mask["job-name"] and is_iso_8601(mask["creation-date"])
        colors = mask["internal-color-map"]
        assert colors["0"] == {
            "class-name": "BACKGROUND",
            "hex-color": "#ffffff",
            "confidence": 0.0,
        }
        for entry in colors.values():
            assert set(entry) == {"class-name", "hex-color", "confidence"}
            assert isinstance(entry["confidence"], float)


def test_lookout_train_and_test_are_disjoint_and_cover_every_image(lookout, annotations):
    train = {line["source-ref"] for line in read_lines(lookout / "train.manifest")}
    test = {line["source-ref"] for line in read_lines(lookout / "test.manifest")}
    assert not train & test
    assert train | test == {PREFIX + image for image in annotations}


def test_lookout_both_splits_hold_normal_and_anomalous_images(lookout):
    for name in ("train.manifest", "test.manifest"):
        names = {
            line["anomaly-label-metadata"]["class-name"] for line in read_lines(lookout / name)
        }
        assert names == {"normal", "anomaly"}, name


def test_lookout_class_name_follows_the_annotation(lookout, annotations):
    for line in all_lookout_lines(lookout):
        anomaly = annotations[line["source-ref"].removeprefix(PREFIX)]["anomaly"]
        assert line["anomaly-label-metadata"]["class-name"] == ("anomaly" if anomaly else "normal")
        assert line["anomaly-label"] == int(anomaly)


def test_lookout_color_map_lists_every_defect_type_the_same_on_every_line(
    dataset, lookout, annotations
):
    types = declared_types(dataset)
    seen = {name for a in annotations.values() for name in names_by_id(a).values()}
    assert seen <= set(types)
    maps = [
        line["anomaly-mask-ref-metadata"]["internal-color-map"]
        for line in all_lookout_lines(lookout)
    ]
    assert all(m == maps[0] for m in maps)
    names = [maps[0][str(i)]["class-name"] for i in range(1, len(types) + 1)]
    assert len(maps[0]) == len(types) + 1
    # Lookout's anomaly names match [a-zA-Z0-9]*: the types in order, words run together.
    assert all(re.fullmatch(r"[a-zA-Z0-9]+", n) for n in names) and len(set(names)) == len(names)
    assert [n.lower() for n in names] == [t.replace("_", "").lower() for t in types]
    if "missing_cap" in types:
        assert names[types.index("missing_cap")] == "missingCap"
    colors = [entry["hex-color"] for entry in maps[0].values()]
    assert len(set(colors)) == len(colors) and colors.count("#ffffff") == 1


def test_lookout_masks_use_only_declared_colors(dataset, lookout):
    for line in all_lookout_lines(lookout):
        colors = line["anomaly-mask-ref-metadata"]["internal-color-map"].values()
        declared = {rgb_of(entry["hex-color"]) for entry in colors}
        mask = np.asarray(Image.open(dataset / line["anomaly-mask-ref"].removeprefix(PREFIX)))
        assert mask.ndim == 3 and mask.shape[2] == 3 and mask.dtype == np.uint8
        assert {tuple(c) for c in np.unique(mask.reshape(-1, 3), axis=0)} <= declared


def test_lookout_mask_colors_exactly_the_defect_pixels(dataset, lookout, annotations):
    for line in all_lookout_lines(lookout):
        annotation = annotations[line["source-ref"].removeprefix(PREFIX)]
        ids = defect_ids(dataset, annotation)
        mask = np.asarray(Image.open(dataset / line["anomaly-mask-ref"].removeprefix(PREFIX)))
        assert mask.shape[:2] == ids.shape
        assert np.array_equal((mask != 255).any(axis=2), ids > 0)
        color_of = {
            e["class-name"].lower(): rgb_of(e["hex-color"])
            for e in line["anomaly-mask-ref-metadata"]["internal-color-map"].values()
        }
        for defect_id, name in names_by_id(annotation).items():
            assert (mask[ids == defect_id] == color_of[name.replace("_", "").lower()]).all()


def test_lookout_normal_images_get_all_white_masks(dataset, lookout):
    for line in all_lookout_lines(lookout):
        if line["anomaly-label-metadata"]["class-name"] == "normal":
            mask = np.asarray(Image.open(dataset / line["anomaly-mask-ref"].removeprefix(PREFIX)))
            assert (mask == 255).all()


def test_lookout_without_prefix_locations_are_relative_to_the_dataset(dataset):
    write_lookout(dataset, out=dataset / "lookout-plain")
    for line in read_lines(dataset / "lookout-plain" / "train.manifest"):
        assert (dataset / line["source-ref"]).is_file()
        assert line["anomaly-mask-ref"].startswith("lookout-plain/masks/")
        assert (dataset / line["anomaly-mask-ref"]).is_file()


def test_lookout_refuses_a_folder_outside_the_dataset(dataset, tmp_path):
    with pytest.raises(ValueError, match="outside the dataset"):
        write_lookout(dataset, out=tmp_path / "elsewhere")
    assert not (tmp_path / "elsewhere").exists()


def test_split_is_stratified_seeded_and_reproducible():
    keys = [("cam", shot, 0) for shot in range(50)]
    strata = [shot % 5 == 0 for shot in range(50)]  # 10 anomalies, 40 normal
    first = stratified_split(keys, strata, 0.2, seed=0)
    assert sum(t for t, s in zip(first, strata, strict=True) if s) == 2
    assert sum(t for t, s in zip(first, strata, strict=True) if not s) == 8
    assert stratified_split(keys, strata, 0.2, seed=0) == first
    assert stratified_split(keys, strata, 0.2, seed=1) != first


def test_split_keeps_each_side_of_a_small_stratum():
    assert sorted(stratified_split([("c", 0, 0), ("c", 1, 0)], [1, 1], 0.2, seed=3)) == [
        False,
        True,
    ]
    assert stratified_split([("c", 0, 0)], [1], 0.2, seed=3) == [False]


# -- MVTec AD ------------------------------------------------------------------------------------
# anomalib's MVTecAD reader (src/anomalib/data/datasets/image/mvtecad.py, make_mvtec_ad_dataset)
# takes every PNG under <category> as <split>/<label>/<file>, label 'good' normal and any other
# anomalous, and pairs the sorted anomalous test images with the sorted masks of
# ground_truth/<label>/, requiring each image's stem to be part of its mask's stem
# ('000.png' -> '000_mask.png'). Its Folder reader (.../image/folder.py, make_folder_dataset)
# pairs abnormal images and masks the same way. anomalib could not be imported here (its
# torchvision wheel does not load beside the CPU torch build), so these tests check that layout.


def pngs(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.png"))


def check_anomalib_layout(category: Path) -> None:
    assert {p.name for p in category.iterdir()} <= {"train", "test", "ground_truth", "index.jsonl"}
    assert {p.name for p in (category / "train").iterdir()} == {"good"}
    files = pngs(category)
    assert all(len(p.relative_to(category).parts) == 3 for p in files)
    anomalous = [p for p in pngs(category / "test") if p.parent.name != "good"]
    masks = pngs(category / "ground_truth")
    assert len(anomalous) == len(masks) > 0
    # The pairing anomalib does: sorted images against sorted masks.
    for image, mask in zip(sorted(map(str, anomalous)), sorted(map(str, masks)), strict=True):
        assert Path(mask).name == Path(image).stem + "_mask.png"
        assert Path(mask).parent.name == Path(image).parent.name


def test_mvtec_layout_is_the_one_anomalib_reads(mvtec):
    check_anomalib_layout(mvtec)


def test_mvtec_masks_are_binary_and_the_size_of_their_image(mvtec):
    for mask_path in pngs(mvtec / "ground_truth"):
        mask = np.asarray(Image.open(mask_path))
        image_path = mvtec / "test" / mask_path.parent.name / mask_path.name.replace("_mask", "")
        assert mask.ndim == 2 and set(np.unique(mask).tolist()) <= {0, 255}
        assert Image.open(image_path).size == (mask.shape[1], mask.shape[0])


def test_mvtec_holds_every_image_once_and_normals_only_in_good(mvtec, annotations):
    stems = {stem_of(image): a["anomaly"] for image, a in annotations.items()}
    found = [p for p in pngs(mvtec) if "ground_truth" not in p.parts]
    assert sorted(p.stem for p in found) == sorted(stems)
    for path in found:
        assert (path.parent.name == "good") == (not stems[path.stem])
    assert all(not stems[p.stem] for p in pngs(mvtec / "train"))


def test_mvtec_sends_a_fifth_of_the_normal_images_to_test(mvtec, annotations):
    normals = sum(not a["anomaly"] for a in annotations.values())
    assert len(pngs(mvtec / "test" / "good")) == max(1, round(0.2 * normals))


def test_mvtec_images_are_the_dataset_images(dataset, mvtec, annotations):
    image = next(iter(annotations))
    exported = next(
        p for p in pngs(mvtec) if p.stem == stem_of(image) and "ground_truth" not in p.parts
    )
    assert np.array_equal(np.asarray(Image.open(exported)), np.asarray(Image.open(dataset / image)))


def test_mvtec_mask_is_every_defect_pixel_of_the_image(dataset, mvtec, annotations):
    by_stem = {stem_of(image): a for image, a in annotations.items()}
    for mask_path in pngs(mvtec / "ground_truth"):
        ids = defect_ids(dataset, by_stem[mask_path.stem.removesuffix("_mask")])
        assert np.array_equal(np.asarray(Image.open(mask_path)), np.where(ids > 0, 255, 0))


def test_mvtec_anomaly_is_filed_under_the_type_with_most_pixels(dataset, mvtec, annotations):
    for image, annotation in annotations.items():
        if not annotation["anomaly"]:
            continue
        counts = np.bincount(defect_ids(dataset, annotation).ravel())
        pixels = Counter()
        for defect_id, name in names_by_id(annotation).items():
            pixels[name] += int(counts[defect_id]) if defect_id < len(counts) else 0
        best = max(pixels.values())
        expected = min(name for name, n in pixels.items() if n == best)
        assert (mvtec / "test" / expected / f"{stem_of(image)}.png").is_file()


def test_mvtec_fault_only_anomaly_is_filed_under_the_fault_with_an_empty_mask(fault_dataset):
    root, image, _ = fault_dataset
    write_mvtec(root)
    category = root / "mvtec" / "bottle"
    check_anomalib_layout(category)
    stem = stem_of(image)
    assert (category / "test" / "tipped" / f"{stem}.png").is_file()
    mask = np.asarray(Image.open(category / "ground_truth" / "tipped" / f"{stem}_mask.png"))
    assert mask.shape == (120, 160) and not mask.any()


def test_mvtec_export_again_replaces_the_last_one(dataset):
    write_mvtec(dataset, out=dataset / "mvtec-again", seed=1)
    first = {p.name for p in pngs(dataset / "mvtec-again")}
    write_mvtec(dataset, out=dataset / "mvtec-again", seed=2)
    assert {p.name for p in pngs(dataset / "mvtec-again")} == first
    assert len(pngs(dataset / "mvtec-again")) == len(first)


def test_mvtec_refuses_a_folder_of_other_files(dataset, tmp_path):
    (tmp_path / "bottle").mkdir()
    (tmp_path / "bottle" / "mine.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not a groundforge MVTec export"):
        write_mvtec(dataset, out=tmp_path)
    assert [p.name for p in (tmp_path / "bottle").iterdir()] == ["mine.txt"]


# -- MVTec AD, one crop per product --------------------------------------------------------------


def crop_index(category: Path) -> list[dict]:
    return read_lines(category / "index.jsonl")


def product(annotation: dict, instance_id: int) -> dict:
    return next(o for o in annotation["objects"] if o["instance_id"] == instance_id)


def test_mvtec_crops_follow_the_layout_at_the_crop_size(mvtec_crops):
    check_anomalib_layout(mvtec_crops)
    for path in pngs(mvtec_crops):
        assert Image.open(path).size == (64, 64)


def test_mvtec_crops_one_per_visible_product(mvtec_crops, annotations):
    expected = sorted(
        (image, o["instance_id"])
        for image, a in annotations.items()
        for o in a["objects"]
        if o["pixel_count"] > 0
    )
    assert sorted((e["source"], e["instance_id"]) for e in crop_index(mvtec_crops)) == expected


def test_mvtec_crop_box_is_a_square_holding_the_product_and_its_defects(mvtec_crops, annotations):
    for entry in crop_index(mvtec_crops):
        obj = product(annotations[entry["source"]], entry["instance_id"])
        x, y, w, h = entry["box_xywh"]
        boxes = [obj["bbox_visible"]] + [d["bbox"] for d in obj["defects"] if d["pixel_count"]]
        x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
        x1, y1 = max(b[0] + b[2] for b in boxes), max(b[1] + b[3] for b in boxes)
        assert 0 <= x and x + w <= 160 and 0 <= y and y + h <= 120
        assert x <= x0 and y <= y0 and x1 <= x + w and y1 <= y + h
        side = math.ceil(max(x1 - x0, y1 - y0) * 1.2)
        assert (w, h) == (min(side, 160), min(side, 120))


def test_mvtec_crop_label_follows_the_product(mvtec_crops, annotations):
    for entry in crop_index(mvtec_crops):
        obj = product(annotations[entry["source"]], entry["instance_id"])
        pixels = Counter()
        for d in obj["defects"]:
            pixels[d["name"]] += d["pixel_count"]
        faulty = bool(obj["faults"])
        if sum(pixels.values()) == 0 and not faulty:
            assert entry["label"] == "good"
        elif sum(pixels.values()) > 0:
            assert entry["label"] == max(sorted(pixels), key=lambda n: pixels[n])
        else:
            assert entry["label"] == min(f["name"] for f in obj["faults"])


def test_mvtec_crop_mask_holds_only_its_products_defects(dataset, mvtec_crops, annotations):
    for entry in crop_index(mvtec_crops):
        if entry["mask"] is None:
            continue
        annotation = annotations[entry["source"]]
        own = [d["defect_id"] for d in product(annotation, entry["instance_id"])["defects"]]
        x, y, w, h = entry["box_xywh"]
        window = np.isin(defect_ids(dataset, annotation)[y : y + h, x : x + w], own)
        expected = Image.fromarray((window * 255).astype(np.uint8)).resize(
            (64, 64), Image.Resampling.NEAREST
        )
        assert np.array_equal(np.asarray(Image.open(mvtec_crops / entry["mask"])), expected)


def test_mvtec_fault_only_crop_has_an_empty_mask(fault_dataset):
    root, image, instance_id = fault_dataset
    write_mvtec(root, out=root / "mvtec-crops", crop=True, crop_size=32)
    entries = [e for e in crop_index(root / "mvtec-crops" / "bottle") if e["source"] == image]
    tipped = [e for e in entries if e["label"] == "tipped"]
    assert len(tipped) == 1 and tipped[0]["instance_id"] == instance_id
    mask = np.asarray(Image.open(root / "mvtec-crops" / "bottle" / tipped[0]["mask"]))
    assert mask.shape == (32, 32) and not mask.any()
    assert all(e["label"] == "good" for e in entries if e is not tipped[0])


def test_crop_box_grows_squares_and_stays_inside_the_image():
    # Union 30x60 at (10, 20); 10% margin each side -> a 72 px square about (25, 50), moved right.
    assert crop_box([(10, 20, 30, 60)], 200, 200, 0.1) == (0, 14, 72, 72)
    # Taller than the image: cut to its height, centred across.
    assert crop_box([(50, 0, 20, 60)], 200, 50, 0.1) == (24, 0, 72, 50)
    # Two boxes: their union (0..40, 0..40) with no margin.
    assert crop_box([(0, 0, 10, 10), (30, 30, 10, 10)], 100, 100, 0.0) == (0, 0, 40, 40)


# -- COCO with defect categories -----------------------------------------------------------------


@pytest.fixture(scope="module")
def coco_defects(dataset) -> COCO:
    return COCO(str(write_coco_defects(dataset)))


def test_coco_defects_categories_are_the_defect_types(dataset, coco_defects, annotations):
    types = declared_types(dataset)
    seen = {name for a in annotations.values() for name in names_by_id(a).values()}
    assert seen <= set(types)
    categories = coco_defects.loadCats(coco_defects.getCatIds())
    assert [c["name"] for c in categories] == types
    assert [c["id"] for c in categories] == list(range(1, len(types) + 1))
    assert {c["supercategory"] for c in categories} == {"defect"}


def test_coco_defects_images_are_those_of_coco_json(dataset, coco_defects):
    coco = json.loads((dataset / "coco.json").read_text())
    assert coco_defects.dataset["images"] == coco["images"]


def test_coco_defects_masks_are_the_defect_pixels(dataset, coco_defects, annotations):
    file_of = {i["id"]: i["file_name"] for i in coco_defects.dataset["images"]}
    expected = {
        (image, d["defect_id"])
        for image, a in annotations.items()
        for o in a["objects"]
        for d in o["defects"]
        if d["pixel_count"] > 0
    }
    seen = set()
    for ann in coco_defects.loadAnns(coco_defects.getAnnIds()):
        image = file_of[ann["image_id"]]
        ids = defect_ids(dataset, annotations[image])
        truth = ids == ann["defect_id"]
        assert np.array_equal(coco_defects.annToMask(ann).astype(bool), truth)
        assert ann["area"] == truth.sum() and ann["iscrowd"] == 0
        rows, cols = np.nonzero(truth)
        box = [cols.min(), rows.min(), cols.max() - cols.min() + 1, rows.max() - rows.min() + 1]
        assert ann["bbox"] == [int(v) for v in box]
        assert (
            coco_defects.cats[ann["category_id"]]["name"]
            == names_by_id(annotations[image])[ann["defect_id"]]
        )
        seen.add((image, ann["defect_id"]))
    assert seen == expected and len(expected) > 0


# -- CLI -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "made"),
    [
        (["--format", "lookout"], "test.manifest"),
        (["--format", "mvtec", "--crop", "--crop-size", "32"], "bottle/index.jsonl"),
        (["--format", "coco-defects"], "coco_defects.json"),
    ],
)
def test_cli_exports_each_format(dataset, options, made):
    out = dataset / f"cli-{options[1]}"
    result = CliRunner().invoke(app, ["export", str(dataset), *options, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / made).is_file()


def test_cli_refuses_a_folder_that_is_not_a_dataset(tmp_path):
    result = CliRunner().invoke(app, ["export", str(tmp_path), "--format", "lookout"])
    assert result.exit_code == 2
    assert "not a groundforge dataset" in result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("export_format", ["lookout", "mvtec", "coco-defects"])
def test_cli_refuses_a_dataset_without_defects(dataset, tmp_path, export_format):
    root = copy_dataset(dataset, tmp_path / "plain")
    for path in (root / "annotations").glob("*/*.json"):
        record = json.loads(path.read_text())
        del record["anomaly"], record["defect_mask"]
        path.write_text(json.dumps(record))
    before = sorted(p.relative_to(root) for p in root.rglob("*"))

    result = CliRunner().invoke(app, ["export", str(root), "--format", export_format])
    assert result.exit_code == 2
    assert str(root) in result.output and "defects" in result.output
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before


def test_cli_refuses_an_unknown_format(dataset):
    result = CliRunner().invoke(app, ["export", str(dataset), "--format", "yolo"])
    assert result.exit_code == 2
    assert "lookout, mvtec, coco-defects" in result.output


def test_library_refuses_a_dataset_without_defects(dataset, tmp_path):
    root = copy_dataset(dataset, tmp_path / "plain")
    for path in (root / "annotations").glob("*/*.json"):
        path.write_text(path.read_text().replace('"anomaly"', '"was_anomaly"'))
    with pytest.raises(NoDefectLabels, match="bottle-inspection"):
        write_lookout(root)
    assert not (root / "lookout").exists()
