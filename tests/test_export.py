"""The dataset writer, its manifests (Ground Truth, COCO, YOLO) and reader, on hand-made data."""

from __future__ import annotations

import io
import json
import multiprocessing
import re
import zlib
from pathlib import Path

import numpy as np
import pytest
import trimesh
import yaml
from PIL import Image
from pycocotools.coco import COCO

from groundforge.assets.meshes import mesh_from_trimesh
from groundforge.export import DatasetInfo, DatasetReader, DatasetWriter
from groundforge.export.files import save_image
from groundforge.export.palette import class_colors, class_hex, decode_semantic
from groundforge.export.png import encode_png
from groundforge.labels import annotate
from groundforge.render.engine import Passes
from groundforge.world.state import Body, Camera, Material, Part, World

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

W, H = 64, 48
CLASSES = [(1, "bottle"), (2, "can")]
CREATED = "2025-01-02T03:04:05Z"
# Hand-drawn masks per instance id: (rows, columns) slices, and the class of each id.
RECTS = {1: (slice(5, 15), slice(10, 30)), 2: (slice(20, 40), slice(0, 8))}
CLASS_OF = {1: 1, 2: 2, 3: 1}


def make_cameras() -> list[Camera]:
    K = np.array([[50.0, 0, W / 2], [0, 50.0, H / 2], [0, 0, 1]])
    return [Camera("top", W, H, K, np.eye(4)), Camera("side", W, H, K, np.eye(4))]


def make_info(created: str = CREATED, **overrides) -> DatasetInfo:
    fields = dict(
        name="test",
        scene_hash="abc123",
        seed=11,
        engine="hand",
        classes=CLASSES,
        cameras=[DatasetInfo.camera_entry(c) for c in make_cameras()],
        created=created,
    )
    return DatasetInfo(**(fields | overrides))


def make_world(shot: int) -> World:
    """Three boxes in front of the camera; the third is hidden in every image."""
    mesh = mesh_from_trimesh(trimesh.creation.box(extents=(0.1, 0.1, 0.1)))
    bodies = []
    for instance_id, x in ((1, 0.0), (2, -0.3), (3, 0.1)):
        pose = np.eye(4)
        pose[:3, 3] = (x, 0.0, 1.0 + instance_id)
        body = Body((Part(mesh, Material()),), pose, instance_id, CLASS_OF[instance_id])
        body.class_name = dict(CLASSES)[body.class_id]
        bodies.append(body)
    return World(shot, shot * 0.1, bodies, [], make_cameras())


def make_passes(shot: int, camera: int) -> Passes:
    """Rectangles for ids 1 and 2 (moved one column per shot and camera), random depth."""
    rng = np.random.default_rng(100 * shot + camera)
    instance = np.zeros((H, W), np.uint16)
    for instance_id, (rows, cols) in RECTS.items():
        shift = shot + camera
        instance[rows, slice(cols.start + shift, cols.stop + shift)] = instance_id
    semantic = np.zeros_like(instance)
    for instance_id, class_id in CLASS_OF.items():
        semantic[instance == instance_id] = class_id
    depth = rng.uniform(0.3, 5.0, (H, W)).astype(np.float32)
    depth[:2] = 0.0  # no surface in the top rows
    return Passes(
        radiance=np.zeros((H, W, 3), np.float32),
        depth_m=depth,
        instance=instance,
        semantic=semantic,
        normals=np.zeros((H, W, 3), np.float32),
        unoccluded_pixels={1: 200, 2: 160, 3: 50},
    )


def write_shot(writer: DatasetWriter, shot: int, cameras=None) -> dict[str, Passes]:
    world = make_world(shot)
    written = {}
    for index, camera in enumerate(world.cameras):
        if cameras is not None and camera.name not in cameras:
            continue
        passes = make_passes(shot, index)
        rgb = np.random.default_rng(shot).integers(0, 256, (H, W, 3), dtype=np.uint8)
        writer.write_image(shot, camera.name, rgb, passes, annotate(world, camera, passes))
        written[camera.name] = passes
    return written


@pytest.fixture
def dataset(tmp_path) -> tuple[Path, dict]:
    """A finalized dataset of shots 0, 1, 2 and 5 with both cameras, YOLO included."""
    root = tmp_path / "out"
    writer = DatasetWriter(root, make_info())
    writer.start()
    passes = {}
    for shot in (0, 1, 2, 5):
        for camera, p in write_shot(writer, shot).items():
            passes[(shot, camera)] = p
    summary = writer.finalize(yolo=True)
    return root, {"passes": passes, "summary": summary}


