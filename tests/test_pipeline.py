"""End to end: a scene file in, a dataset out that its readers take as it is."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from typer.testing import CliRunner

from groundforge.cli import app
from groundforge.run.batch import generate

SCENE = """\
name: small
seed: 3
classes: [bottle, can, carton]
assets:
  bottle: {class: bottle, product: bottle}
  can: {class: can, product: can}
  carton: {class: carton, product: box, scale: {dist: uniform, min: 0.8, max: 1.2}}
environment:
  belt: {length: 2.0, width: 0.5, height: 0.8}
objects:
  - asset: {dist: choice, values: [bottle, can, carton]}
    count: {dist: randint, min: 4, max: 7}
    region: [-0.4, 0.4, -0.23, 0.23]
  - {asset: can, count: 1, pose: lying, region: [-0.4, 0.4, -0.23, 0.23]}
lights:
  - {type: directional, elevation_deg: 50, azimuth_deg: 120, intensity: 2.0}
  - {type: ambient, intensity: 0.3}
cameras:
  - {name: top, resolution: [160, 120], fov_deg: 60, position: [0, 0, 1.9], look_at: [0, 0, 0.8],
     up: [0, 1, 0]}
  - {name: side, resolution: [160, 120], fov_deg: 55, position: [0.2, -1.2, 1.4],
     look_at: [0, 0, 0.85], jitter: {position_m: 0.01, rotation_deg: 0.5}}
