"""Optical flow files in the Middlebury `.flo` layout, which flow toolkits read as it is.

Layout, little-endian: the float32 202021.25 (the bytes 'PIEH'), int32 width, int32 height,
then height x width pairs of float32 (u, v), row by row from the top: the forward flow in
pixels, where the surface point seen at that pixel centre projects in the next frame minus
where it projects now (+u right, +v down). Pixels with no surface hold (0, 0).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from groundforge.export.files import atomic_open

TAG = np.float32(202021.25)


def encode_flow(flow: np.ndarray) -> bytes:
    """The .flo file of (H, W, 2) float32 flow in pixels."""
    flow = np.asarray(flow, dtype="<f4")
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"flow must be (H, W, 2), got {flow.shape}")
    height, width = flow.shape[:2]
    header = np.array([TAG], "<f4").tobytes() + np.array([width, height], "<i4").tobytes()
    return header + np.ascontiguousarray(flow).tobytes()


def save_flow(path: Path, flow: np.ndarray) -> None:
    """Write flow as a .flo file, atomically."""
    with atomic_open(path, "wb") as f:
        f.write(encode_flow(flow))


def load_flow(path: Path) -> np.ndarray:
    """(H, W, 2) float32 flow in pixels from a .flo file."""
    data = Path(path).read_bytes()
    if len(data) < 12 or np.frombuffer(data[:4], "<f4")[0] != TAG:
        raise ValueError(f"{path} is not a .flo file (no 'PIEH' tag)")
    width, height = (int(v) for v in np.frombuffer(data[4:12], "<i4"))
    values = np.frombuffer(data[12:], "<f4")
    if values.size != width * height * 2:
        raise ValueError(f"{path}: expected {width}x{height} flow vectors, got {values.size // 2}")
    return values.reshape(height, width, 2).astype(np.float32)
