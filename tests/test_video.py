"""Ground Truth video-frame files and MP4 previews of sequences, on hand-made annotations."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image

from groundforge.export import video
from groundforge.export.files import TEMP_SUFFIX

CLASSES = [(1, "bottle"), (2, "can")]
CLASS_MAP = dict(CLASSES)
CREATED = "2025-01-02T03:04:05Z"
CREATED_UNIX = 1735787045  # date -u -d 2025-01-02T03:04:05Z +%s
JOB = "groundforge-test"
W, H = 32, 24
CAMERAS = ("top", "side")
# Frames of sequence 3: frame -> (shot, timestamp s). Shots are dataset-wide, frames per sequence.
FRAMES = {0: (30, 0.0), 1: (31, 0.1), 2: (32, 0.2)}
# Visible boxes [left, top, width, height] by (camera, frame, instance id); absent = hidden.
BOXES = {
    ("top", 0, 1): [2, 3, 5, 4],
    ("top", 1, 1): [4, 3, 5, 4],
    ("top", 2, 1): [6, 3, 5, 4],
    ("top", 0, 2): [10, 12, 6, 7],
    ("top", 2, 2): [11, 12, 6, 7],
    ("side", 0, 1): [20, 1, 3, 8],
    ("side", 1, 1): [18, 1, 3, 8],
    ("side", 2, 1): [16, 1, 3, 8],
    ("side", 1, 2): [0, 10, 4, 4],
}
CLASS_OF = {1: 1, 2: 2, 4: 1}  # instance 4: in view, hidden behind others in every frame

SEQUENCE_KEYS = {"seq-no", "prefix", "number-of-frames", "frames"}
SEQUENCE_FRAME_KEYS = {"frame-no", "frame", "unix-timestamp"}
LABEL_FRAME_KEYS = {"frame-no", "frame", "frame-attributes", "annotations"}
DETECTION_BOX_KEYS = {"height", "width", "top", "left", "class-id", "label-category-attributes"}
TRACKING_BOX_KEYS = DETECTION_BOX_KEYS | {"object-id", "object-name"}
METADATA_KEYS = {"class-map", "job-name", "human-annotated", "creation-date", "type"}


def make_object(instance_id: int, box: list[int] | None) -> dict:
    class_id = CLASS_OF[instance_id]
    return {
        "instance_id": instance_id,
        "class_id": class_id,
        "class_name": CLASS_MAP[class_id],
        "bbox_visible": box,
        "bbox_amodal": box or [0, 0, 3, 3],
        "pixel_count": 0 if box is None else box[2] * box[3],
        "visible_fraction": 0.0 if box is None else 1.0,
    }


def make_record(camera: str, frame: int, sequence: int = 3, shot: int | None = None) -> dict:
    default_shot, timestamp = FRAMES.get(frame, (100 + frame, frame * 0.1))
    objects = [make_object(i, BOXES.get((camera, frame, i))) for i in sorted(CLASS_OF)]
    return {
        "camera": {"name": camera, "width": W, "height": H},
        "shot": default_shot if shot is None else shot,
        "timestamp": timestamp,
        "sequence": sequence,
        "frame": frame,
        "objects": objects,
    }


def records(camera: str = "top") -> list[dict]:
    return [make_record(camera, f) for f in FRAMES]


def boxes_by_instance(label: dict, key: str) -> list[dict[int, dict]]:
    """Per frame: instance id (from object-name) -> box."""
    return [
        {int(b["object-name"].split(":")[1]): b for b in entry["annotations"]}
        for entry in label[key]
    ]


# ---------------------------------------------------------------------------------------------
# Sequence file


def test_sequence_file_has_every_field_with_its_type():
    seq = video.sequence_file(3, "top", records(), "images/top/", start_unix=1000.0)

    assert set(seq) == SEQUENCE_KEYS
    assert isinstance(seq["seq-no"], int) and seq["seq-no"] == 3
    assert seq["prefix"] == "images/top/"
    assert isinstance(seq["number-of-frames"], int) and seq["number-of-frames"] == 3
    assert isinstance(seq["frames"], list) and len(seq["frames"]) == seq["number-of-frames"]
    for entry in seq["frames"]:
        assert set(entry) == SEQUENCE_FRAME_KEYS
        assert isinstance(entry["frame-no"], int)
        assert isinstance(entry["frame"], str) and "/" not in entry["frame"]
        assert isinstance(entry["unix-timestamp"], float)


def test_sequence_file_lists_frames_by_frame_with_their_image_names_and_times():
    shuffled = [records()[i] for i in (2, 0, 1)]

    seq = video.sequence_file(3, "top", shuffled, "images/top/", start_unix=1000.0)

    assert [f["frame-no"] for f in seq["frames"]] == [0, 1, 2]
    assert [f["frame"] for f in seq["frames"]] == ["000030.png", "000031.png", "000032.png"]
    assert [f["unix-timestamp"] for f in seq["frames"]] == pytest.approx([1000.0, 1000.1, 1000.2])


def test_sequence_file_frame_no_is_the_position_when_frames_are_skipped():
    # A camera with frame_divisor 2 renders frames 0, 2, 4.
    frames = [make_record("top", f, shot=50 + f) for f in (4, 0, 2)]

    seq = video.sequence_file(3, "top", frames, "images/top/")

    assert [f["frame-no"] for f in seq["frames"]] == [0, 1, 2]
    assert [f["frame"] for f in seq["frames"]] == ["000050.png", "000052.png", "000054.png"]
    assert [f["unix-timestamp"] for f in seq["frames"]] == pytest.approx([0.0, 0.2, 0.4])


def test_sequence_file_names_jpeg_frames():
    seq = video.sequence_file(3, "top", records(), "images/top/", image_format="jpg")

    assert seq["frames"][0]["frame"] == "000030.jpg"


def test_sequence_file_refuses_a_prefix_without_slash():
    with pytest.raises(ValueError, match="prefix"):
        video.sequence_file(3, "top", records(), "images/top")


def test_sequence_file_refuses_frames_of_two_cameras():
    with pytest.raises(ValueError, match="one sequence of one camera"):
        video.sequence_file(3, "top", records("top") + records("side"), "images/top/")


def test_sequence_file_refuses_frames_of_another_sequence():
    with pytest.raises(ValueError, match="not sequence 4"):
        video.sequence_file(4, "top", records(), "images/top/")


def test_sequence_file_refuses_a_repeated_frame():
    with pytest.raises(ValueError, match="repeat"):
        video.sequence_file(3, "top", records() + [make_record("top", 1)], "images/top/")


# ---------------------------------------------------------------------------------------------
# SeqLabel files


@pytest.mark.parametrize("kind", ["tracking", "detection"])
def test_seq_label_has_every_field_with_its_type(kind):
    label = video.seq_label_file(records(), kind, CLASS_MAP)

    assert set(label) == {f"{kind}-annotations"}
    entries = label[f"{kind}-annotations"]
    assert isinstance(entries, list) and len(entries) == 3
    box_keys = TRACKING_BOX_KEYS if kind == "tracking" else DETECTION_BOX_KEYS
    for position, entry in enumerate(entries):
        assert set(entry) == LABEL_FRAME_KEYS
        # Ground Truth's own SeqLabel files write frame-no as a string.
        assert entry["frame-no"] == str(position)
        assert entry["frame"] == f"0000{30 + position}.png"
        assert entry["frame-attributes"] == {}
        assert isinstance(entry["annotations"], list)
        for box in entry["annotations"]:
            assert set(box) == box_keys
            for field in ("height", "width", "top", "left"):
                assert type(box[field]) is int
            assert isinstance(box["class-id"], str)
            assert box["label-category-attributes"] == {}
            if kind == "tracking":
                assert isinstance(box["object-id"], str)
                assert isinstance(box["object-name"], str)


def test_seq_label_boxes_equal_the_visible_boxes():
    label = video.seq_label_file(records(), "tracking", CLASS_MAP)

    for frame, boxes in enumerate(boxes_by_instance(label, "tracking-annotations")):
        for instance_id, box in boxes.items():
            left, top, width, height = BOXES[("top", frame, instance_id)]
            assert (box["left"], box["top"], box["width"], box["height"]) == (
                left,
                top,
                width,
                height,
            )
            assert box["class-id"] == str(CLASS_OF[instance_id])


def test_seq_label_keeps_only_visible_objects():
    label = video.seq_label_file(records(), "tracking", CLASS_MAP)

    present = [set(b) for b in boxes_by_instance(label, "tracking-annotations")]
    # Instance 2 is hidden in frame 1; instance 4 is hidden in every frame.
    assert present == [{1, 2}, {1}, {1, 2}]


def test_seq_label_keeps_a_frame_with_nothing_visible():
    frame = make_record("top", 0)
    for obj in frame["objects"]:
        obj["bbox_visible"], obj["pixel_count"] = None, 0

    label = video.seq_label_file([frame], "detection", CLASS_MAP)

    assert label["detection-annotations"][0]["annotations"] == []


def test_seq_label_detection_boxes_match_tracking_boxes():
    tracking = video.seq_label_file(records(), "tracking", CLASS_MAP)["tracking-annotations"]
    detection = video.seq_label_file(records(), "detection", CLASS_MAP)["detection-annotations"]

    for t, d in zip(tracking, detection, strict=True):
        stripped = [
            {k: v for k, v in b.items() if k in DETECTION_BOX_KEYS} for b in t["annotations"]
        ]
        assert d["annotations"] == stripped


def test_object_id_is_stable_for_one_object_across_frames():
    label = video.seq_label_file(records(), "tracking", CLASS_MAP)

    frames = boxes_by_instance(label, "tracking-annotations")
    ids_of_1 = {f[1]["object-id"] for f in frames}
    ids_of_2 = {f[2]["object-id"] for f in frames if 2 in f}
    assert len(ids_of_1) == 1 and len(ids_of_2) == 1
    assert ids_of_1 != ids_of_2
    uuid.UUID(ids_of_1.pop())  # the form Ground Truth writes


def test_object_id_is_the_same_in_every_camera_of_a_sequence():
    top = video.seq_label_file(records("top"), "tracking", CLASS_MAP, scope=JOB)
    side = video.seq_label_file(records("side"), "tracking", CLASS_MAP, scope=JOB)

    top_ids = boxes_by_instance(top, "tracking-annotations")[0][1]["object-id"]
    side_ids = boxes_by_instance(side, "tracking-annotations")[0][1]["object-id"]
    assert top_ids == side_ids


def test_object_id_differs_between_sequences_and_scopes():
    ids = {
        video.object_id(3, 1, JOB),
        video.object_id(4, 1, JOB),
        video.object_id(3, 2, JOB),
        video.object_id(3, 1, "another-job"),
    }

    assert len(ids) == 4
    assert video.object_id(3, 1, JOB) == video.object_id(3, 1, JOB)


def test_object_name_is_class_and_instance_id():
    label = video.seq_label_file(records(), "tracking", CLASS_MAP)

    names = {b["object-name"] for b in label["tracking-annotations"][0]["annotations"]}
    assert names == {"bottle:1", "can:2"}


def test_seq_label_refuses_an_unknown_kind():
    with pytest.raises(ValueError, match="kind"):
        video.seq_label_file(records(), "segmentation", CLASS_MAP)


# ---------------------------------------------------------------------------------------------
# Manifest lines


@pytest.mark.parametrize(
    "kind, kind_type",
    [
        ("tracking", "groundtruth/video-object-tracking"),
        ("detection", "groundtruth/video-object-detection"),
    ],
)
def test_manifest_lines_have_every_field(kind, kind_type):
    input_line, output_line = video.video_manifest_lines(
        "sequences/top/000003.json",
        f"sequences/top/000003-{kind}.json",
        kind,
        CLASS_MAP,
        JOB,
        CREATED,
    )

    assert input_line == {"source-ref": "sequences/top/000003.json"}
    attribute = f"{kind}-ref"
    assert set(output_line) == {"source-ref", attribute, f"{attribute}-metadata"}
    assert attribute.endswith("-ref")
    assert output_line["source-ref"] == "sequences/top/000003.json"
    assert output_line[attribute] == f"sequences/top/000003-{kind}.json"
    metadata = output_line[f"{attribute}-metadata"]
    assert set(metadata) == METADATA_KEYS
    assert metadata["class-map"] == {"1": "bottle", "2": "can"}
    assert metadata["job-name"] == JOB
    assert metadata["human-annotated"] == "no"
    assert metadata["creation-date"] == CREATED
    assert metadata["type"] == kind_type


def test_unix_seconds_of_an_iso_date():
    assert video.unix_seconds(CREATED) == CREATED_UNIX
    assert video.unix_seconds("2025-01-02T03:04:05") == CREATED_UNIX
    assert video.unix_seconds("2025-01-02T04:04:05+01:00") == CREATED_UNIX
    with pytest.raises(ValueError, match="ISO 8601"):
        video.unix_seconds("yesterday")


# ---------------------------------------------------------------------------------------------
# Files on disk


def red_frame(width: int = W, height: int = H, shift: int = 0) -> np.ndarray:
    """Mostly red (a green square moves along it)."""
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[..., 0] = 220
    rgb[2:6, 2 + shift : 6 + shift] = (0, 200, 0)
    return rgb


def make_dataset(root: Path, image_format: str = "png") -> list[dict]:
    """A dataset folder: dataset.json, tiny frames, annotation JSONs of sequence 3 and 2 stills."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "dataset.json").write_text(json.dumps({"image_format": image_format}))
    all_records = []
    for camera in CAMERAS:
        for frame, (shot, _) in FRAMES.items():
            all_records.append(make_record(camera, frame))
            image = root / "images" / camera / f"{shot:06d}.{image_format}"
            image.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(red_frame(shift=2 * frame)).save(image)
        for shot in (0, 1):  # stills: no sequence
            still = make_record(camera, 0, shot=shot)
            del still["sequence"], still["frame"]
            all_records.append(still)
    for record in all_records:
        name = record["camera"]["name"]
        path = root / "annotations" / name / f"{record['shot']:06d}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record))
    return all_records


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_write_sequence_outputs_writes_the_layout(tmp_path):
    recs = make_dataset(tmp_path)

    summary = video.write_sequence_outputs(
        tmp_path, recs, CLASSES, JOB, CREATED, camera_order=CAMERAS
    )

    for camera in CAMERAS:
        for name in ("000003.json", "000003-tracking.json", "000003-detection.json"):
            assert (tmp_path / "sequences" / camera / name).is_file()
    # Instances 1 and 2, each in both cameras: 2 tracks. Boxes: the 9 entries of BOXES.
    assert summary == {
        "sequences": 1,
        "camera_sequences": 2,
        "frames": 6,
        "boxes": len(BOXES),
        "tracks": 2,
    }


