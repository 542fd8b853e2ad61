"""The dataset layout on disk (DESIGN.md "Dataset layout") and the writer that fills it.

Every file is written to a temporary name in its own folder and renamed into place, so a reader
never sees half a file. An image's annotation JSON is written after its pixels: its presence
means the image is complete, which is what resume (`is_done`) and `finalize` rely on.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np

import groundforge
from groundforge.export import coco, groundtruth
from groundforge.export import yolo as yolo_format
from groundforge.export.files import TEMP_SUFFIX, atomic_open, save_image, write_json
from groundforge.export.flow import save_flow
from groundforge.export.palette import encode_semantic
from groundforge.labels.annotate import camera_record
from groundforge.render.engine import Passes
from groundforge.world.state import Camera

logger = logging.getLogger(__name__)

LAYOUT_VERSION = 1
DATASET_JSON = "dataset.json"
MANIFEST = "manifest.jsonl"
COCO_JSON = "coco.json"
YOLO_YAML = "data.yaml"
# Fields that decide what the files mean; a resumed writer must agree on all of them.
IDENTITY_FIELDS = (
    "name",
    "scene_hash",
    "seed",
    "engine",
    "classes",
    "cameras",
    "depth_scale",
    "image_format",
)
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def utc_now() -> str:
    """The current time as ISO 8601 UTC, to the second ('2025-01-31T12:00:00Z')."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def shot_name(shot: int) -> str:
    """The file stem of a shot: zero-padded to 6 digits ('000042')."""
    if shot < 0:
        raise ValueError(f"shot must be >= 0, got {shot}")
    return f"{shot:06d}"


def relative_paths(camera: str, shot: int, image_format: str = "png") -> dict[str, str]:
    """Paths of one image's files, relative to the dataset root, POSIX style."""
    stem = shot_name(shot)
    extension = "jpg" if image_format == "jpg" else "png"
    return {
        "image": f"images/{camera}/{stem}.{extension}",
        "depth": f"depth/{camera}/{stem}.png",
        "instance": f"instance/{camera}/{stem}.png",
        "semantic": f"semantic/{camera}/{stem}.png",
        "annotation": f"annotations/{camera}/{stem}.json",
    }


def defect_path(camera: str, shot: int) -> str:
    """Where an image's defect-id pass goes (uint16 PNG; 0: no defect), relative to the root,
    for scenes that declare defects."""
    return f"defects/{camera}/{shot_name(shot)}.png"


def flow_path(camera: str, shot: int) -> str:
    """Where an image's optical flow goes, relative to the root (sequences only)."""
    return f"flow/{camera}/{shot_name(shot)}.flo"


