"""Rigid transforms, pinhole projection and near-plane clipping of camera-frame geometry."""

from __future__ import annotations

import numpy as np


def transform_points(transform: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N, 3) float64 points mapped by a (4, 4) rigid transform."""
    points = np.asarray(points, dtype=np.float64)
    transform = np.asarray(transform, dtype=np.float64)
    return points @ transform[:3, :3].T + transform[:3, 3]


def to_camera(points_world: np.ndarray, world_to_camera: np.ndarray) -> np.ndarray:
    """(N, 3) float64 camera-frame points (OpenCV: x right, y down, z forward), metres."""
    return transform_points(world_to_camera, points_world)


def project(points_cam: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(N, 2) float64 continuous pixel coordinates (u, v) of camera-frame points with z > 0.

    The top-left pixel spans [0, 1) x [0, 1); points at z <= 0 give meaningless values, so clip
    against the near plane first (`clip_edges_near`).
    """
    points_cam = np.asarray(points_cam, dtype=np.float64)
    uvw = points_cam @ np.asarray(K, dtype=np.float64).T
    return uvw[:, :2] / uvw[:, 2:3]


def mesh_edges(faces: np.ndarray) -> np.ndarray:
    """(3M, 2) int64 vertex-index pairs of every triangle edge of (M, 3) faces."""
    faces = np.asarray(faces, dtype=np.int64)
    return np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])


def clip_edges_near(points_cam: np.ndarray, edges: np.ndarray, near: float) -> np.ndarray:
    """(K, 3) float64 points where the edges cross the plane z = near, camera frame.

    Together with the vertices at z >= near these are the vertices of the mesh clipped to the
    half-space in front of the near plane, so their projection bounds what the camera can see.
    """
    z = points_cam[:, 2]
    a, b = edges[:, 0], edges[:, 1]
    crossing = (z[a] >= near) != (z[b] >= near)
    a, b = a[crossing], b[crossing]
    t = (near - z[a]) / (z[b] - z[a])
    hits = points_cam[a] + t[:, None] * (points_cam[b] - points_cam[a])
    # Set z exactly: rounding in t must not push a point back behind the plane.
    hits[:, 2] = near
    return hits