def manifest_lines(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "manifest.jsonl").read_text().splitlines()]


# ---- layout -------------------------------------------------------------------------------------


def test_files_exist_at_documented_paths(dataset):
    root, _ = dataset
    for name in ("dataset.json", "manifest.jsonl", "coco.json", "data.yaml"):
        assert (root / name).is_file()
    for shot in ("000000", "000001", "000002", "000005"):
        for camera in ("top", "side"):
            assert (root / f"images/{camera}/{shot}.png").is_file()
            assert (root / f"depth/{camera}/{shot}.png").is_file()
            assert (root / f"instance/{camera}/{shot}.png").is_file()
            assert (root / f"semantic/{camera}/{shot}.png").is_file()
            assert (root / f"annotations/{camera}/{shot}.json").is_file()
            assert (root / f"labels/{camera}/{shot}.txt").is_file()
    assert not (root / "images/top/000003.png").exists()


def test_depth_png_round_trip_within_half_millimetre(dataset):
    root, data = dataset
    reader = DatasetReader(root)
    depth_m = data["passes"][(1, "side")].depth_m
    stored = np.asarray(Image.open(root / "depth/side/000001.png"))
    assert stored.dtype == np.uint16
    np.testing.assert_array_equal(stored[:2], 0)
    read = reader.load_depth("side", 1)
    assert read.dtype == np.float32
    assert np.abs(read - depth_m).max() <= 0.0005 + 1e-6
    np.testing.assert_array_equal(read[:2], 0.0)


def test_instance_png_round_trip_is_exact(dataset):
    root, data = dataset
    stored = np.asarray(Image.open(root / "instance/top/000002.png"))
    assert stored.dtype == np.uint16
    np.testing.assert_array_equal(stored, data["passes"][(2, "top")].instance)
    np.testing.assert_array_equal(
        DatasetReader(root).load_instance("top", 2), data["passes"][(2, "top")].instance
    )


def test_large_instance_ids_survive_the_png(tmp_path):
    ids = np.array([[0, 1, 255, 256], [1000, 40000, 65534, 65535]], np.uint16)
    save_image(tmp_path / "ids.png", ids)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "ids.png")), ids)


@pytest.mark.parametrize(
    "pixels",
    [
        np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3) * 3,
        np.random.default_rng(0).integers(0, 256, (33, 17, 3), dtype=np.uint8),
        np.random.default_rng(1).integers(0, 65536, (9, 4), dtype=np.uint16),
        np.full((1, 1), 65535, np.uint16),
        np.random.default_rng(2).integers(0, 256, (3, 11), dtype=np.uint8),
    ],
)
def test_png_encoder_round_trips_through_pillow(pixels):
    for strategy in (zlib.Z_RLE, zlib.Z_DEFAULT_STRATEGY):
        with Image.open(io.BytesIO(encode_png(pixels, strategy))) as image:
            image.load()
            decoded = np.asarray(image)
        assert decoded.dtype == pixels.dtype
        np.testing.assert_array_equal(decoded, pixels)


def test_semantic_colours_decode_to_class_ids(dataset):
    root, data = dataset
    rgb = np.asarray(Image.open(root / "semantic/top/000000.png").convert("RGB"))
    semantic = data["passes"][(0, "top")].semantic
    # Background is white; bottle (1) is #800000 and can (2) #008000 in the documented palette.
    assert tuple(rgb[0, 0]) == (255, 255, 255)
    assert tuple(rgb[5, 10]) == (0x80, 0, 0)
    assert tuple(rgb[20, 0]) == (0, 0x80, 0)
    np.testing.assert_array_equal(decode_semantic(rgb), semantic)
    np.testing.assert_array_equal(DatasetReader(root).load_semantic("top", 0), semantic)


def test_palette_is_fixed_and_one_to_one():
    assert [class_hex(k) for k in range(5)] == [
        "#ffffff",
        "#800000",
        "#008000",
        "#808000",
        "#000080",
    ]
    ids = np.arange(65536)
    colors = class_colors(ids)
    assert len({tuple(c) for c in colors}) == 65536
    np.testing.assert_array_equal(decode_semantic(colors[None]), ids[None])


def test_writes_leave_no_temporary_files(dataset):
    root, _ = dataset
    leftovers = [p for p in root.rglob("*") if p.name.startswith(".") or ".tmp" in p.name]
    assert leftovers == []