def test_write_sequence_outputs_manifests_have_one_line_per_camera_sequence(tmp_path):
    recs = make_dataset(tmp_path)
    video.write_sequence_outputs(tmp_path, recs, CLASSES, JOB, CREATED, camera_order=CAMERAS)

    inputs = read_lines(tmp_path / "video-input.jsonl")
    tracking = read_lines(tmp_path / "video-tracking.jsonl")
    detection = read_lines(tmp_path / "video-detection.jsonl")

    expected_refs = ["sequences/top/000003.json", "sequences/side/000003.json"]
    assert [line["source-ref"] for line in inputs] == expected_refs
    assert [line["source-ref"] for line in tracking] == expected_refs
    assert [line["source-ref"] for line in detection] == expected_refs
    assert [line["tracking-ref"] for line in tracking] == [
        "sequences/top/000003-tracking.json",
        "sequences/side/000003-tracking.json",
    ]
    assert tracking[0]["tracking-ref-metadata"]["type"] == "groundtruth/video-object-tracking"
    assert detection[0]["detection-ref-metadata"]["type"] == "groundtruth/video-object-detection"


def test_every_path_a_manifest_line_names_exists(tmp_path):
    recs = make_dataset(tmp_path)
    video.write_sequence_outputs(tmp_path, recs, CLASSES, JOB, CREATED)

    for name in ("video-input.jsonl", "video-tracking.jsonl", "video-detection.jsonl"):
        for line in read_lines(tmp_path / name):
            refs = [v for k, v in line.items() if k == "source-ref" or k.endswith("-ref")]
            assert refs
            for ref in refs:
                assert (tmp_path / ref).is_file(), ref


