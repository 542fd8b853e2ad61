"""User mesh files (OBJ with MTL, GLB/GLTF, STL, PLY) as renderable parts.

Every geometry of the file becomes one Part, with its scene-graph transform applied. The object
frame is Z up: glTF files are Y up by their specification and are turned (+90 degrees about X);
other formats are taken as Z up. Colours follow each format: glTF factors and vertex colours are
linear; MTL Kd is taken as linear too (what Blender writes and reads); PLY vertex colours are
sRGB. Textures stay sRGB, as Material expects.
"""

from __future__ import annotations

import functools
import logging
import math
from pathlib import Path
from typing import Literal

import numpy as np
import trimesh
from trimesh.visual.material import PBRMaterial, SimpleMaterial
from trimesh.visual.texture import TextureVisuals

from groundforge.assets.errors import AssetError
from groundforge.assets.meshes import content_key, mesh_from_trimesh
from groundforge.assets.textures import srgb_to_linear
from groundforge.world.state import Material, Part

log = logging.getLogger(__name__)

SUPPORTED = (".obj", ".glb", ".gltf", ".stl", ".ply")
CREASE_DEG = 30.0  # without normals in the file, edges sharper than this stay sharp

UpAxis = Literal["y", "z"]

# Y up to Z up: a proper rotation of +90 degrees about X, (x, y, z) -> (x, -z, y).
_Y_UP_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def load_mesh_file(
    path: str | Path, scale: float = 1.0, recenter: bool = True, up_axis: UpAxis | None = None
) -> tuple[Part, ...]:
    """The parts of a mesh file, in metres after `scale`, Z up; raises AssetError.

    recenter: move the whole so its lowest point is at z = 0 and its x/y box centre at 0.
    up_axis: the file's up axis; None means "y" for GLB/GLTF (their specification) and "z"
    for the rest. Loads are cached per (file, modification time, scale, recenter, up_axis).
    """
    p = Path(path)
    try:
        stat = p.stat()
    except OSError:
        raise AssetError(
            p, "mesh file not found; check the path (relative paths start at the scene file)"
        ) from None
    if not p.is_file():
        raise AssetError(p, "is not a file; give the path of a mesh file")
    ext = p.suffix.lower()
    if ext not in SUPPORTED:
        raise AssetError(
            p,
            f"unsupported mesh format {ext or '(no extension)'!r}; supported: "
            f"{', '.join(SUPPORTED)} (convert the file, e.g. with Blender)",
        )
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive number, got {scale}")
    if up_axis is None:
        up_axis = "y" if ext in (".glb", ".gltf") else "z"
    if up_axis not in ("y", "z"):
        raise ValueError(f"up_axis must be 'y' or 'z', got {up_axis!r}")
    return _load(
        str(p.resolve()), stat.st_mtime_ns, stat.st_size, float(scale), bool(recenter), up_axis
    )


@functools.lru_cache(maxsize=32)
def _load(
    path: str, mtime_ns: int, size: int, scale: float, recenter: bool, up_axis: str
) -> tuple[Part, ...]:
    """The parts of one file version (mtime_ns and size only key the cache)."""
    ext = Path(path).suffix.lower()
    scene = _read_scene(path, ext)

    pieces = []
    for node in scene.graph.nodes_geometry:
        transform, name = scene.graph[node]
        geom = scene.geometry.get(name)
        if isinstance(geom, trimesh.Trimesh) and len(geom.faces) > 0:
            pieces.append(_piece(geom, np.asarray(transform, dtype=np.float64), ext))
    if not pieces:
        raise AssetError(
            path,
            "holds no triangles (empty, unreadable, or only points or lines); export the surfaces "
            "as a triangle mesh",
        )

    rotation = _Y_UP_TO_Z_UP if up_axis == "y" else np.eye(3)
    for piece in pieces:
        piece["vertices"] = piece["vertices"] @ rotation.T * scale
        if piece["normals"] is not None:
            piece["normals"] = piece["normals"] @ rotation.T
    offset = np.zeros(3)
    if recenter:
        lo = np.min([pc["vertices"].min(axis=0) for pc in pieces], axis=0)
        hi = np.max([pc["vertices"].max(axis=0) for pc in pieces], axis=0)
        offset = np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, lo[2]])

    parts = tuple(_part(pc, offset) for pc in pieces)
    log.debug(
        "loaded %s: %d parts, %d triangles",
        path,
        len(parts),
        sum(len(pt.mesh.faces) for pt in parts),
    )
    return parts