def test_failed_write_leaves_neither_temp_file_nor_annotation(tmp_path, monkeypatch):
    import groundforge.export.files as files

    writer = DatasetWriter(tmp_path, make_info())
    writer.start()
    calls = {"n": 0}
    original = files.write_png

    def failing_write_png(f, pixels, *args):
        calls["n"] += 1
        if calls["n"] == 3:  # the instance PNG, after the image and the depth
            f.write(b"partial")
            raise OSError("disk full")
        return original(f, pixels, *args)

    monkeypatch.setattr(files, "write_png", failing_write_png)
    with pytest.raises(OSError, match="disk full"):
        write_shot(writer, 4, cameras=["top"])
    assert calls["n"] == 3
    assert (tmp_path / "depth/top/000004.png").is_file()
    assert not (tmp_path / "instance/top/000004.png").exists()
    assert not (tmp_path / "annotations/top/000004.json").exists()
    assert not writer.is_done(4, ["top"])
    assert list(tmp_path.rglob("*.tmp")) == []


def test_is_done_needs_every_camera(tmp_path):
    writer = DatasetWriter(tmp_path, make_info())
    writer.start()
    write_shot(writer, 3, cameras=["top"])
    assert writer.is_done(3, ["top"])
    assert not writer.is_done(3)
    write_shot(writer, 3, cameras=["side"])
    assert writer.is_done(3)


def test_write_image_refuses_mismatched_annotation(tmp_path):
    writer = DatasetWriter(tmp_path, make_info())
    world, passes = make_world(1), make_passes(1, 0)
    annotation = annotate(world, world.cameras[0], passes)
    rgb = np.zeros((H, W, 3), np.uint8)
    with pytest.raises(ValueError, match="shot 1"):
        writer.write_image(2, "top", rgb, passes, annotation)
    with pytest.raises(ValueError, match="not one of"):
        writer.write_image(1, "front", rgb, passes, annotation)


# ---- dataset.json, finalize, resume -------------------------------------------------------------


def test_dataset_json_marks_unfinished_then_counts(tmp_path):
    writer = DatasetWriter(tmp_path, make_info())
    writer.start()
    started = json.loads((tmp_path / "dataset.json").read_text())
    assert "counts" not in started and not DatasetReader(tmp_path).finished
    assert started["classes"] == [{"id": 1, "name": "bottle"}, {"id": 2, "name": "can"}]
    assert started["cameras"][0]["name"] == "top" and started["depth_scale"] == 0.001
    for key in ("name", "generator_version", "scene_hash", "seed", "engine", "created"):
        assert key in started

    write_shot(writer, 0)
    write_shot(writer, 1, cameras=["top"])
    counts = writer.finalize()
    assert json.loads((tmp_path / "dataset.json").read_text())["counts"] == counts
    # Shot 0: ids 1 (bottle) and 2 (can) in both cameras; shot 1 only the top camera.
    assert counts["images"] == 3 and counts["shots"] == 2
    assert counts["objects_per_class"] == {"bottle": 3, "can": 3}
    assert counts["objects"] == 6
    assert counts["incomplete_shots"] == [1]


def test_finalize_is_idempotent(dataset):
    root, _ = dataset
    names = ("manifest.jsonl", "coco.json", "dataset.json", "data.yaml", "labels/top/000001.txt")
    before = {n: (root / n).read_bytes() for n in names}
    DatasetWriter(root, make_info()).finalize(yolo=True)
    assert {n: (root / n).read_bytes() for n in names} == before


def test_resumed_run_equals_uninterrupted_run(tmp_path):
    whole = DatasetWriter(tmp_path / "whole", make_info())
    whole.start()
    for shot in range(4):
        write_shot(whole, shot)
    whole.finalize()

    first = DatasetWriter(tmp_path / "resumed", make_info())
    first.start()
    write_shot(first, 0)
    write_shot(first, 1)
    write_shot(first, 2, cameras=["top"])  # killed between the cameras of shot 2
    (tmp_path / "resumed/images/side/.000002.png.123.dead.tmp").write_bytes(b"half")
    first.finalize()  # an early finalize must not stick

    # A new process with its own creation time picks up where the first left off.
    second = DatasetWriter(tmp_path / "resumed", make_info(created="2030-01-01T00:00:00Z"))
    second.start()
    todo = [shot for shot in range(4) if not second.is_done(shot)]
    assert todo == [2, 3]
    for shot in todo:
        write_shot(second, shot)
    second.finalize()

    for name in ("manifest.jsonl", "coco.json"):
        assert (tmp_path / "resumed" / name).read_bytes() == (
            tmp_path / "whole" / name
        ).read_bytes()
    assert list((tmp_path / "resumed").rglob("*.tmp")) == []


