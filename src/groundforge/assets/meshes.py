"""Conversion from trimesh meshes to the renderable `Mesh`."""

from __future__ import annotations

import hashlib

import numpy as np
import trimesh

from groundforge.world.state import Mesh


def content_key(*arrays: np.ndarray) -> str:
    """A short hash of array contents, used as a cache identity."""
    h = hashlib.blake2b(digest_size=12)
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str(a.dtype).encode() + str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def mesh_from_trimesh(
    tm: trimesh.Trimesh, uv: np.ndarray | None = None, flat: bool = False
) -> Mesh:
    """A `Mesh` with the vertex normals and uv of `tm` (uv from its visuals when not given).

    flat: give every face its own vertices and the face normal, for hard-edged shapes.
    """
    if uv is None:
        uv = getattr(tm.visual, "uv", None)
    if flat:
        if uv is not None and len(uv) == len(tm.vertices):
            uv = np.asarray(uv)[tm.faces.reshape(-1)]
        normals = np.repeat(np.asarray(tm.face_normals, dtype=np.float32), 3, axis=0)
        vertices = np.asarray(tm.vertices, dtype=np.float32)[tm.faces.reshape(-1)]
        faces = np.arange(len(vertices), dtype=np.uint32).reshape(-1, 3)
    else:
        vertices = np.asarray(tm.vertices, dtype=np.float32)
        faces = np.asarray(tm.faces, dtype=np.uint32)
        normals = np.asarray(tm.vertex_normals, dtype=np.float32)
    if uv is None or len(uv) != len(vertices):
        uv = np.zeros((len(vertices), 2), dtype=np.float32)
    uv = np.asarray(uv, dtype=np.float32)
    return Mesh(vertices, faces, normals, uv, content_key(vertices, faces, normals, uv))
