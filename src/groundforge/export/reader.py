"""Reading a dataset written by DatasetWriter back into numpy arrays and annotation dicts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from groundforge.export.flow import load_flow
from groundforge.export.layout import (
    COCO_JSON,
    DATASET_JSON,
    MANIFEST,
    decode_depth,
    flow_path,
    relative_paths,
    scan_annotations,
)
from groundforge.export.palette import decode_semantic


class DatasetReader:
    """A dataset on disk: its dataset.json, its complete images and their files.

    Works on unfinished datasets too: an image counts once its annotation JSON exists.
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        path = self.root / DATASET_JSON
        if not path.exists():
            raise FileNotFoundError(f"{path}: not a groundforge dataset (no {DATASET_JSON})")
        self.info: dict = json.loads(path.read_text(encoding="utf-8"))

    @property
    def finished(self) -> bool:
        """Whether finalize has run since the last write (dataset.json has counts)."""
        return "counts" in self.info

    @property
    def camera_names(self) -> list[str]:
        """Camera names in rig order."""
        return [c["name"] for c in self.info["cameras"]]

    def keys(self) -> list[tuple[int, str]]:
        """(shot, camera) of every complete image, by shot then camera."""
        return [(s, c) for s, c, _ in scan_annotations(self.root, self.camera_names)]

    def paths(self, camera: str, shot: int) -> dict[str, Path]:
        """Absolute paths of one image's files: image, depth, instance, semantic, annotation."""
        rel = relative_paths(camera, shot, self.info.get("image_format", "png"))
        return {k: self.root / v for k, v in rel.items()}

    def records(self) -> Iterator[tuple[dict, dict[str, Path]]]:
        """(annotation dict, paths) of every complete image, by shot then camera."""
        for shot, camera in self.keys():
            yield self.load_annotation(camera, shot), self.paths(camera, shot)

    def load_annotation(self, camera: str, shot: int) -> dict:
        """The annotation JSON of one image."""
        return json.loads(self.paths(camera, shot)["annotation"].read_text(encoding="utf-8"))

    def load_image(self, camera: str, shot: int) -> np.ndarray:
        """(H, W, 3) uint8 RGB."""
        with Image.open(self.paths(camera, shot)["image"]) as image:
            return np.asarray(image.convert("RGB"))

    def load_depth(self, camera: str, shot: int) -> np.ndarray:
        """(H, W) float32 z-depth, metres; 0 where no surface."""
        with Image.open(self.paths(camera, shot)["depth"]) as image:
            return decode_depth(np.asarray(image), self.info.get("depth_scale", 0.001))

    def load_instance(self, camera: str, shot: int) -> np.ndarray:
        """(H, W) uint16 instance ids; 0 is background."""
        with Image.open(self.paths(camera, shot)["instance"]) as image:
            return np.asarray(image).astype(np.uint16)

    def load_semantic(self, camera: str, shot: int) -> np.ndarray:
        """(H, W) uint16 class ids decoded from the palette colours; 0 is background."""
        with Image.open(self.paths(camera, shot)["semantic"]) as image:
            return decode_semantic(np.asarray(image.convert("RGB")))

    def load_flow(self, camera: str, shot: int) -> np.ndarray | None:
        """(H, W, 2) float32 forward flow in pixels, or None when the image has none."""
        path = self.root / flow_path(camera, shot)
        return load_flow(path) if path.is_file() else None

    def load(self, camera: str, shot: int) -> dict[str, np.ndarray | dict]:
        """Everything of one image: rgb, depth_m, instance, semantic arrays and the annotation."""
        return {
            "rgb": self.load_image(camera, shot),
            "depth_m": self.load_depth(camera, shot),
            "instance": self.load_instance(camera, shot),
            "semantic": self.load_semantic(camera, shot),
            "annotation": self.load_annotation(camera, shot),
        }

    def manifest(self) -> Iterator[dict]:
        """The lines of manifest.jsonl (after finalize)."""
        with open(self.root / MANIFEST, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    yield json.loads(line)

    def coco(self) -> dict:
        """coco.json as a dict (after finalize)."""
        return json.loads((self.root / COCO_JSON).read_text(encoding="utf-8"))