@dataclasses.dataclass(kw_only=True)
class DatasetInfo:
    """What dataset.json says about a dataset, apart from the counts written by finalize.

    classes: (id, name) pairs, ids from 1. cameras: {name, width, height, K (3x3 list)} each.
    depth_scale: metres per unit of the depth PNGs. created: ISO 8601 UTC.
    """

    name: str
    scene_hash: str
    seed: int
    engine: str
    classes: list[tuple[int, str]]
    cameras: list[dict]
    generator_version: str = groundforge.__version__
    depth_scale: float = 0.001
    image_format: Literal["png", "jpg"] = "png"
    jpeg_quality: int | None = 95
    created: str = dataclasses.field(default_factory=utc_now)
    # Video datasets: fps, frames_per_sequence, frame_timestamps (seconds from each sequence's
    # start, frame by frame) and frame_divisors (camera name -> every n-th frame it renders).
    sequence: dict | None = None
    # Scenes with defects: class name -> {defect or fault name: its kind}, in the scene's
    # order (exports number the types by it).
    defect_types: dict[str, dict[str, str]] | None = None

    def __post_init__(self) -> None:
        if self.jpeg_quality is None:
            self.jpeg_quality = 95
        self.classes = [(int(i), str(n)) for i, n in self.classes]
        ids = [i for i, _ in self.classes]
        names = [n for _, n in self.classes]
        if any(i < 1 for i in ids) or len(set(ids)) != len(ids):
            raise ValueError(f"classes: ids must be unique and >= 1, got {ids}")
        if len(set(names)) != len(names):
            raise ValueError(f"classes: names must be unique, got {names}")
        for camera in self.cameras:
            if not _SAFE_NAME.match(str(camera.get("name", ""))):
                raise ValueError(f"cameras: {camera.get('name')!r} is not a usable folder name")
        if self.image_format not in ("png", "jpg"):
            raise ValueError(f"image_format must be 'png' or 'jpg', got {self.image_format!r}")
        if self.depth_scale <= 0:
            raise ValueError(f"depth_scale must be > 0, got {self.depth_scale}")

    @staticmethod
    def camera_entry(camera: Camera) -> dict:
        """The dataset.json entry of a camera: {name, width, height, K}."""
        record = camera_record(camera)
        del record["world_to_camera"]  # poses vary per shot; each annotation has its own
        return record

    @property
    def class_names(self) -> dict[int, str]:
        """Class id -> name."""
        return dict(self.classes)

    @property
    def camera_names(self) -> list[str]:
        """Camera names in rig order."""
        return [c["name"] for c in self.cameras]

    def to_dict(self) -> dict:
        """The JSON form written to dataset.json (without counts)."""
        return {
            "layout_version": LAYOUT_VERSION,
            "name": self.name,
            "generator_version": self.generator_version,
            "scene_hash": self.scene_hash,
            "seed": int(self.seed),
            "engine": self.engine,
            "classes": [{"id": i, "name": n} for i, n in self.classes],
            "cameras": [dict(c) for c in self.cameras],
            "depth_scale": float(self.depth_scale),
            "image_format": self.image_format,
            "jpeg_quality": int(self.jpeg_quality),
            "created": self.created,
            **({"sequence": self.sequence} if self.sequence is not None else {}),
            **({"defect_types": self.defect_types} if self.defect_types else {}),
        }

    @classmethod
    def from_dict(cls, data: dict) -> DatasetInfo:
        """The info of a dataset.json dict (counts and unknown keys ignored)."""
        return cls(
            name=data["name"],
            generator_version=data.get("generator_version", "unknown"),
            scene_hash=data["scene_hash"],
            seed=data["seed"],
            engine=data["engine"],
            classes=[(c["id"], c["name"]) for c in data["classes"]],
            cameras=data["cameras"],
            depth_scale=data.get("depth_scale", 0.001),
            image_format=data.get("image_format", "png"),
            jpeg_quality=data.get("jpeg_quality", 95),
            created=data["created"],
            sequence=data.get("sequence"),
            defect_types=data.get("defect_types"),
        )


def encode_depth(depth_m: np.ndarray, depth_scale: float = 0.001) -> np.ndarray:
    """(H, W) uint16 depth in units of depth_scale (round, clipped to 65535); 0 = no surface.

    A real surface never encodes as 0: depths that round to 0 are stored as 1.
    """
    depth_m = np.asarray(depth_m, dtype=np.float64)
    valid = np.isfinite(depth_m) & (depth_m > 0)
    units = np.rint(np.where(valid, depth_m, 0.0) / depth_scale)
    return np.where(valid, np.clip(units, 1, 65535), 0).astype(np.uint16)


def decode_depth(depth_png: np.ndarray, depth_scale: float = 0.001) -> np.ndarray:
    """(H, W) float32 metres of a uint16 depth PNG; 0 stays 0 (no surface)."""
    return (np.asarray(depth_png, dtype=np.float64) * depth_scale).astype(np.float32)


def scan_annotations(root: Path, camera_order: Sequence[str] = ()) -> list[tuple[int, str, Path]]:
    """(shot, camera, annotation path) of every complete image, by shot then camera.

    Cameras sort in `camera_order` (the rig order), then any others by name.
    """
    folder = Path(root) / "annotations"
    if not folder.is_dir():
        return []
    rank = {name: i for i, name in enumerate(camera_order)}
    found = []
    for camera_dir in folder.iterdir():
        if not camera_dir.is_dir():
            continue
        for path in camera_dir.glob("*.json"):
            if path.stem.isdigit():
                found.append((int(path.stem), camera_dir.name, path))
    found.sort(key=lambda k: (k[0], rank.get(k[1], len(rank)), k[1]))
    return found