def test_frame_names_exist_under_the_prefix(tmp_path):
    recs = make_dataset(tmp_path)
    video.write_sequence_outputs(tmp_path, recs, CLASSES, JOB, CREATED)

    for line in read_lines(tmp_path / "video-input.jsonl"):
        seq = json.loads((tmp_path / line["source-ref"]).read_text())
        assert seq["prefix"].endswith("/")
        for entry in seq["frames"]:
            assert (tmp_path / seq["prefix"] / entry["frame"]).is_file()
        label_line = next(
            t
            for t in read_lines(tmp_path / "video-tracking.jsonl")
            if t["source-ref"] == line["source-ref"]
        )
        label = json.loads((tmp_path / label_line["tracking-ref"]).read_text())
        assert [e["frame"] for e in label["tracking-annotations"]] == [
            e["frame"] for e in seq["frames"]
        ]


def test_written_files_match_the_pure_functions(tmp_path):
    recs = make_dataset(tmp_path)
    video.write_sequence_outputs(tmp_path, recs, CLASSES, JOB, CREATED)

    seq = json.loads((tmp_path / "sequences/side/000003.json").read_text())
    label = json.loads((tmp_path / "sequences/side/000003-detection.json").read_text())
    side = [r for r in recs if r["camera"]["name"] == "side" and "sequence" in r]
    assert seq == video.sequence_file(3, "side", side, "images/side/", start_unix=CREATED_UNIX)
    assert label == video.seq_label_file(side, "detection", CLASS_MAP)
    # Timestamps start at the creation date, in unix seconds.
    assert seq["frames"][0]["unix-timestamp"] == CREATED_UNIX


