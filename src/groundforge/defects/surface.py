"""Geometry helpers for defects: points on a mesh surface, walking along it, and local mesh
refinement, all in the mesh's object frame."""

from __future__ import annotations

import numpy as np
import trimesh
from scipy.spatial import cKDTree

from groundforge.assets.meshes import content_key
from groundforge.world.state import Mesh


def face_areas(mesh: Mesh) -> np.ndarray:
    """(M,) float64 triangle areas."""
    tri = np.asarray(mesh.vertices, np.float64)[mesh.faces]
    return 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)


def face_normals(mesh: Mesh) -> np.ndarray:
    """(M, 3) unit face normals oriented like the vertex normals (outwards)."""
    tri = np.asarray(mesh.vertices, np.float64)[mesh.faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-20)
    vertex_side = np.asarray(mesh.normals, np.float64)[mesh.faces].sum(axis=1)
    flip = np.einsum("ij,ij->i", n, vertex_side) < 0
    n[flip] = -n[flip]
    return n


def random_surface_point(
    mesh: Mesh, rng: np.random.Generator, facing: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """A point on the surface drawn by area, and the outward normal there. With `facing` (a
    unit direction in the object frame), only faces whose normal is within 60 degrees of it
    are drawn from, when there are any."""
    areas = face_areas(mesh)
    normals = face_normals(mesh)
    if facing is not None:
        ok = normals @ np.asarray(facing, np.float64) > 0.5
        if (areas * ok).sum() > 0:
            areas = areas * ok
    face = int(rng.choice(len(areas), p=areas / areas.sum()))
    a, b = rng.random(2)
    if a + b > 1:
        a, b = 1 - a, 1 - b
    tri = np.asarray(mesh.vertices, np.float64)[mesh.faces[face]]
    point = tri[0] + a * (tri[1] - tri[0]) + b * (tri[2] - tri[0])
    return point, normals[face]


class SurfaceWalker:
    """Projects points onto a mesh: the nearest point on one of the triangles near it."""

    def __init__(self, mesh: Mesh):
        self.triangles = np.asarray(mesh.vertices, np.float64)[mesh.faces]
        self.normals = face_normals(mesh)
        self.tree = cKDTree(self.triangles.mean(axis=1))

    def project(self, point: np.ndarray, candidates: int = 12) -> tuple[np.ndarray, np.ndarray]:
        """(closest surface point, its face normal) among the faces with centroids nearest."""
        k = min(candidates, len(self.triangles))
        _, idx = self.tree.query(point, k=k)
        idx = np.atleast_1d(idx)
        closest = trimesh.triangles.closest_point(
            self.triangles[idx], np.repeat(point[None], len(idx), axis=0)
        )
        best = int(np.argmin(np.linalg.norm(closest - point, axis=1)))
        return closest[best], self.normals[idx[best]]

    def path(
        self,
        start: np.ndarray,
        normal: np.ndarray,
        length: float,
        steps: int,
        rng: np.random.Generator,
        wander_rad: float,
    ) -> np.ndarray:
        """(steps + 1, 3) points of a path on the surface from `start`, each step of
        length / steps turning by up to `wander_rad` within the tangent plane."""
        tangent = _any_tangent(normal, rng)
        points = [np.asarray(start, np.float64)]
        step = length / steps
        for _ in range(steps):
            angle = rng.uniform(-wander_rad, wander_rad)
            tangent = _rotate(tangent, normal, angle)
            nxt, n = self.project(points[-1] + step * tangent)
            # Keep going the same way over the new face.
            tangent = tangent - n * (tangent @ n)
            tangent /= max(np.linalg.norm(tangent), 1e-12)
            normal = n
            points.append(nxt)
        return np.stack(points)


def _any_tangent(normal: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=3)
    v -= normal * (v @ normal)
    return v / max(np.linalg.norm(v), 1e-12)


def _rotate(v: np.ndarray, axis: np.ndarray, angle: float) -> np.ndarray:
    """Rodrigues rotation of v about the unit axis."""
    c, s = np.cos(angle), np.sin(angle)
    return v * c + np.cross(axis, v) * s + axis * (axis @ v) * (1 - c)


def sagitta(chord: float, radius: float) -> float:
    """How far the middle of a chord of `chord` length dips below a circle of `radius`."""
    if radius <= 0 or chord >= 2 * radius:
        return chord / 2
    return radius - np.sqrt(radius**2 - (chord / 2) ** 2)


def make_mesh(vertices, faces, normals, uv, normalise: bool = True) -> Mesh:
    """A Mesh from arrays, with its content key."""
    vertices = np.ascontiguousarray(vertices, np.float32)
    faces = np.ascontiguousarray(faces, np.uint32)
    n = np.asarray(normals, np.float64)
    if normalise:
        n = n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-20)
    normals = np.ascontiguousarray(n, np.float32)
    uv = np.ascontiguousarray(uv, np.float32)
    return Mesh(vertices, faces, normals, uv, content_key(vertices, faces, normals, uv))
