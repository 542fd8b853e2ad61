"""SageMaker Ground Truth video-frame files for sequences, and MP4 previews of them.

One Ground Truth sequence is one camera's frames of one groundforge sequence. Under the root:

    sequences/<camera>/<seq>.json            sequence file (seq-no, prefix, frames)
    sequences/<camera>/<seq>-tracking.json   SeqLabel, tracking-annotations
    sequences/<camera>/<seq>-detection.json  SeqLabel, detection-annotations
    video-input.jsonl                        input manifest: {"source-ref": sequence file}
    video-tracking.jsonl                     output manifest, label attribute `tracking-ref`
    video-detection.jsonl                    output manifest, label attribute `detection-ref`
    previews/<camera>/<seq>.mp4              H.264 preview of the frames

<seq> is the sequence number zero-padded to 6 digits, like shot names. Every location written
into these files is relative to the dataset root (a sequence file's `prefix` too, not relative
to the sequence file), unless a `location` prefix such as 's3://bucket/dataset/' is given.

Choices where Ground Truth leaves room:
- `frame-no` is the frame's position in its camera's sequence, from 0. It equals the sequence
  frame index unless frames are skipped (a camera's frame_divisor, a missing image); the index
  itself stays in the annotation JSON, found by the frame's file name (its shot). Sequence files
  write it as an integer, as Ground Truth's input examples do; SeqLabel files as a string, as
  Ground Truth's own output does.
- `unix-timestamp` is start_unix plus the annotation's `timestamp` (seconds from the sequence
  start), rounded to microseconds; start_unix defaults to the dataset's creation date, so every
  sequence appears to start when the dataset was made and a re-run writes identical files.
- `object-id` is a UUID, as Ground Truth writes, but derived (uuid5) from the scope (the job
  name), the sequence and the instance id: the same for one object in every frame and camera of
  a sequence, different for every other object, and the same on every run.
- `object-name` is `<class name>:<instance id>`. Ground Truth numbers objects per class
  (`car:1`); the instance id is used instead because a count made per camera would name one
  object differently in two cameras, and the id joins the label to groundforge's annotations.
"""

from __future__ import annotations

import json
import logging
import statistics
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Literal

import numpy as np
from PIL import Image

# A module, not its names: layout imports this module, so its names may not exist yet here.
from groundforge.export import layout
from groundforge.export.coco import visible_objects
from groundforge.export.files import atomic_open, atomic_path, write_json

logger = logging.getLogger(__name__)

Kind = Literal["tracking", "detection"]
KINDS: tuple[Kind, ...] = ("tracking", "detection")
SEQUENCES_DIR = "sequences"
PREVIEWS_DIR = "previews"
VIDEO_INPUT = "video-input.jsonl"
VIDEO_MANIFESTS: dict[Kind, str] = {
    "tracking": "video-tracking.jsonl",
    "detection": "video-detection.jsonl",
}
LABEL_ATTRIBUTES: dict[Kind, str] = {"tracking": "tracking-ref", "detection": "detection-ref"}
_ANNOTATION_KEYS: dict[Kind, str] = {
    "tracking": "tracking-annotations",
    "detection": "detection-annotations",
}
_TYPES: dict[Kind, str] = {
    "tracking": "groundtruth/video-object-tracking",
    "detection": "groundtruth/video-object-detection",
}
OBJECT_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "object-id.groundforge")
DEFAULT_PREVIEW_FPS = 10.0


def sequence_name(sequence: int) -> str:
    """The file stem of a sequence: zero-padded to 6 digits ('000003')."""
    if sequence < 0:
        raise ValueError(f"sequence must be >= 0, got {sequence}")
    return f"{sequence:06d}"


def sequence_paths(camera: str, sequence: int) -> dict[str, str]:
    """Paths of one camera's sequence files, relative to the dataset root, POSIX style.

    Keys: sequence, tracking, detection (SeqLabel files), preview (MP4).
    """
    stem = f"{SEQUENCES_DIR}/{camera}/{sequence_name(sequence)}"
    return {
        "sequence": f"{stem}.json",
        "tracking": f"{stem}-tracking.json",
        "detection": f"{stem}-detection.json",
        "preview": f"{PREVIEWS_DIR}/{camera}/{sequence_name(sequence)}.mp4",
    }


def image_path(record: dict, image_format: str = "png") -> str:
    """The image of an annotation dict, relative to the dataset root ('images/top/000012.png')."""
    return layout.relative_paths(record["camera"]["name"], record["shot"], image_format)["image"]


def image_prefix(camera: str, image_format: str = "png") -> str:
    """The folder of a camera's images relative to the root, ending in '/' ('images/top/')."""
    return str(PurePosixPath(layout.relative_paths(camera, 0, image_format)["image"]).parent) + "/"


