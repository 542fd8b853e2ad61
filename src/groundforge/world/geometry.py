"""Small rigid-transform helpers, world frame Z up, camera frames in the OpenCV convention."""

from __future__ import annotations

import numpy as np


def rotation_z(angle: float) -> np.ndarray:
    """(3, 3) rotation by `angle` radians about +Z."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rotation_x(angle: float) -> np.ndarray:
    """(3, 3) rotation by `angle` radians about +X."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def axis_angle(axis: np.ndarray, angle: float) -> np.ndarray:
    """(3, 3) rotation by `angle` radians about the unit `axis` (Rodrigues)."""
    axis = np.asarray(axis, dtype=np.float64)
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)


def rigid(rotation: np.ndarray, translation) -> np.ndarray:
    """(4, 4) transform from a (3, 3) rotation and a translation."""
    m = np.eye(4)
    m[:3, :3] = rotation
    m[:3, 3] = translation
    return m


def look_at(position, target, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """(4, 4) world_to_camera of a camera at `position` whose optical axis passes `target`.

    OpenCV axes: x right, y down, z forward. When the view is parallel to `up`, the image's
    up direction falls back to world +Y.
    """
    position = np.asarray(position, dtype=np.float64)
    forward = np.asarray(target, dtype=np.float64) - position
    norm = np.linalg.norm(forward)
    if norm == 0:
        raise ValueError("camera position and look_at are the same point")
    z = forward / norm
    x = np.cross(z, np.asarray(up, dtype=np.float64))
    if np.linalg.norm(x) < 1e-6:
        x = np.cross(z, [0.0, 1.0, 0.0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    rotation = np.stack([x, y, z])
    return rigid(rotation, -rotation @ position)


def intrinsics(width: int, height: int, fx: float, fy: float | None = None) -> np.ndarray:
    """(3, 3) K with the principal point at the image centre."""
    fy = fx if fy is None else fy
    return np.array([[fx, 0.0, width / 2.0], [0.0, fy, height / 2.0], [0.0, 0.0, 1.0]])


def rects_overlap(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two convex polygons, (N, 2) and (M, 2) corners in order, overlap (SAT)."""
    for poly in (a, b):
        edges = np.roll(poly, -1, axis=0) - poly
        normals = np.stack([-edges[:, 1], edges[:, 0]], axis=1)
        pa = a @ normals.T
        pb = b @ normals.T
        if np.any(pa.max(axis=0) <= pb.min(axis=0)) or np.any(pb.max(axis=0) <= pa.min(axis=0)):
            return False
    return True


def box_corners(lo, hi) -> np.ndarray:
    """(8, 3) corners of the axis-aligned box [lo, hi], x varying fastest, then y, then z."""
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    index = np.arange(8)
    bits = np.stack([index & 1, (index >> 1) & 1, (index >> 2) & 1], axis=1).astype(bool)
    return np.where(bits, hi, lo)