class DatasetWriter:
    """Writes images and labels into the layout under `root`; assembles the manifests at the end.

    Several processes may write disjoint shots at once; one process calls `start` before and
    `finalize` after. A new writer on the same root resumes: `is_done` tells which shots to skip.
    """

    def __init__(self, root: Path, info: DatasetInfo):
        self.root = Path(root)
        self.info = info
        self._cameras = {c["name"]: c for c in info.cameras}
        self._made_dirs: set[Path] = set()

    def start(self) -> None:
        """Create the root and write dataset.json without counts, marking the dataset unfinished.

        On a root that already holds a dataset, check it is the same dataset and keep its
        creation date, so resumed and uninterrupted runs write identical manifests.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        self._adopt_existing()
        write_json(self.root / DATASET_JSON, self.info.to_dict())
        logger.info("dataset %r started in %s", self.info.name, self.root)

    def _adopt_existing(self) -> None:
        path = self.root / DATASET_JSON
        if not path.exists():
            return
        existing = json.loads(path.read_text(encoding="utf-8"))
        ours = self.info.to_dict()
        for field in IDENTITY_FIELDS:
            if existing.get(field) != ours[field]:
                raise ValueError(
                    f"{path}: field {field!r} is {existing.get(field)!r} on disk but "
                    f"{ours[field]!r} here; write to a new folder or match the existing dataset"
                )
        if existing.get("generator_version") != self.info.generator_version:
            logger.warning(
                "%s was started by groundforge %s, continuing with %s",
                path,
                existing.get("generator_version"),
                self.info.generator_version,
            )
        self.info = dataclasses.replace(self.info, created=existing["created"])

    def paths(self, camera: str, shot: int) -> dict[str, Path]:
        """Absolute paths of one image's files."""
        rel = relative_paths(camera, shot, self.info.image_format)
        return {k: self.root / v for k, v in rel.items()}

    def write_image(
        self, shot: int, camera: str, rgb: np.ndarray, passes: Passes, annotation: dict
    ) -> None:
        """Write one camera's image of one shot: rgb, depth, instance, semantic, then annotation.

        rgb: (H, W, 3) uint8 sRGB. annotation: from labels.annotate for this shot and camera.
        """
        self._check_image(shot, camera, rgb, passes, annotation)
        paths = self.paths(camera, shot)
        for path in paths.values():
            if path.parent not in self._made_dirs:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._made_dirs.add(path.parent)

        save_image(paths["image"], rgb, self.info.image_format, self.info.jpeg_quality)
        save_image(paths["depth"], encode_depth(passes.depth_m, self.info.depth_scale), smooth=True)
        save_image(paths["instance"], np.asarray(passes.instance, dtype=np.uint16))
        save_image(paths["semantic"], encode_semantic(passes.semantic))
        if passes.flow is not None:
            flow_rel = flow_path(camera, shot)
            (self.root / flow_rel).parent.mkdir(parents=True, exist_ok=True)
            save_flow(self.root / flow_rel, passes.flow)
            annotation = {**annotation, "flow": flow_rel}
        if "anomaly" in annotation:
            defect_rel = defect_path(camera, shot)
            (self.root / defect_rel).parent.mkdir(parents=True, exist_ok=True)
            ids = passes.defect if passes.defect is not None else np.zeros_like(passes.instance)
            save_image(self.root / defect_rel, np.asarray(ids, dtype=np.uint16))
            annotation = {**annotation, "defect_mask": defect_rel}
        # Last: its presence marks the image complete.
        write_json(paths["annotation"], annotation)

    def _check_image(
        self, shot: int, camera: str, rgb: np.ndarray, passes: Passes, annotation: dict
    ) -> None:
        if camera not in self._cameras:
            raise ValueError(f"camera {camera!r} is not one of {list(self._cameras)}")
        size = (self._cameras[camera]["height"], self._cameras[camera]["width"])
        if rgb.shape != size + (3,) or rgb.dtype != np.uint8:
            raise ValueError(f"rgb must be {size + (3,)} uint8, got {rgb.shape} {rgb.dtype}")
        for name in ("depth_m", "instance", "semantic"):
            shape = getattr(passes, name).shape
            if shape != size:
                raise ValueError(f"passes.{name} must be {size}, got {shape}")
        if annotation.get("shot") != shot or annotation.get("camera", {}).get("name") != camera:
            raise ValueError(
                f"annotation is for shot {annotation.get('shot')} camera "
                f"{annotation.get('camera', {}).get('name')!r}, not shot {shot} camera {camera!r}"
            )

    def is_done(self, shot: int, cameras: Sequence[str] | None = None) -> bool:
        """Whether every camera's annotation JSON of `shot` exists (all info cameras by default)."""
        names = self.info.camera_names if cameras is None else cameras
        return all(self.paths(c, shot)["annotation"].exists() for c in names)

    def finalize(
        self, yolo: bool = False, cameras_per_shot: Callable[[int], int] | None = None
    ) -> dict:
        """Assemble manifest.jsonl, coco.json (and YOLO labels) from the annotations on disk.

        Writes dataset.json with the counts and returns them. Deterministic in what is on disk,
        so calling it again, or after a resumed run, gives the same files.
        cameras_per_shot: how many images a shot should have (default: every camera's), to
        report incomplete shots where cameras skip frames.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        self._adopt_existing()
        self._remove_temp_files()
        info = self.info
        keys = scan_annotations(self.root, info.camera_names)
        strangers = sorted({cam for _, cam, _ in keys if cam not in self._cameras})
        if strangers:
            logger.warning(
                "%s: leaving out annotations of unknown cameras %s", self.root, strangers
            )
            keys = [k for k in keys if k[1] in self._cameras]

        images = [
            coco.image_entry(
                i, relative_paths(cam, shot, info.image_format)["image"], self._cameras[cam], shot
            )
            for i, (shot, cam, _) in enumerate(keys, start=1)
        ]
        per_class: Counter[str] = Counter()
        per_camera: Counter[str] = Counter()
        annotation_id = 0
        with (
            atomic_open(self.root / MANIFEST, "w") as manifest,
            atomic_open(self.root / COCO_JSON, "w") as coco_file,
        ):
            coco_writer = coco.StreamWriter(coco_file, info, images)
            for image_id, (shot, cam, path) in enumerate(keys, start=1):
                record = json.loads(path.read_text(encoding="utf-8"))
                self._check_record(path, record, images[image_id - 1])
                rel = relative_paths(cam, shot, info.image_format)
                line = groundtruth.manifest_line(record, info, rel)
                manifest.write(json.dumps(line, separators=(",", ":"), allow_nan=False) + "\n")
                for obj in coco.visible_objects(record):
                    annotation_id += 1
                    coco_writer.add(coco.annotation_entry(annotation_id, image_id, obj))
                    per_class[info.class_names.get(obj["class_id"], obj["class_name"])] += 1
                if yolo:
                    self._write_yolo_labels(cam, shot, record)
                per_camera[cam] += 1
            coco_writer.close()
        if yolo:
            yolo_format.write_data_yaml(self.root / YOLO_YAML, self.root, info)

        shots = sorted({shot for shot, _, _ in keys})
        cameras_of = Counter(shot for shot, _, _ in keys)
        expected = cameras_per_shot
        counts = {
            "images": len(keys),
            "shots": len(shots),
            "objects": annotation_id,
            "objects_per_class": {name: per_class.get(name, 0) for _, name in info.classes},
            "images_per_camera": {name: per_camera.get(name, 0) for name in info.camera_names},
            "incomplete_shots": [
                s for s in shots if cameras_of[s] < (expected(s) if expected else len(info.cameras))
            ],
        }
        if counts["incomplete_shots"]:
            logger.warning(
                "%d shots lack some camera's image: %s",
                len(counts["incomplete_shots"]),
                counts["incomplete_shots"][:10],
            )
        write_json(self.root / DATASET_JSON, {**info.to_dict(), "counts": counts})
        logger.info(
            "dataset %r finalized in %s: %d images, %d objects",
            info.name,
            self.root,
            counts["images"],
            counts["objects"],
        )
        return counts

    @staticmethod
    def _check_record(path: Path, record: dict, image: dict) -> None:
        # coco.json lists image sizes from dataset.json before the records are read.
        size = (record["camera"]["width"], record["camera"]["height"])
        if size != (image["width"], image["height"]) or record["shot"] != image["shot"]:
            raise ValueError(
                f"{path}: shot {record['shot']} at {size[0]}x{size[1]} does not match its file "
                f"name and dataset.json (shot {image['shot']}, {image['width']}x{image['height']})"
            )

    def _write_yolo_labels(self, camera: str, shot: int, record: dict) -> None:
        path = self.root / yolo_format.label_path(camera, shot)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(path, "w") as f:
            f.write(yolo_format.label_text(record))

    def _remove_temp_files(self) -> None:
        # Left by a killed writer; finalize runs when no writer is active.
        stale = [p for p in self.root.rglob(f".*{TEMP_SUFFIX}") if p.is_file()]
        for path in stale:
            path.unlink(missing_ok=True)
        if stale:
            logger.info("removed %d temporary files left by an interrupted run", len(stale))