def test_write_sequence_outputs_uses_the_datasets_image_format(tmp_path):
    recs = make_dataset(tmp_path, image_format="jpg")
    video.write_sequence_outputs(tmp_path, recs, CLASSES, JOB, CREATED)

    seq = json.loads((tmp_path / "sequences/top/000003.json").read_text())
    assert seq["frames"][0]["frame"] == "000030.jpg"
    assert (tmp_path / seq["prefix"] / seq["frames"][0]["frame"]).is_file()


def test_write_sequence_outputs_prefixes_locations(tmp_path):
    recs = make_dataset(tmp_path)
    bucket = "s3://bucket/dataset/"
    video.write_sequence_outputs(
        tmp_path, recs, CLASSES, JOB, CREATED, camera_order=CAMERAS, location=bucket
    )

    line = read_lines(tmp_path / "video-tracking.jsonl")[0]
    seq = json.loads((tmp_path / "sequences/top/000003.json").read_text())
    assert line["source-ref"] == bucket + "sequences/top/000003.json"
    assert line["tracking-ref"] == bucket + "sequences/top/000003-tracking.json"
    assert seq["prefix"] == bucket + "images/top/"


def test_write_sequence_outputs_is_deterministic(tmp_path):
    recs = make_dataset(tmp_path)
    names = ["video-input.jsonl", "video-tracking.jsonl", "sequences/top/000003-tracking.json"]

    video.write_sequence_outputs(tmp_path, recs, CLASSES, JOB, CREATED)
    first = [(tmp_path / n).read_bytes() for n in names]
    video.write_sequence_outputs(tmp_path, list(reversed(recs)), CLASSES, JOB, CREATED)

    assert [(tmp_path / n).read_bytes() for n in names] == first
    assert not list(tmp_path.rglob(f"*{TEMP_SUFFIX}"))