def _write_shots(root: str, shots: list[int]) -> None:
    writer = DatasetWriter(Path(root), make_info())
    for shot in shots:
        write_shot(writer, shot)


def test_processes_writing_disjoint_shots_equal_one_writer(tmp_path):
    alone = DatasetWriter(tmp_path / "alone", make_info())
    alone.start()
    _write_shots(str(tmp_path / "alone"), list(range(6)))
    alone.finalize()

    shared = DatasetWriter(tmp_path / "shared", make_info())
    shared.start()
    context = multiprocessing.get_context("fork")
    workers = [
        context.Process(target=_write_shots, args=(str(tmp_path / "shared"), shots))
        for shots in ([0, 2, 4], [5, 3, 1])
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    shared.finalize()
    for name in ("manifest.jsonl", "coco.json"):
        assert (tmp_path / "shared" / name).read_bytes() == (tmp_path / "alone" / name).read_bytes()


def test_resume_refuses_a_different_dataset(tmp_path):
    DatasetWriter(tmp_path, make_info()).start()
    with pytest.raises(ValueError, match="seed"):
        DatasetWriter(tmp_path, make_info(seed=12)).start()


# ---- Ground Truth manifest ----------------------------------------------------------------------


def test_every_file_a_manifest_line_names_exists(dataset):
    root, _ = dataset
    lines = manifest_lines(root)
    assert len(lines) == 8
    for line in lines:
        for key in ("source-ref", "semantic-ref", "depth-ref", "instance-ref", "annotations-ref"):
            assert not Path(line[key]).is_absolute()
            assert (root / line[key]).is_file(), line[key]


def test_manifest_lines_are_sorted_by_shot_then_camera(dataset):
    root, _ = dataset
    refs = [line["source-ref"] for line in manifest_lines(root)]
    assert refs[:3] == ["images/top/000000.png", "images/side/000000.png", "images/top/000001.png"]
    assert refs[-1] == "images/side/000005.png"


def test_manifest_lines_carry_ground_truth_fields(dataset):
    root, _ = dataset
    iso = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
    for line in manifest_lines(root):
        assert isinstance(line["source-ref"], str)
        boxes = line["boxes"]
        assert boxes["image_size"] == [{"width": W, "height": H, "depth": 3}]
        for box in boxes["annotations"]:
            assert set(box) == {"class_id", "left", "top", "width", "height"}
            assert all(type(v) is int for v in box.values())
        meta = line["boxes-metadata"]
        assert meta["objects"] == [{"confidence": 1.0}] * len(boxes["annotations"])
        assert meta["class-map"] == {"1": "bottle", "2": "can"}
        assert meta["type"] == "groundtruth/object-detection"
        assert meta["human-annotated"] == "no"
        assert iso.match(meta["creation-date"]) and meta["job-name"] == "groundforge-test"

        seg = line["semantic-ref-metadata"]
        assert seg["internal-color-map"] == {
            "0": {"class-name": "BACKGROUND", "hex-color": "#ffffff", "confidence": 1.0},
            "1": {"class-name": "bottle", "hex-color": "#800000", "confidence": 1.0},
            "2": {"class-name": "can", "hex-color": "#008000", "confidence": 1.0},
        }
        assert seg["type"] == "groundtruth/semantic-segmentation"
        assert seg["human-annotated"] == "no"
        assert iso.match(seg["creation-date"]) and seg["job-name"] == "groundforge-test"


def test_manifest_boxes_are_the_hand_drawn_rectangles(dataset):
    root, _ = dataset
    line = manifest_lines(root)[1]  # shot 0, side camera: shifted one column right
    assert line["source-ref"] == "images/side/000000.png"
    assert line["boxes"]["annotations"] == [
        {"class_id": 1, "left": 11, "top": 5, "width": 20, "height": 10},
        {"class_id": 2, "left": 1, "top": 20, "width": 8, "height": 20},
    ]


# ---- COCO ---------------------------------------------------------------------------------------


def test_coco_loads_and_masks_equal_instance_pixels(dataset):
    root, _ = dataset
    coco = COCO(str(root / "coco.json"))
    assert sorted(coco.getImgIds()) == list(range(1, 9))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == ["bottle", "can"]
    assert all(c["supercategory"] == "product" for c in coco.loadCats(coco.getCatIds()))
    annotations = coco.loadAnns(coco.getAnnIds())
    assert [a["id"] for a in annotations] == list(range(1, 17))  # two visible objects per image
    for ann in annotations:
        image = coco.loadImgs(ann["image_id"])[0]
        instance_path = root / image["file_name"].replace("images/", "instance/", 1)
        instance = np.asarray(Image.open(instance_path))
        expected = instance == ann["instance_id"]
        np.testing.assert_array_equal(coco.annToMask(ann), expected)
        assert ann["area"] == int(expected.sum())
        rows, cols = np.nonzero(expected)
        box = [cols.min(), rows.min(), cols.max() - cols.min() + 1, rows.max() - rows.min() + 1]
        assert ann["bbox"] == [int(v) for v in box]
        assert ann["iscrowd"] == 0 and isinstance(ann["segmentation"]["counts"], str)


def test_coco_images_name_camera_and_shot(dataset):
    root, _ = dataset
    images = json.loads((root / "coco.json").read_text())["images"]
    assert images[0] == {
        "id": 1,
        "file_name": "images/top/000000.png",
        "width": W,
        "height": H,
        "camera": "top",
        "shot": 0,
    }
    assert images[-1]["file_name"] == "images/side/000005.png" and images[-1]["shot"] == 5


def test_hidden_objects_stay_out_of_manifests(dataset):
    root, _ = dataset
    annotation = json.loads((root / "annotations/top/000000.json").read_text())
    hidden = [o for o in annotation["objects"] if o["instance_id"] == 3]
    assert hidden and hidden[0]["pixel_count"] == 0 and hidden[0]["bbox_visible"] is None
    coco = json.loads((root / "coco.json").read_text())
    assert {a["instance_id"] for a in coco["annotations"]} == {1, 2}


# ---- YOLO ---------------------------------------------------------------------------------------


def test_yolo_lines_match_hand_computed_boxes(dataset):
    root, _ = dataset
    lines = (root / "labels/top/000002.txt").read_text().splitlines()
    # Shot 2, top camera: id 1 (bottle) at columns 12..31, rows 5..14; id 2 (can) at columns
    # 2..9, rows 20..39, in a 64x48 image.
    assert lines == [
        f"0 {22 / 64:.6f} {10 / 48:.6f} {20 / 64:.6f} {10 / 48:.6f}",
        f"1 {6 / 64:.6f} {30 / 48:.6f} {8 / 64:.6f} {20 / 48:.6f}",
    ]


def test_yolo_labels_are_where_ultralytics_looks(dataset):
    root, _ = dataset
    for image in (root / "images").rglob("*.png"):
        label = str(image).replace("/images/", "/labels/").rsplit(".", 1)[0] + ".txt"
        assert Path(label).is_file()
    data = yaml.safe_load((root / "data.yaml").read_text())
    assert data["names"] == {0: "bottle", 1: "can"} and data["nc"] == 2
    assert data["train"] == ["images/top", "images/side"] and data["val"] == data["train"]
    assert Path(data["path"]) == root.resolve()


# ---- reader -------------------------------------------------------------------------------------


def test_reader_returns_records_and_arrays(dataset):
    root, data = dataset
    reader = DatasetReader(root)
    assert reader.finished and reader.info["counts"]["images"] == 8
    records = list(reader.records())
    assert [(a["shot"], a["camera"]["name"]) for a, _ in records][:2] == [(0, "top"), (0, "side")]
    annotation, paths = records[2]
    assert paths["image"] == root / "images/top/000001.png"
    rgb = reader.load_image("top", 1)
    assert rgb.shape == (H, W, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(
        rgb, np.random.default_rng(1).integers(0, 256, (H, W, 3), dtype=np.uint8)
    )
    assert len(list(reader.manifest())) == 8 and len(reader.coco()["images"]) == 8
    everything = reader.load("side", 5)
    np.testing.assert_array_equal(everything["instance"], data["passes"][(5, "side")].instance)
    assert everything["depth_m"].dtype == np.float32 and everything["annotation"]["shot"] == 5


def test_jpeg_images_are_named_jpg(tmp_path):
    writer = DatasetWriter(tmp_path, make_info(image_format="jpg", jpeg_quality=90))
    writer.start()
    write_shot(writer, 0)
    writer.finalize()
    assert (tmp_path / "images/top/000000.jpg").is_file()
    assert manifest_lines(tmp_path)[0]["source-ref"] == "images/top/000000.jpg"
    assert DatasetReader(tmp_path).load_image("top", 0).shape == (H, W, 3)