def ordered_frames(frames: Iterable[dict]) -> list[dict]:
    """The annotation dicts of one camera's sequence, by frame; refuses a mix or repeated frames."""
    frames = sorted(frames, key=lambda r: r["frame"])
    if not frames:
        raise ValueError("frames: a sequence needs at least one frame")
    keys = {(r.get("sequence"), r["camera"]["name"]) for r in frames}
    if len(keys) > 1:
        raise ValueError(
            f"frames: expected one sequence of one camera, got (sequence, camera) {sorted(keys)}"
        )
    numbers = [r["frame"] for r in frames]
    if len(set(numbers)) != len(numbers):
        raise ValueError(f"frames: frame numbers repeat in sequence {frames[0].get('sequence')}")
    return frames


def sequence_file(
    sequence: int,
    camera: str,
    frames: list[dict],
    prefix: str,
    *,
    image_format: str = "png",
    start_unix: float = 0.0,
) -> dict:
    """The Ground Truth sequence file of one camera's frames of one sequence.

    frames: annotation dicts with `sequence`, `frame`, `shot` and `timestamp` (seconds from
    the sequence start), in any order. prefix: the location of the camera's images, ending in
    '/'. start_unix: unix seconds of the sequence start.
    """
    if not prefix.endswith("/"):
        raise ValueError(f"prefix must end in '/', got {prefix!r}")
    frames = ordered_frames(frames)
    if frames[0].get("sequence") != sequence or frames[0]["camera"]["name"] != camera:
        raise ValueError(
            f"frames are of sequence {frames[0].get('sequence')} camera "
            f"{frames[0]['camera']['name']!r}, not sequence {sequence} camera {camera!r}"
        )
    return {
        "seq-no": int(sequence),
        "prefix": prefix,
        "number-of-frames": len(frames),
        "frames": [
            {
                "frame-no": position,
                "frame": PurePosixPath(image_path(record, image_format)).name,
                "unix-timestamp": round(start_unix + float(record["timestamp"]), 6),
            }
            for position, record in enumerate(frames)
        ],
    }


def object_id(sequence: int, instance_id: int, scope: str = "") -> str:
    """The Ground Truth object-id of one object of a sequence: a UUID fixed by its arguments."""
    return str(
        uuid.uuid5(OBJECT_ID_NAMESPACE, f"{scope}/sequence/{sequence}/instance/{instance_id}")
    )


def seq_label_file(
    frames: list[dict],
    kind: Kind,
    class_map: Mapping[int, str],
    *,
    image_format: str = "png",
    scope: str = "",
) -> dict:
    """The SeqLabel file of one camera's sequence: one entry per frame, its visible objects' boxes.

    kind: 'tracking' adds object-id and object-name to each box. class_map: class id -> name,
    for object names (an object's own class_name where its id is missing). scope: a name that
    keeps object-ids apart between datasets (the job name).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    frames = ordered_frames(frames)
    sequence = frames[0].get("sequence")
    entries = []
    for position, record in enumerate(frames):
        boxes = []
        for obj in _labelled_objects(record):
            box = _box(obj)
            if kind == "tracking":
                name = class_map.get(int(obj["class_id"]), obj["class_name"])
                box["object-id"] = object_id(sequence, int(obj["instance_id"]), scope)
                box["object-name"] = f"{name}:{int(obj['instance_id'])}"
            boxes.append(box)
        entries.append(
            {
                "frame-no": str(position),
                "frame": PurePosixPath(image_path(record, image_format)).name,
                "frame-attributes": {},
                "annotations": boxes,
            }
        )
    return {_ANNOTATION_KEYS[kind]: entries}


def _box(obj: dict) -> dict:
    left, top, width, height = (int(v) for v in obj["bbox_visible"])
    return {
        "height": height,
        "width": width,
        "top": top,
        "left": left,
        "class-id": str(int(obj["class_id"])),
        "label-category-attributes": {},
    }


def video_manifest_lines(
    sequence_ref: str,
    label_ref: str,
    kind: Kind,
    class_map: Mapping[int, str],
    job_name: str,
    creation_date: str,
) -> tuple[dict, dict]:
    """(input line, output line) of one sequence file and its SeqLabel file of `kind`.

    The refs are locations as they should appear in the manifest (relative to the root, or with
    a bucket prefix). class_map: every class of the dataset, id -> name.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    attribute = LABEL_ATTRIBUTES[kind]
    output = {
        "source-ref": sequence_ref,
        attribute: label_ref,
        f"{attribute}-metadata": {
            "class-map": {str(int(i)): str(n) for i, n in sorted(class_map.items())},
            "job-name": job_name,
            "human-annotated": "no",
            "creation-date": creation_date,
            "type": _TYPES[kind],
        },
    }
    return {"source-ref": sequence_ref}, output