def _read_scene(path: str, ext: str) -> trimesh.Scene:
    """The file as a trimesh Scene, without trimesh's merging or repairs; raises AssetError."""
    try:
        # process=False keeps the file's vertices, normals and uv exactly as written.
        return trimesh.load(path, file_type=ext[1:], force="scene", process=False)
    except Exception as exc:  # trimesh parsers raise all kinds of errors on bad bytes
        raise AssetError(
            path,
            f"could not be read as {ext[1:].upper()} ({type(exc).__name__}: {exc}); check that "
            "it opens in a 3D viewer and export it again",
        ) from exc


def _piece(geom: trimesh.Trimesh, transform: np.ndarray, ext: str) -> dict:
    """Vertices, faces, normals (or None), uv (or None) and material of one placed geometry."""
    linear = transform[:3, :3]
    vertices = np.asarray(geom.vertices, dtype=np.float64) @ linear.T + transform[:3, 3]
    faces = np.asarray(geom.faces, dtype=np.int64)
    if np.linalg.det(linear) < 0:
        # A mirroring transform turns the winding inside out; flip it back.
        faces = faces[:, ::-1]
    normals = None
    # trimesh keeps normals read from the file in its cache; computed ones are never there yet.
    if "vertex_normals" in geom._cache:
        n = np.asarray(geom.vertex_normals, dtype=np.float64) @ np.linalg.inv(linear)
        length = np.linalg.norm(n, axis=1, keepdims=True)
        if len(n) == len(vertices) and np.all(length > 0):
            normals = n / length
    uv = None
    visual = geom.visual
    if isinstance(visual, TextureVisuals) and visual.uv is not None:
        if len(visual.uv) == len(vertices):
            uv = np.asarray(visual.uv, dtype=np.float64)
    return {
        "vertices": vertices,
        "faces": faces,
        "normals": normals,
        "uv": uv,
        "material": _material(visual, uv is not None, ext),
    }


def _part(piece: dict, offset: np.ndarray) -> Part:
    """A Part from a placed geometry, moved by -offset."""
    vertices = piece["vertices"] - offset
    faces, normals, uv = piece["faces"], piece["normals"], piece["uv"]
    if normals is None:
        vertices, faces, normals, uv = crease_normals(vertices, faces, uv, CREASE_DEG)
    if uv is not None:
        # Wrapping textures repeat; Mesh wants 0-1, and a whole-number shift samples the same.
        uv = _clip_uv(uv)
    tm = trimesh.Trimesh(vertices, faces, vertex_normals=normals, process=False)
    return Part(mesh_from_trimesh(tm, uv=uv), piece["material"])


def _clip_uv(uv: np.ndarray) -> np.ndarray:
    """(N, 2) uv clipped into 0-1 (v up)."""
    # Mesh uv must lie in 0-1, so a texture the file repeats (uv beyond 0-1) is not tiled.
    if uv.size and (uv.min() < -1e-6 or uv.max() > 1 + 1e-6):
        log.debug("uv outside 0-1 clipped; the file's texture repeats are lost")
    return np.clip(uv, 0.0, 1.0)


# ---------------------------------------------------------------------------------------------
# Materials


def _material(visual, has_uv: bool, ext: str) -> Material:
    """The Material of a trimesh visual: PBR or MTL factors and texture, or mean vertex colour."""
    mat = getattr(visual, "material", None)
    if isinstance(visual, TextureVisuals) and isinstance(mat, PBRMaterial):
        factor = _rgb01(mat.baseColorFactor, (1.0, 1.0, 1.0))
        metallic = 1.0 if mat.metallicFactor is None else float(mat.metallicFactor)
        roughness = 1.0 if mat.roughnessFactor is None else float(mat.roughnessFactor)
        return _textured(factor, metallic, roughness, mat.baseColorTexture, has_uv)
    if isinstance(visual, TextureVisuals) and isinstance(mat, SimpleMaterial):
        factor = _rgb01(mat.diffuse, (0.8, 0.8, 0.8))
        # Phong exponent Ns to a microfacet roughness (Walter et al. 2007: alpha^2 = 2/(Ns+2)).
        ns = float(getattr(mat, "glossiness", None) or 0.0)
        roughness = float(np.clip((2.0 / (ns + 2.0)) ** 0.25, 0.0, 1.0))
        return _textured(factor, 0.0, roughness, mat.image, has_uv)
    if getattr(visual, "kind", None) in ("vertex", "face"):
        # Mesh has no colour attribute, so per-vertex or per-face colour becomes its mean.
        colors = visual.vertex_colors if visual.kind == "vertex" else visual.face_colors
        rgb = np.asarray(colors, dtype=np.float64)[:, :3] / 255.0
        if ext not in (".glb", ".gltf"):
            rgb = srgb_to_linear(rgb)
        mean = rgb.mean(axis=0)
        return Material(base_color=(float(mean[0]), float(mean[1]), float(mean[2])))
    return Material()