def test_write_sequence_outputs_writes_nothing_without_sequences(tmp_path):
    recs = [r for r in make_dataset(tmp_path) if "sequence" not in r]

    summary = video.write_sequence_outputs(tmp_path, recs, CLASSES, JOB, CREATED)

    assert summary["camera_sequences"] == 0
    assert not (tmp_path / "video-input.jsonl").exists()
    assert not (tmp_path / "sequences").exists()


# ---------------------------------------------------------------------------------------------
# MP4 previews


def decode(path: Path) -> tuple[tuple[int, int], list[np.ndarray]]:
    """(width, height) and the RGB frames of a video, decoded by ffmpeg."""
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = reader.__next__()
    width, height = meta["size"]
    frames = [np.frombuffer(f, np.uint8).reshape(height, width, 3) for f in reader]
    return (width, height), frames


def save_frames(folder: Path, frames: list[np.ndarray]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, rgb in enumerate(frames):
        paths.append(folder / f"{i:06d}.png")
        Image.fromarray(rgb).save(paths[-1])
    return paths


def test_mp4_decodes_to_the_frames(tmp_path):
    paths = save_frames(tmp_path / "frames", [red_frame(shift=s) for s in range(5)])
    out = tmp_path / "out" / "preview.mp4"

    assert video.write_preview_mp4(paths, out, fps=10) == out

    assert out.is_file() and out.stat().st_size > 0
    size, frames = decode(out)
    assert size == (W, H)
    assert len(frames) == 5
    mean = frames[0].reshape(-1, 3).mean(axis=0)
    assert mean[0] > 150 and mean[1] < 80 and mean[2] < 80  # mostly red stays mostly red
    assert not list(out.parent.glob(f".*{TEMP_SUFFIX}"))


def test_mp4_of_odd_sized_frames_is_padded_to_even(tmp_path):
    # Red left of column 16, blue from it on: padding keeps the edge there, rescaling would not.
    rgb = np.zeros((25, 33, 3), np.uint8)
    rgb[:, :16] = (220, 0, 0)
    rgb[:, 16:] = (0, 0, 220)
    paths = save_frames(tmp_path / "frames", [rgb] * 3)
    out = tmp_path / "odd.mp4"

    video.write_preview_mp4(paths, out, fps=5)

    size, frames = decode(out)
    assert size == (34, 26)
    assert len(frames) == 3
    decoded = frames[0].astype(int)
    left, right = decoded[:, 15].mean(axis=0), decoded[:, 16].mean(axis=0)
    assert left[0] > 180 and left[2] < 40
    assert right[2] > 180 and right[0] < 40
    # The added column and row repeat their neighbours.
    assert np.abs(decoded[:, 33] - decoded[:, 32]).max() < 20
    assert np.abs(decoded[25] - decoded[24]).max() < 20


def test_mp4_of_jpeg_frames(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    paths = []
    for i in range(2):
        paths.append(folder / f"{i}.jpg")
        Image.fromarray(red_frame()).save(paths[-1], quality=95)

    video.write_preview_mp4(paths, tmp_path / "jpeg.mp4", fps=2)

    assert len(decode(tmp_path / "jpeg.mp4")[1]) == 2


def test_mp4_refuses_frames_of_two_sizes_and_leaves_nothing(tmp_path):
    paths = save_frames(tmp_path / "frames", [red_frame(), red_frame(16, 16)])
    out = tmp_path / "mixed.mp4"

    with pytest.raises(ValueError, match="one size"):
        video.write_preview_mp4(paths, out, fps=10)

    assert not out.exists()
    assert not list(tmp_path.glob(f".*{TEMP_SUFFIX}"))


def test_mp4_refuses_no_frames(tmp_path):
    with pytest.raises(ValueError, match="no frames"):
        video.write_preview_mp4([], tmp_path / "empty.mp4", fps=10)


def test_preview_videos_writes_one_mp4_per_camera_sequence(tmp_path):
    make_dataset(tmp_path)

    written = video.preview_videos(tmp_path, camera_order=CAMERAS)

    assert written == [
        tmp_path / "previews/top/000003.mp4",
        tmp_path / "previews/side/000003.mp4",
    ]
    for path in written:
        size, frames = decode(path)
        assert size == (W, H)
        assert len(frames) == len(FRAMES)


def test_frame_rate_from_timestamps():
    assert video.frame_rate(records()) == pytest.approx(10.0)
    assert video.frame_rate(records()[:1]) == video.DEFAULT_PREVIEW_FPS