output: {yolo: true}
"""


@pytest.fixture(scope="module")
def scene_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("scene") / "small.yaml"
    path.write_text(SCENE)
    return path


@pytest.fixture(scope="module")
def dataset(scene_file, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("data") / "out"
    generate(scene_file, out, count=4)
    return out


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def annotation_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.glob("annotations/*/*"))}


def image_files(root: Path) -> dict[str, bytes]:
    kinds = ("images", "depth", "instance", "semantic")
    return {
        str(p.relative_to(root)): p.read_bytes()
        for k in kinds
        for p in sorted(root.glob(f"{k}/*/*"))
    }


def test_layout_has_every_file_of_every_image(dataset):
    info = json.loads((dataset / "dataset.json").read_text())
    assert info["counts"]["images"] == 8
    for cam in ("top", "side"):
        for shot in range(4):
            name = f"{shot:06d}"
            for kind, ext in (
                ("images", "png"),
                ("depth", "png"),
                ("instance", "png"),
                ("semantic", "png"),
                ("annotations", "json"),
            ):
                assert (dataset / kind / cam / f"{name}.{ext}").is_file()


def test_every_file_a_manifest_line_names_exists(dataset):
    lines = read_lines(dataset / "manifest.jsonl")
    assert len(lines) == 8
    for line in lines:
        refs = [v for k, v in line.items() if k == "source-ref" or k.endswith("-ref")]
        assert len(refs) >= 5
        for ref in refs:
            assert (dataset / ref).is_file(), ref


def test_coco_masks_equal_the_instance_png(dataset):
    coco = COCO(str(dataset / "coco.json"))
    assert coco.getAnnIds(), "the dataset has objects"
    for image in coco.dataset["images"]:
        instance_png = dataset / image["file_name"].replace("images/", "instance/", 1)
        instance = np.asarray(Image.open(instance_png.with_suffix(".png")))
        ids = set(np.unique(instance)) - {0}
        anns = coco.loadAnns(coco.getAnnIds(imgIds=image["id"]))
        assert len(anns) == len(ids)
        matched = set()
        for ann in anns:
            decoded = coco.annToMask(ann).astype(bool)
            assert decoded.sum() == ann["area"]
            matches = [k for k in ids if np.array_equal(instance == k, decoded)]
            assert len(matches) == 1, "each COCO mask is exactly one object's pixels"
            matched.add(matches[0])
            assert isinstance(ann["segmentation"]["counts"], str)
        assert matched == ids


def test_every_visible_box_is_the_box_of_its_mask(dataset):
    for path in sorted(dataset.glob("annotations/*/*.json")):
        annotation = json.loads(path.read_text())
        cam, shot = path.parent.name, path.stem
        instance = np.asarray(Image.open(dataset / "instance" / cam / f"{shot}.png"))
        seen = set(np.unique(instance)) - {0}
        labelled = {o["instance_id"] for o in annotation["objects"] if o["pixel_count"] > 0}
        assert labelled == seen
        for obj in annotation["objects"]:
            if obj["pixel_count"] == 0:
                continue
            rows, cols = np.nonzero(instance == obj["instance_id"])
            box = [cols.min(), rows.min(), cols.max() - cols.min() + 1, rows.max() - rows.min() + 1]
            assert obj["bbox_visible"] == [int(b) for b in box]
            assert obj["pixel_count"] == len(rows)
            rle = obj["segmentation"]
            decoded = mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode()})
            assert np.array_equal(decoded.astype(bool), instance == obj["instance_id"])


def test_projected_centre_lies_in_the_amodal_box(dataset):
    for path in sorted(dataset.glob("annotations/*/*.json")):
        annotation = json.loads(path.read_text())
        K = np.array(annotation["camera"]["K"])
        for obj in annotation["objects"]:
            centre = np.array(obj["camera_from_object"])[:3, 3]
            corners = np.array(obj["corners_3d"])
            box_centre = corners.mean(axis=0)
            u, v, w = K @ box_centre
            left, top, width, height = obj["bbox_amodal"]
            if not obj["truncated"]:
                assert left - 1 <= u / w <= left + width + 1
                assert top - 1 <= v / w <= top + height + 1
            assert centre[2] > 0


def test_same_seed_gives_identical_files(dataset, scene_file, tmp_path):
    again = tmp_path / "again"
    generate(scene_file, again, count=4)
    assert annotation_files(again) == annotation_files(dataset)
    assert image_files(again) == image_files(dataset)


def test_two_workers_give_the_result_of_one(dataset, scene_file, tmp_path):
    parallel = tmp_path / "parallel"
    generate(scene_file, parallel, count=4, workers=2)
    assert annotation_files(parallel) == annotation_files(dataset)
    assert image_files(parallel) == image_files(dataset)
    assert (parallel / "coco.json").read_bytes() == (dataset / "coco.json").read_bytes()


def test_a_shot_does_not_depend_on_the_batch(dataset, scene_file, tmp_path):
    alone = tmp_path / "alone"
    generate(scene_file, alone, count=1, first=3)
    assert set(annotation_files(alone)) == {
        "annotations/side/000003.json",
        "annotations/top/000003.json",
    }
    for name, content in annotation_files(alone).items():
        assert content == annotation_files(dataset)[name]
    for name, content in image_files(alone).items():
        assert content == image_files(dataset)[name]


def test_resumed_batch_equals_an_uninterrupted_one(dataset, scene_file, tmp_path):
    out = tmp_path / "resumed"
    generate(scene_file, out, count=2)
    (out / "manifest.jsonl").unlink()  # as if killed before the manifests were written
    (out / "annotations" / "top" / "000001.json").unlink()  # and an image in flight
    summary = generate(scene_file, out, count=4)
    assert summary.skipped == 1
    assert annotation_files(out) == annotation_files(dataset)
    assert undated(read_lines(out / "manifest.jsonl")) == undated(
        read_lines(dataset / "manifest.jsonl")
    )


def undated(lines: list[dict]) -> list[dict]:
    """Manifest lines without their creation dates, which tell when a batch started."""
    return [
        {
            k: ({m: n for m, n in v.items() if m != "creation-date"} if isinstance(v, dict) else v)
            for k, v in line.items()
        }
        for line in lines
    ]


def test_cli_generate_and_preview(scene_file, tmp_path):
    out = tmp_path / "cli"
    result = CliRunner().invoke(
        app, ["generate", "--scene", str(scene_file), "--out", str(out), "--count", "2"]
    )
    assert result.exit_code == 0, result.output
    assert "4 written" in result.output
    assert (out / "report" / "report.html").is_file()  # generate ends with the report
    result = CliRunner().invoke(app, ["preview", str(out)])
    assert result.exit_code == 0, result.output
    with Image.open(out / "preview.png") as sheet:
        assert sheet.width > 160 and sheet.height > 120


def test_yolo_labels_match_the_visible_boxes(dataset):
    for path in sorted(dataset.glob("annotations/*/*.json")):
        annotation = json.loads(path.read_text())
        w, h = annotation["camera"]["width"], annotation["camera"]["height"]
        label = dataset / "labels" / path.parent.name / f"{path.stem}.txt"
        rows = [list(map(float, r.split())) for r in label.read_text().splitlines()]
        visible = [o for o in annotation["objects"] if o["pixel_count"] > 0]
        assert len(rows) == len(visible)
        for row, obj in zip(rows, visible, strict=True):
            left, top, bw, bh = obj["bbox_visible"]
            expected = [
                obj["class_id"] - 1,
                (left + bw / 2) / w,
                (top + bh / 2) / h,
                bw / w,
                bh / h,
            ]
            assert np.allclose(row, expected, atol=1e-5)