def unix_seconds(iso_date: str) -> float:
    """Unix seconds of an ISO 8601 date ('2025-01-31T12:00:00Z'); a date without zone is UTC."""
    try:
        moment = datetime.fromisoformat(iso_date)
    except ValueError as err:
        raise ValueError(f"creation_date {iso_date!r} is not an ISO 8601 date") from err
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def group_sequences(
    records: Iterable[dict], camera_order: Sequence[str] = ()
) -> dict[tuple[int, str], list[dict]]:
    """(sequence, camera) -> its annotation dicts by frame; records without a sequence are skipped.

    Keys are in sequence order, then cameras in `camera_order` (the rig order), then by name.
    """
    groups: dict[tuple[int, str], list[dict]] = {}
    for record in records:
        if record.get("sequence") is None:
            continue
        key = (int(record["sequence"]), record["camera"]["name"])
        groups.setdefault(key, []).append(record)
    rank = {name: i for i, name in enumerate(camera_order)}
    order = sorted(groups, key=lambda k: (k[0], rank.get(k[1], len(rank)), k[1]))
    return {key: ordered_frames(groups[key]) for key in order}


def write_sequence_outputs(
    root: Path,
    records: Iterable[dict],
    info_classes: Iterable[tuple[int, str]] | Mapping[int, str],
    job_name: str,
    creation_date: str,
    *,
    image_format: str | None = None,
    camera_order: Sequence[str] = (),
    location: str = "",
    start_unix: float | None = None,
) -> dict:
    """Write the sequence and SeqLabel files of every (sequence, camera) and the three manifests.

    records: annotation dicts; those without `sequence` are ignored, and with none left nothing
    is written. info_classes: the dataset's (id, name) pairs. image_format: of the images
    (default: dataset.json's, else png). location: prefixed to every location in the files.
    start_unix: unix seconds of each sequence's start (default: creation_date).
    Returns counts: sequences, camera_sequences (manifest lines), frames, boxes, tracks.
    """
    root = Path(root)
    class_map = dict(info_classes)
    if image_format is None:
        image_format = _dataset_image_format(root)
    if start_unix is None:
        start_unix = unix_seconds(creation_date)
    groups = group_sequences(records, camera_order)
    summary = {"sequences": 0, "camera_sequences": 0, "frames": 0, "boxes": 0, "tracks": 0}
    if not groups:
        return summary

    inputs: list[dict] = []
    outputs: dict[Kind, list[dict]] = {kind: [] for kind in KINDS}
    tracks: set[tuple[int, int]] = set()
    for (sequence, camera), frames in groups.items():
        lines = _write_camera_sequence(
            root,
            sequence,
            camera,
            frames,
            class_map,
            job_name,
            creation_date,
            image_format=image_format,
            location=location,
            start_unix=start_unix,
        )
        inputs.append(lines["input"])
        for kind in KINDS:
            outputs[kind].append(lines[kind])

        summary["frames"] += len(frames)
        for record in frames:
            boxes = _labelled_objects(record)
            summary["boxes"] += len(boxes)
            tracks.update((sequence, int(o["instance_id"])) for o in boxes)

    _write_lines(root / VIDEO_INPUT, inputs)
    for kind in KINDS:
        _write_lines(root / VIDEO_MANIFESTS[kind], outputs[kind])
    summary["sequences"] = len({sequence for sequence, _ in groups})
    summary["camera_sequences"] = len(groups)
    summary["tracks"] = len(tracks)
    logger.info(
        "wrote Ground Truth video files of %d sequences (%d camera sequences, %d frames) in %s",
        summary["sequences"],
        summary["camera_sequences"],
        summary["frames"],
        root,
    )
    return summary


def _write_camera_sequence(
    root: Path,
    sequence: int,
    camera: str,
    frames: list[dict],
    class_map: Mapping[int, str],
    job_name: str,
    creation_date: str,
    *,
    image_format: str,
    location: str,
    start_unix: float,
) -> dict[str, dict]:
    # Writes one camera's sequence file and SeqLabel files; returns its manifest lines by name.
    paths = sequence_paths(camera, sequence)
    (root / paths["sequence"]).parent.mkdir(parents=True, exist_ok=True)
    prefix = location + image_prefix(camera, image_format)
    contents = sequence_file(
        sequence, camera, frames, prefix, image_format=image_format, start_unix=start_unix
    )
    write_json(root / paths["sequence"], contents)

    lines: dict[str, dict] = {}
    for kind in KINDS:
        label = seq_label_file(frames, kind, class_map, image_format=image_format, scope=job_name)
        write_json(root / paths[kind], label)
        lines["input"], lines[kind] = video_manifest_lines(
            location + paths["sequence"],
            location + paths[kind],
            kind,
            class_map,
            job_name,
            creation_date,
        )
    return lines