def _rgb01(value, default: tuple[float, float, float]) -> tuple[float, float, float]:
    """The first three channels of a trimesh colour (uint8 0-255 or float 0-1) as 0-1."""
    if value is None:
        return default
    c = np.asarray(value)
    c = c[:3].astype(np.float64) / (255.0 if c.dtype.kind in "ui" else 1.0)
    return (float(c[0]), float(c[1]), float(c[2]))


def _textured(factor, metallic: float, roughness: float, image, has_uv: bool) -> Material:
    texture = None
    if image is not None and has_uv:
        texture = np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))
    elif image is not None:
        log.debug("texture without uv coordinates ignored")
    return Material(
        base_color=factor,
        metallic=float(np.clip(metallic, 0.0, 1.0)),
        roughness=float(np.clip(roughness, 0.0, 1.0)),
        texture=texture,
        texture_key=content_key(texture) if texture is not None else None,
    )


# ---------------------------------------------------------------------------------------------
# Normals


def crease_normals(
    vertices: np.ndarray, faces: np.ndarray, uv: np.ndarray | None, crease_deg: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Smooth normals that stay sharp across edges bent more than crease_deg.

    Returns (vertices (N', 3), faces (M, 3), unit normals (N', 3), uv (N', 2) or None): a vertex
    is split wherever the faces around it fall into groups with different normals. Corners at
    the same position share normals even when the file has separate vertices there (STL).
    """
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    cross = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    area2 = np.linalg.norm(cross, axis=1)
    unit = cross / np.where(area2 > 0, area2, 1.0)[:, None]

    # Corners grouped by position, so separate-but-coincident vertices still smooth together.
    span = float(np.ptp(v, axis=0).max()) or 1.0
    _, pos = _unique_rows(np.round(v / (span * 1e-7)).astype(np.int64))
    corner_pos = pos.reshape(-1)[f.reshape(-1)]
    corner_face = np.repeat(np.arange(len(f)), 3)
    order = np.argsort(corner_pos, kind="stable")
    sorted_pos = corner_pos[order]
    starts = np.flatnonzero(np.r_[True, sorted_pos[1:] != sorted_pos[:-1]])
    counts = np.diff(np.r_[starts, len(order)])
    group = np.repeat(np.arange(len(starts)), counts)

    # Every pair of corners at one position; face j adds to corner i when their faces agree.
    per = counts[group]
    i = np.repeat(np.arange(len(order)), per)
    offsets = np.cumsum(per) - per
    j = starts[group[i]] + (np.arange(len(i)) - offsets[i])
    fi, fj = corner_face[order[i]], corner_face[order[j]]
    keep = np.einsum("ij,ij->i", unit[fi], unit[fj]) >= math.cos(math.radians(crease_deg))
    normals_sorted = np.stack(
        [np.bincount(i[keep], cross[fj[keep], c], minlength=len(order)) for c in range(3)], axis=1
    )
    corner_normals = np.empty_like(normals_sorted)
    corner_normals[order] = normals_sorted
    length = np.linalg.norm(corner_normals, axis=1)
    flat = length == 0
    corner_normals[~flat] /= length[~flat, None]
    # Corners of faces without area get any unit normal; they cover no pixels.
    corner_normals[flat] = (0.0, 0.0, 1.0)

    # One vertex per distinct (original vertex, normal); without uv, per (position, normal),
    # which also joins the separate corners of an STL.
    corner_vertex = f.reshape(-1)
    ident = corner_vertex if uv is not None else corner_pos
    key = np.concatenate([ident[:, None], np.round(corner_normals * 1e5).astype(np.int64)], axis=1)
    first, inverse = _unique_rows(key)
    new_vertices = v[corner_vertex[first]]
    new_uv = None if uv is None else np.asarray(uv)[corner_vertex[first]]
    return new_vertices, inverse.reshape(-1, 3), corner_normals[first], new_uv


def _unique_rows(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first index of each distinct row, (N,) row -> distinct id) of an (N, K) int array."""
    # np.unique(axis=0) sorts rows as opaque bytes, many times slower than a lexsort.
    order = np.lexsort(a.T[::-1])
    rows = a[order]
    new = np.r_[True, np.any(rows[1:] != rows[:-1], axis=1)]
    inverse = np.empty(len(a), dtype=np.int64)
    inverse[order] = np.cumsum(new) - 1
    return order[new], inverse