def _labelled_objects(record: dict) -> list[dict]:
    # The objects that get a box: visible pixels, hence a visible box.
    return [o for o in visible_objects(record) if o.get("bbox_visible") is not None]


def _write_lines(path: Path, lines: list[dict]) -> None:
    with atomic_open(path, "w") as f:
        for line in lines:
            f.write(json.dumps(line, separators=(",", ":"), allow_nan=False) + "\n")


def _dataset_image_format(root: Path) -> str:
    path = root / layout.DATASET_JSON
    if not path.exists():
        return "png"
    return json.loads(path.read_text(encoding="utf-8")).get("image_format", "png")


def even_frame(rgb: np.ndarray) -> np.ndarray:
    """(H', W', 3) uint8: the frame padded by one repeated row or column where H or W is odd.

    yuv420p halves the chroma planes, so H.264 in it needs even sizes.
    """
    pad_h, pad_w = rgb.shape[0] % 2, rgb.shape[1] % 2
    if not (pad_h or pad_w):
        return rgb
    return np.pad(rgb, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")


def write_preview_mp4(frames: Sequence[Path], out: Path, fps: float, quality: int = 8) -> Path:
    """Write the PNG or JPEG frames as an H.264 yuv420p MP4 at `fps`, atomically; returns out.

    All frames must have the same size; an odd width or height is padded by one repeated row or
    column. quality: 1 (smallest) to 10 (best), imageio-ffmpeg's scale.
    """
    # Here, not at the top: the label files need no ffmpeg, so finalize works without it.
    import imageio_ffmpeg

    if not frames:
        raise ValueError(f"{out}: no frames to write")
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    first = _load_rgb(frames[0])
    size = first.shape[:2]
    height, width = even_frame(first).shape[:2]

    with atomic_path(out) as temp:
        writer = imageio_ffmpeg.write_frames(
            str(temp),
            (width, height),
            fps=float(fps),
            codec="libx264",
            pix_fmt_out="yuv420p",
            quality=quality,
            macro_block_size=2,  # sizes are made even here; 16 would have ffmpeg rescale
            ffmpeg_log_level="error",
            # The temporary name does not say mp4; faststart puts the index first for players;
            # a preview is for looking at, so a fast preset beats a small file (3x faster).
            output_params=["-f", "mp4", "-movflags", "+faststart", "-preset", "veryfast"],
        )
        writer.send(None)
        try:
            for index, path in enumerate(frames):
                rgb = first if index == 0 else _load_rgb(path)
                if rgb.shape[:2] != size:
                    raise ValueError(
                        f"{path}: frame is {rgb.shape[1]}x{rgb.shape[0]}, but the first frame "
                        f"{frames[0]} is {size[1]}x{size[0]}; a video needs one size"
                    )
                writer.send(np.ascontiguousarray(even_frame(rgb)).tobytes())
        finally:
            writer.close()
        if not temp.exists() or temp.stat().st_size == 0:
            raise RuntimeError(f"{out}: ffmpeg wrote no video (see its messages above)")
    return out


def _load_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def preview_videos(
    root: Path,
    fps: float | None = None,
    camera_order: Sequence[str] = (),
    missing_only: bool = False,
) -> list[Path]:
    """Write previews/<camera>/<seq>.mp4 for every camera of every sequence; returns the paths.

    fps: frames per second of the videos; by default each one's from its frames' timestamps
    (1 / the median step), or 10 where a sequence has one frame.
    missing_only: leave previews that exist alone (the batch runner writes them as it goes).
    """
    root = Path(root)
    image_format = _dataset_image_format(root)
    records = [
        json.loads(path.read_text(encoding="utf-8"))
        for _, _, path in layout.scan_annotations(root, camera_order)
    ]
    written = []
    for (sequence, camera), frames in group_sequences(records, camera_order).items():
        out = root / sequence_paths(camera, sequence)["preview"]
        if missing_only and out.is_file():
            continue
        images = [root / image_path(record, image_format) for record in frames]
        rate = fps if fps is not None else frame_rate(frames)
        written.append(write_preview_mp4(images, out, rate))
    logger.info("wrote %d sequence previews under %s", len(written), root / PREVIEWS_DIR)
    return written


def frame_rate(frames: Sequence[dict]) -> float:
    """Frames per second of annotation dicts in frame order: 1 / the median timestamp step."""
    steps = [b["timestamp"] - a["timestamp"] for a, b in zip(frames, frames[1:], strict=False)]
    steps = [s for s in steps if s > 0]
    if not steps:
        return DEFAULT_PREVIEW_FPS
    return 1.0 / statistics.median(steps)
