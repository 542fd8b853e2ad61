"""The built-in library of parametric products.

Every product is built in its object frame: metres, Z up, standing (or lying flat, for the gear
and the bracket) with its lowest point at z = 0 and centred on x = y = 0, so a pose alone puts
it on a surface. All parameters are lengths in metres, so a uniform scale of every parameter
scales the product; counts (gear teeth, bracket holes) follow from lengths.

`PRODUCTS` is the single source of truth for kinds, parameter names with defaults, and material
slots; `build_product` makes the parts and `product_bounds` their box without building them.
"""

from __future__ import annotations

import functools
import logging
import math
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import trimesh

from groundforge.assets import textures
from groundforge.assets.meshes import content_key, mesh_from_trimesh
from groundforge.world.state import Material, Mesh, Part

log = logging.getLogger(__name__)

SEGMENTS = 64  # around surfaces of revolution; a multiple of 4 so the box extremes are vertices
LABEL_GAP = 0.012  # label band radius = body radius * (1 + LABEL_GAP)
CAP_OVER_NECK = 1.15  # bottle cap radius / neck radius
LID_OVER_MOUTH = 1.06  # jar lid radius / mouth radius


@dataclass(frozen=True, eq=False)
class ProductDef:
    """One kind of built-in product.

    params: parameter name -> default, metres (read-only). slots: material slots, in the order
    of the parts `build_product` returns. builder: resolved params -> {slot: Mesh}.
    bounds: resolved params -> (2, 3) float64 object-frame box; raises ValueError like builder.
    """

    name: str
    params: Mapping[str, float]
    slots: tuple[str, ...]
    builder: Callable[[Mapping[str, float]], dict[str, Mesh]]
    bounds: Callable[[Mapping[str, float]], np.ndarray]
    description: str = ""


# ---------------------------------------------------------------------------------------------
# Surfaces of revolution: a profile of strips in the (r, z) half plane, each strip smooth inside,
# creased against its neighbours (they get separate vertices). A profile runs from the bottom
# centre outwards, up the side and in to the top, so its outward normal is (dz, -dr).


@dataclass(frozen=True)
class _Strip:
    points: np.ndarray  # (K, 2) r, z
    normals: np.ndarray  # (K, 2) unit, outward
    planar: bool  # uv by projection on the xy plane (discs) instead of angle and height


def _line(p0: tuple[float, float], p1: tuple[float, float], n: int = 1) -> tuple:
    """(points, normals) of a straight profile piece in n segments."""
    a, b = np.asarray(p0, float), np.asarray(p1, float)
    t = np.linspace(0.0, 1.0, n + 1)[:, None]
    d = b - a
    normal = np.array([d[1], -d[0]]) / np.hypot(*d)
    return a + t * d, np.tile(normal, (n + 1, 1))


def _arc(centre: tuple[float, float], radius: float, a0: float, a1: float, n: int) -> tuple:
    """(points, normals) of a circular profile piece from angle a0 to a1 (radians)."""
    a = np.linspace(a0, a1, n + 1)
    radial = np.stack([np.cos(a), np.sin(a)], axis=1)
    # Counter-clockwise arcs are convex (normal away from the centre), clockwise ones concave.
    return np.asarray(centre) + radius * radial, radial * math.copysign(1.0, a1 - a0)


def _s_curve(r0: float, z0: float, r1: float, z1: float, n: int) -> tuple:
    """(points, normals) of a cosine blend from (r0, z0) to (r1, z1), vertical at both ends."""
    s = np.linspace(0.0, 1.0, n + 1)
    r = r1 + (r0 - r1) * (1.0 + np.cos(np.pi * s)) / 2.0
    z = z0 + (z1 - z0) * s
    dr = -(r0 - r1) * np.pi / 2.0 * np.sin(np.pi * s)
    dz = np.full_like(s, z1 - z0)
    normals = np.stack([dz, -dr], axis=1)
    return np.stack([r, z], axis=1), normals / np.linalg.norm(normals, axis=1, keepdims=True)


def _strip(*pieces: tuple, planar: bool = False) -> _Strip:
    """One smooth strip from consecutive pieces that share their end points."""
    points = [pieces[0][0]]
    normals = [pieces[0][1]]
    for p, nrm in pieces[1:]:
        points.append(p[1:])
        normals.append(nrm[1:])
    return _Strip(np.concatenate(points), np.concatenate(normals), planar)


def _revolve(strips: list[_Strip], v_range: tuple[float, float]) -> Mesh:
    """A smooth-shaded Mesh revolving the strips about Z; uv u = angle / 2 pi, v = height.

    v_range: the heights mapped to v = 0 and 1 on cylindrical strips (clipped to 0-1); planar
    strips map x, y over the widest radius to 0-1. The seam at angle 0 has duplicate vertices.
    """
    s = SEGMENTS
    cos, sin = _CIRCLE
    points = np.concatenate([st.points for st in strips])
    normals = np.concatenate([st.normals for st in strips])
    planar = np.concatenate([np.full(len(st.points), st.planar) for st in strips])
    # A quad joins row i to row i + 1 only inside one strip; strips meet at a crease.
    joins = np.concatenate([np.ones(len(st.points), bool) for st in strips])
    ends = np.cumsum([len(st.points) for st in strips]) - 1
    joins[ends] = False

    r, z = points[:, :1], points[:, 1:]
    x, y = r * cos, r * sin
    zz = np.broadcast_to(z, x.shape)
    verts = np.stack([x, y, zz], axis=2).reshape(-1, 3)
    norms = np.stack(
        [normals[:, :1] * cos, normals[:, :1] * sin, np.broadcast_to(normals[:, 1:], x.shape)],
        axis=2,
    ).reshape(-1, 3)
    r_max = float(points[:, 0].max())
    z0, z1 = v_range
    u = np.where(planar[:, None], 0.5 + x / (2 * r_max), np.arange(s + 1) / s)
    v = np.where(planar[:, None], 0.5 + y / (2 * r_max), np.clip((zz - z0) / (z1 - z0), 0, 1))
    uv = np.stack([u, v], axis=2).reshape(-1, 2)

    rows = np.flatnonzero(joins)
    a = (rows[:, None] * (s + 1) + np.arange(s)[None, :]).ravel()
    b, c = a + 1, a + s + 1
    d = c + 1
    row_of = np.repeat(rows, s)
    # Rows on the axis collapse to a point; their half of each quad has no area.
    lower = np.stack([a, b, d], axis=1)[points[row_of, 0] > 0]
    upper = np.stack([a, d, c], axis=1)[points[row_of + 1, 0] > 0]

    faces = np.concatenate([lower, upper])
    # The pole rows' seam copies end up in no face; drop them.
    used = np.zeros(len(verts), dtype=bool)
    used[faces.ravel()] = True
    faces = (np.cumsum(used) - 1)[faces]
    tm = trimesh.Trimesh(verts[used], faces, vertex_normals=norms[used], process=False)
    return mesh_from_trimesh(tm, uv=uv[used])


def _circle(s: int) -> tuple[np.ndarray, np.ndarray]:
    """(1, s + 1) cos and sin of s equal steps round the circle, exact at the quarter turns."""
    theta = np.arange(s + 1) * (2.0 * np.pi / s)
    cos, sin = np.cos(theta), np.sin(theta)
    q = s // 4
    cos[[q, 3 * q]] = 0.0
    sin[[0, 2 * q, s]] = 0.0
    cos[s] = 1.0
    return cos[None, :], sin[None, :]


_CIRCLE = _circle(SEGMENTS)


# ---------------------------------------------------------------------------------------------
# Parameter handling


def _positive(kind: str, p: Mapping[str, float], *names: str) -> None:
    for name in names:
        if not p[name] > 0:
            raise ValueError(f"{kind}: parameter {name} must be > 0 metres, got {p[name]}")


def _vessel_layout(
    kind: str,
    height: float,
    radius: float,
    neck_r: float,
    neck_h: float,
    shoulder_h: float,
    closure_h: float,
    closure_r: float,
    label_h: float,
    fillet: float,
) -> dict[str, float]:
    """Heights of a bottle or jar body: closure bottom, neck, shoulder; label and fillet fitted."""
    z_closure = height - closure_h
    z_neck = z_closure - neck_h
    z_shoulder = z_neck - shoulder_h
    if neck_r >= radius:
        raise ValueError(
            f"{kind}: the neck/mouth radius ({neck_r}) must be below radius ({radius})"
        )
    if z_shoulder <= 0:
        raise ValueError(
            f"{kind}: height {height} leaves no straight body under the closure, neck and "
            f"shoulder ({closure_h} + {neck_h} + {shoulder_h}); make it taller or them shorter"
        )
    # Cosmetic features shrink to fit rather than fail, since dimensions are often randomized.
    fillet = min(max(fillet, 0.0), 0.5 * radius, 0.5 * z_shoulder)
    straight = z_shoulder - fillet
    label_h = min(max(label_h, 0.0), 0.95 * straight)
    mid = (fillet + z_shoulder) / 2.0
    return {
        "z_closure": z_closure,
        "z_neck": z_neck,
        "z_shoulder": z_shoulder,
        "z_neck_top": z_closure + 0.5 * closure_h,
        "fillet": fillet,
        "label_z0": mid - label_h / 2.0,
        "label_z1": mid + label_h / 2.0,
        "label_h": label_h,
        "closure_r": closure_r,
    }


def _vessel_meshes(
    height: float,
    radius: float,
    neck_r: float,
    closure_h: float,
    edge: float,
    lay: Mapping[str, float],
    closure_slot: str,
) -> dict[str, Mesh]:
    """Body (with rounded base, shoulder and neck), closure and label band of a bottle or jar."""
    f = lay["fillet"]
    z_s, z_n, z_top = lay["z_shoulder"], lay["z_neck"], lay["z_neck_top"]
    side = [_line((radius, f), (radius, z_s))]
    if f > 0:
        side.insert(0, _arc((radius - f, f), f, -np.pi / 2, 0.0, 4))
    body = _revolve(
        [
            _strip(_line((0.0, 0.0), (radius - f, 0.0)), planar=True),
            _strip(
                *side, _s_curve(radius, z_s, neck_r, z_n, 12), _line((neck_r, z_n), (neck_r, z_top))
            ),
            _strip(_line((neck_r, z_top), (0.0, z_top)), planar=True),
        ],
        (0.0, z_top),
    )
    meshes = {
        "body": body,
        closure_slot: _closure(lay["z_closure"], height, lay["closure_r"], edge),
    }
    if lay["label_h"] > 0:
        meshes["label"] = _label_band(radius, lay["label_z0"], lay["label_z1"])
    return meshes


def _closure(z0: float, z1: float, radius: float, edge: float) -> Mesh:
    """A cap or lid: a cylinder from z0 to z1 with its top edge rounded by `edge`."""
    e = min(edge, 0.45 * (z1 - z0), 0.45 * radius)
    return _revolve(
        [
            _strip(_line((0.0, z0), (radius, z0)), planar=True),
            _strip(
                _line((radius, z0), (radius, z1 - e)),
                _arc((radius - e, z1 - e), e, 0.0, np.pi / 2, 4),
            ),
            _strip(_line((radius - e, z1), (0.0, z1)), planar=True),
        ],
        (z0, z1),
    )


def _label_band(radius: float, z0: float, z1: float) -> Mesh:
    """A thin band around a body of `radius` from z0 to z1; v = 0 at z0 and 1 at z1."""
    rl = radius * (1.0 + LABEL_GAP)
    return _revolve(
        [
            _strip(_line((radius, z0), (rl, z0))),
            _strip(_line((rl, z0), (rl, z1))),
            _strip(_line((rl, z1), (radius, z1))),
        ],
        (z0, z1),
    )


def _round_box(r: float, z0: float, z1: float) -> np.ndarray:
    return np.array([[-r, -r, z0], [r, r, z1]], dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# Bottle


def _bottle_layout(p: Mapping[str, float]) -> dict[str, float]:
    lengths = ("height", "radius", "neck_radius", "neck_height", "shoulder_height", "cap_height")
    _positive("bottle", p, *lengths)
    return _vessel_layout(
        "bottle",
        p["height"],
        p["radius"],
        p["neck_radius"],
        p["neck_height"],
        p["shoulder_height"],
        p["cap_height"],
        CAP_OVER_NECK * p["neck_radius"],
        p["label_height"],
        p["base_fillet"],
    )


def _bottle(p: Mapping[str, float]) -> dict[str, Mesh]:
    lay = _bottle_layout(p)
    edge = 0.15 * p["cap_height"]
    return _vessel_meshes(
        p["height"], p["radius"], p["neck_radius"], p["cap_height"], edge, lay, "cap"
    )


def _vessel_bounds(p: Mapping[str, float], lay: dict[str, float]) -> np.ndarray:
    """Bounds of a bottle or jar: the widest of body, label band and closure."""
    body_r = p["radius"] * (1.0 + LABEL_GAP) if lay["label_h"] > 0 else p["radius"]
    return _round_box(max(body_r, lay["closure_r"]), 0.0, p["height"])


def _bottle_bounds(p: Mapping[str, float]) -> np.ndarray:
    return _vessel_bounds(p, _bottle_layout(p))


# ---------------------------------------------------------------------------------------------
# Jar


def _jar_layout(p: Mapping[str, float]) -> dict[str, float]:
    _positive("jar", p, "height", "radius", "mouth_radius", "shoulder_height", "lid_height")
    return _vessel_layout(
        "jar",
        p["height"],
        p["radius"],
        p["mouth_radius"],
        0.3 * p["lid_height"],
        p["shoulder_height"],
        p["lid_height"],
        LID_OVER_MOUTH * p["mouth_radius"],
        p["label_height"],
        p["base_fillet"],
    )


def _jar(p: Mapping[str, float]) -> dict[str, Mesh]:
    lay = _jar_layout(p)
    edge = 0.2 * p["lid_height"]
    return _vessel_meshes(
        p["height"], p["radius"], p["mouth_radius"], p["lid_height"], edge, lay, "lid"
    )


def _jar_bounds(p: Mapping[str, float]) -> np.ndarray:
    return _vessel_bounds(p, _jar_layout(p))


# ---------------------------------------------------------------------------------------------
# Can


def _can_layout(p: Mapping[str, float]) -> dict[str, float]:
    _positive("can", p, "height", "radius", "rim_inset", "neck_height")
    h, r = p["height"], p["radius"]
    if p["rim_inset"] >= 0.5 * r:
        raise ValueError(f"can: rim_inset ({p['rim_inset']}) must be under half the radius ({r})")
    lip = 0.03 * r  # radius of the rolled rim bead
    lip_h = 2.5 * lip  # height of each metal end above/below the printed wall
    if 2 * (lip_h + p["neck_height"]) >= h:
        raise ValueError(
            f"can: height {h} is too short for two necks of {p['neck_height']}; make it taller "
            "or neck_height smaller"
        )
    return {
        "r_rim": r - p["rim_inset"],
        "lip": lip,
        "lip_h": lip_h,
        "recess_top": 3.0 * lip,
        "recess_bottom": 4.0 * lip,
    }


def _can(p: Mapping[str, float]) -> dict[str, Mesh]:
    lay = _can_layout(p)
    h, r, neck = p["height"], p["radius"], p["neck_height"]
    rr, a, lh = lay["r_rim"], lay["lip"], lay["lip_h"]
    body = _revolve(
        [
            _strip(
                _s_curve(rr, lh, r, lh + neck, 6),
                _line((r, lh + neck), (r, h - lh - neck)),
                _s_curve(r, h - lh - neck, rr, h - lh, 6),
            )
        ],
        (lh, h - lh),
    )
    inner = rr - 2 * a
    zb, zt = lay["recess_bottom"], h - lay["recess_top"]
    ends = _revolve(
        [
            # Bottom end: domed panel, inner wall down, rolled bead touching z = 0, outer wall.
            _strip(_line((0.0, zb + 0.5 * a), (inner, zb)), planar=True),
            _strip(
                _line((inner, zb), (inner, a)),
                _arc((rr - a, a), a, np.pi, 2 * np.pi, 4),
                _line((rr, a), (rr, lh)),
            ),
            # Top end: outer wall, rolled bead reaching z = height, inner wall down, flat panel.
            _strip(
                _line((rr, h - lh), (rr, h - a)),
                _arc((rr - a, h - a), a, 0.0, np.pi, 4),
                _line((inner, h - a), (inner, zt)),
            ),
            _strip(_line((inner, zt), (0.0, zt)), planar=True),
        ],
        (0.0, h),
    )
    return {"body": body, "lid": ends}


def _can_bounds(p: Mapping[str, float]) -> np.ndarray:
    _can_layout(p)
    return _round_box(p["radius"], 0.0, p["height"])


# ---------------------------------------------------------------------------------------------
# Box (carton)

# Per face: outward normal, then the directions of u and v as seen from outside (v up on the
# sides, +y on top, -y on the bottom), so every face shows the whole texture the right way round.
_BOX_FACES = (
    ((1, 0, 0), (0, 1, 0), (0, 0, 1)),
    ((-1, 0, 0), (0, -1, 0), (0, 0, 1)),
    ((0, 1, 0), (-1, 0, 0), (0, 0, 1)),
    ((0, -1, 0), (1, 0, 0), (0, 0, 1)),
    ((0, 0, 1), (1, 0, 0), (0, 1, 0)),
    ((0, 0, -1), (1, 0, 0), (0, -1, 0)),
)


def _box(p: Mapping[str, float]) -> dict[str, Mesh]:
    _positive("box", p, "width", "depth", "height")
    half = np.array([p["width"], p["depth"], p["height"]]) / 2.0
    centre = np.array([0.0, 0.0, half[2]])
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64)
    verts, uvs, faces = [], [], []
    for k, (n, u, v) in enumerate(_BOX_FACES):
        n, u, v = (np.array(a, dtype=np.float64) for a in (n, u, v))
        pts = centre + n * half + corners[:, :1] * u * half + corners[:, 1:] * v * half
        verts.append(pts)
        uvs.append((corners + 1.0) / 2.0)
        faces.append(np.array([[0, 1, 2], [0, 2, 3]]) + 4 * k)
    tm = trimesh.Trimesh(np.concatenate(verts), np.concatenate(faces), process=False)
    return {"body": mesh_from_trimesh(tm, uv=np.concatenate(uvs), flat=True)}


def _box_bounds(p: Mapping[str, float]) -> np.ndarray:
    _positive("box", p, "width", "depth", "height")
    w, d = p["width"] / 2.0, p["depth"] / 2.0
    return np.array([[-w, -d, 0.0], [w, d, p["height"]]])


# ---------------------------------------------------------------------------------------------
# Pouch


def _pouch_check(p: Mapping[str, float]) -> None:
    _positive("pouch", p, "width", "height", "thickness", "seal_width")
    if 2 * p["seal_width"] >= p["height"]:
        raise ValueError(
            f"pouch: two seals of {p['seal_width']} do not fit in height {p['height']}"
        )


def _pouch(p: Mapping[str, float]) -> dict[str, Mesh]:
    _pouch_check(p)
    w, h, t, seal = p["width"], p["height"], p["thickness"], p["seal_width"]
    nx, nq = 25, 25  # odd, so the centre (full thickness) is a vertex
    s = np.linspace(-1.0, 1.0, nx)
    q = np.linspace(0.0, 1.0, nq)
    z = np.concatenate([[0.0, seal / 2], seal + q * (h - 2 * seal), [h - seal / 2, h]])
    # Thickness: zero on the rim (front and back meet), a thin crimped seal at top and bottom,
    # and a pillow between: elliptical across the width, sqrt-sine along the height.
    eps = 0.03
    along = np.concatenate([[0.0, eps], eps + (1 - eps) * np.sqrt(np.sin(np.pi * q)), [eps, 0.0]])
    along[2], along[-3] = eps, eps
    across = np.sqrt(np.clip(1.0 - s**2, 0.0, None))
    half_t = 0.5 * t * along[:, None] * across[None, :]
    x = np.broadcast_to(s[None, :] * w / 2, half_t.shape)
    zz = np.broadcast_to(z[:, None], half_t.shape)
    front = np.stack([x, -half_t, zz], axis=2).reshape(-1, 3)

    rows, cols = half_t.shape
    i, j = np.meshgrid(np.arange(rows - 1), np.arange(cols - 1), indexing="ij")
    a = (i * cols + j).ravel()
    b, c = a + 1, a + cols
    d = c + 1
    # Columns run along +x and rows along +z, so (a, b, d) faces -y: the front faces -y.
    f_faces = np.concatenate([np.stack([a, b, d], 1), np.stack([a, d, c], 1)])
    f_normals = trimesh.Trimesh(front, f_faces, process=False).vertex_normals
    back = front * (1.0, -1.0, 1.0)
    b_normals = f_normals * (1.0, -1.0, 1.0)
    n = len(front)
    # The back is the mirror image, u mirrored too so its print reads correctly from behind.
    u = (x / w + 0.5).ravel()
    v = (zz / h).ravel()
    tm = trimesh.Trimesh(
        np.concatenate([front, back]),
        np.concatenate([f_faces, f_faces[:, ::-1] + n]),
        vertex_normals=np.concatenate([f_normals, b_normals]),
        process=False,
    )
    uv = np.concatenate([np.stack([u, v], 1), np.stack([1.0 - u, v], 1)])
    return {"body": mesh_from_trimesh(tm, uv=uv)}


def _pouch_bounds(p: Mapping[str, float]) -> np.ndarray:
    _pouch_check(p)
    w, t = p["width"] / 2.0, p["thickness"] / 2.0
    return np.array([[-w, -t, 0.0], [w, t, p["height"]]])


# ---------------------------------------------------------------------------------------------
# Gear

# One tooth as fractions of the angular pitch: root land, rising flank, tip land, falling flank.
_TOOTH_ANGLES = np.array([0.0, 0.15, 0.30, 0.45, 0.65, 0.85]) - 0.65  # tip centre at angle 0
_TOOTH_OUTER = np.array([False, False, False, True, True, True])


def _gear_outline(p: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """(angles, radii) of the tooth outline, counter-clockwise; raises ValueError."""
    _positive("gear", p, "outer_radius", "root_radius", "thickness", "module")
    ro, rr, rb = p["outer_radius"], p["root_radius"], p["bore_radius"]
    if not rb < rr < ro:
        raise ValueError(
            f"gear: need bore_radius < root_radius < outer_radius, got {rb}, {rr}, {ro}"
        )
    teeth = gear_teeth(ro, p["module"])
    pitch = 2 * np.pi / teeth
    angles = ((np.arange(teeth)[:, None] + _TOOTH_ANGLES[None, :]) * pitch).ravel()
    radii = np.where(np.tile(_TOOTH_OUTER, teeth), ro, rr)
    return angles, radii


def gear_teeth(outer_radius: float, module: float) -> int:
    """The number of teeth of a gear: round(2 * outer_radius / module) - 2, at least 6."""
    return max(6, round(2 * outer_radius / module) - 2)


def _gear(p: Mapping[str, float]) -> dict[str, Mesh]:
    angles, radii = _gear_outline(p)
    n = len(angles)
    ring = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    k = np.arange(n)
    k1 = (k + 1) % n
    rb = p["bore_radius"]
    if rb > 0:
        verts = np.concatenate([ring * radii[:, None], ring * rb])
        faces = np.concatenate([np.stack([k + n, k, k1], 1), np.stack([k + n, k1, k1 + n], 1)])
    else:
        verts = np.concatenate([ring * radii[:, None], [[0.0, 0.0]]])
        faces = np.stack([np.full(n, n), k, k1], 1)
    tm = trimesh.creation.extrude_triangulation(verts, faces, p["thickness"], process=False)
    ro = p["outer_radius"]
    uv = 0.5 + np.asarray(tm.vertices)[:, :2] / (2 * ro)
    return {"body": mesh_from_trimesh(tm, uv=uv, flat=True)}


def _gear_bounds(p: Mapping[str, float]) -> np.ndarray:
    angles, radii = _gear_outline(p)
    x, y = radii * np.cos(angles), radii * np.sin(angles)
    return np.array([[x.min(), y.min(), 0.0], [x.max(), y.max(), p["thickness"]]])


# ---------------------------------------------------------------------------------------------
# Bracket


def _bracket_layout(p: Mapping[str, float]) -> dict[str, float]:
    _positive("bracket", p, "length", "width", "height", "thickness")
    length, width, height, t = p["length"], p["width"], p["height"], p["thickness"]
    if t >= 0.5 * min(length, height):
        raise ValueError(
            f"bracket: thickness {t} must be under half of length ({length}) and height ({height})"
        )
    hole_r = max(p["hole_radius"], 0.0)
    holes = max(1, round(width / (5 * hole_r))) if hole_r > 0 else 0
    if holes:
        room = min(width / (2 * holes), (length - t) / 2, (height - t) / 2)
        hole_r = min(hole_r, 0.8 * room)
    return {"holes": holes, "hole_r": hole_r}


def _plate_2d(
    x0: float, x1: float, y0: float, y1: float, hole_x: float, holes: int, hole_r: float
) -> tuple[np.ndarray, np.ndarray]:
    """(V, 2) vertices and (F, 3) faces of a rectangle with `holes` holes in a row along y."""
    if holes == 0:
        verts = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
        return verts, np.array([[0, 1, 2], [0, 2, 3]])
    cell = (y1 - y0) / holes
    # Angles symmetric about the cell's x axis, so neighbouring cells put identical points on
    # the side they share and the plate comes out as one connected triangulation.
    uniform = np.arange(-15, 17) * (2 * np.pi / 32)
    verts, faces = [], []
    for i in range(holes):
        cy = y0 + (i + 0.5) * cell
        hy = cell / 2.0
        corners = np.arctan2(
            [-hy, -hy, hy, hy], [x0 - hole_x, x1 - hole_x, x1 - hole_x, x0 - hole_x]
        )
        a = np.unique(np.round(np.concatenate([uniform, corners]), 12))
        d = np.stack([np.cos(a), np.sin(a)], axis=1)
        with np.errstate(divide="ignore"):
            tx = np.where(d[:, 0] > 0, (x1 - hole_x) / d[:, 0], (x0 - hole_x) / d[:, 0])
            ty = np.where(d[:, 1] > 0, hy / d[:, 1], -hy / d[:, 1])
        tx[~np.isfinite(tx) | (tx < 0)] = np.inf
        ty[~np.isfinite(ty) | (ty < 0)] = np.inf
        rect = np.array([hole_x, cy]) + np.minimum(tx, ty)[:, None] * d
        # Snap hits on the sides exactly onto them, so shared sides match bit for bit.
        hits_y = ty < tx
        rect[hits_y, 1] = np.where(d[hits_y, 1] > 0, y0 + (i + 1) * cell, y0 + i * cell)
        rect[~hits_y, 0] = np.where(d[~hits_y, 0] > 0, x1, x0)
        circle = np.array([hole_x, cy]) + hole_r * d
        n = len(a)
        k = np.arange(n)
        k1 = (k + 1) % n
        base = sum(len(v) for v in verts)
        verts.append(np.concatenate([rect, circle]))
        faces.append(
            base + np.concatenate([np.stack([k + n, k, k1], 1), np.stack([k + n, k1, k1 + n], 1)])
        )
    v = np.concatenate(verts)
    f = np.concatenate(faces)
    _, first, inverse = np.unique(np.round(v, 10), axis=0, return_index=True, return_inverse=True)
    return v[first], inverse.reshape(-1)[f]


def _bracket(p: Mapping[str, float]) -> dict[str, Mesh]:
    lay = _bracket_layout(p)
    length, width, height, t = p["length"], p["width"], p["height"], p["thickness"]
    holes, hole_r = int(lay["holes"]), lay["hole_r"]
    hw = width / 2.0

    # Base plate on z = 0 along x; its holes sit in the part not covered by the upright.
    v, f = _plate_2d(-length / 2, length / 2, -hw, hw, t / 2, holes, hole_r)
    base = trimesh.creation.extrude_triangulation(v, f, t, process=False)
    base_uv = (np.asarray(base.vertices)[:, :2] + (length / 2, hw)) / (length, width)

    # Upright plate at the -x end, standing on the base: built flat with 2D x as world z, then
    # turned (a proper rotation, so the winding stays outward) to span x in [-L/2, -L/2 + t].
    v, f = _plate_2d(t, height, -hw, hw, (t + height) / 2, holes, hole_r)
    turn = np.array(
        [[0, 0, -1, -length / 2 + t], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=np.float64
    )
    upright = trimesh.creation.extrude_triangulation(v, f, t, transform=turn, process=False)
    up_v = np.asarray(upright.vertices)
    up_uv = np.stack([(up_v[:, 1] + hw) / width, up_v[:, 2] / height], axis=1)

    # The upright's bottom face touches the base's top face; both are hidden inside the solid.
    tm = trimesh.Trimesh(
        np.concatenate([base.vertices, up_v]),
        np.concatenate([base.faces, upright.faces + len(base.vertices)]),
        process=False,
    )
    return {"body": mesh_from_trimesh(tm, uv=np.concatenate([base_uv, up_uv]), flat=True)}


def _bracket_bounds(p: Mapping[str, float]) -> np.ndarray:
    _bracket_layout(p)
    hl, hw = p["length"] / 2.0, p["width"] / 2.0
    return np.array([[-hl, -hw, 0.0], [hl, hw, p["height"]]])


# ---------------------------------------------------------------------------------------------
# The registry


def _define(
    name: str, params: dict[str, float], slots: tuple[str, ...], builder, bounds, description: str
) -> ProductDef:
    return ProductDef(
        name, types.MappingProxyType(dict(params)), slots, builder, bounds, description
    )


PRODUCTS: dict[str, ProductDef] = {
    d.name: d
    for d in (
        _define(
            "bottle",
            {
                "height": 0.22,
                "radius": 0.033,
                "neck_radius": 0.0125,
                "neck_height": 0.025,
                "shoulder_height": 0.055,
                "cap_height": 0.02,
                "label_height": 0.08,
                "base_fillet": 0.005,
            },
            ("body", "cap", "label"),
            _bottle,
            _bottle_bounds,
            "height includes the cap; cap radius = 1.15 neck_radius; label band (radius "
            "* 1.012) centred on the straight part of the body, shrunk to fit",
        ),
        _define(
            "can",
            {"height": 0.122, "radius": 0.033, "rim_inset": 0.003, "neck_height": 0.008},
            ("body", "lid"),
            _can,
            _can_bounds,
            "body: the printed wall with necked ends, uv wraps it whole; lid: both metal ends "
            "(rims inset by rim_inset)",
        ),
        _define(
            "box",
            {"width": 0.10, "depth": 0.06, "height": 0.15},
            ("body",),
            _box,
            _box_bounds,
            "carton, width along x, depth along y; every face maps the whole texture",
        ),
        _define(
            "jar",
            {
                "height": 0.10,
                "radius": 0.042,
                "mouth_radius": 0.036,
                "shoulder_height": 0.01,
                "lid_height": 0.018,
                "label_height": 0.045,
                "base_fillet": 0.006,
            },
            ("body", "lid", "label"),
            _jar,
            _jar_bounds,
            "height includes the lid; lid radius = 1.06 mouth_radius",
        ),
        _define(
            "pouch",
            {"width": 0.14, "height": 0.20, "thickness": 0.04, "seal_width": 0.012},
            ("body",),
            _pouch,
            _pouch_bounds,
            "pillow bag standing on its bottom seal, front facing -y; thickness at the middle",
        ),
        _define(
            "gear",
            {
                "outer_radius": 0.04,
                "root_radius": 0.034,
                "thickness": 0.01,
                "bore_radius": 0.008,
                "module": 0.0035,
            },
            ("body",),
            _gear,
            _gear_bounds,
            "spur gear lying flat, axis Z; teeth = round(2 outer_radius / module) - 2",
        ),
        _define(
            "bracket",
            {
                "length": 0.08,
                "width": 0.04,
                "height": 0.06,
                "thickness": 0.004,
                "hole_radius": 0.0035,
            },
            ("body",),
            _bracket,
            _bracket_bounds,
            "L-bracket: base plate on z = 0 along x, upright plate at -x; "
            "round(width / (5 hole_radius)) holes per plate",
        ),
    )
}


def resolve_params(kind: str, params: Mapping[str, float] | None = None) -> dict[str, float]:
    """All parameters of `kind` as floats, defaults filled in.

    Raises ValueError for an unknown kind or parameter name or a non-finite value.
    """
    definition = PRODUCTS.get(kind)
    if definition is None:
        raise ValueError(f"unknown product kind {kind!r}; built-ins are: {', '.join(PRODUCTS)}")
    params = params or {}
    unknown = [k for k in params if k not in definition.params]
    if unknown:
        raise ValueError(
            f"{kind} has no parameter {', '.join(map(repr, unknown))}; its parameters are: "
            f"{', '.join(definition.params)}"
        )
    out = {}
    for name, default in definition.params.items():
        value = float(params.get(name, default))
        if not math.isfinite(value):
            raise ValueError(f"{kind}: parameter {name} must be finite, got {value}")
        out[name] = value
    return out


@functools.lru_cache(maxsize=128)
def _unit_meshes(kind: str, ratios: tuple[tuple[str, float], ...]) -> dict[str, Mesh]:
    """Meshes of `kind` built with its first parameter 1 and the others in proportion."""
    return PRODUCTS[kind].builder(dict(ratios))


@functools.lru_cache(maxsize=256)
def _meshes(kind: str, items: tuple[tuple[str, float], ...]) -> dict[str, Mesh]:
    """Meshes of `kind` at these resolved params; raises ValueError for impossible ones."""
    p = dict(items)
    definition = PRODUCTS[kind]
    definition.bounds(p)  # the checks, with messages in the caller's own numbers
    # Every builder is exact under uniform scaling (all derived sizes are proportions), so
    # products that differ only in scale (the common case: one scale drawn per instance) share
    # a single build and only their vertices are multiplied.
    ref = next(iter(p.values()))
    # Nine digits absorb the float noise of (a * s) / (b * s) so the unit cache hits.
    unit = _unit_meshes(kind, tuple((k, float(f"{v / ref:.9g}")) for k, v in p.items()))
    return {slot: _scaled(mesh, ref) for slot, mesh in unit.items()}


def _scaled(mesh: Mesh, factor: float) -> Mesh:
    """The mesh scaled uniformly about the origin (normals and uv unchanged)."""
    if factor == 1.0:
        return mesh
    vertices = (mesh.vertices.astype(np.float64) * factor).astype(np.float32)
    return Mesh(vertices, mesh.faces, mesh.normals, mesh.uv, f"{mesh.key}*{factor!r}")


def product_bounds(kind: str, params: Mapping[str, float] | None = None) -> np.ndarray:
    """(2, 3) float64 object-frame box of the product, computed without building meshes."""
    p = resolve_params(kind, params)
    return PRODUCTS[kind].bounds(p)


def build_product(
    kind: str,
    params: Mapping[str, float] | None = None,
    materials: Mapping[str, Material] | None = None,
) -> tuple[Part, ...]:
    """The parts of one product, in the order of its slots (a zero-height label is left out).

    Missing params take their defaults and missing slots a default material of that slot;
    unknown kinds, parameter names or slots, and impossible dimensions, raise ValueError.
    Meshes are cached per (kind, params), so equal dimensions share one Mesh, and
    products differing only by a uniform scale share one build.
    """
    p = resolve_params(kind, params)
    definition = PRODUCTS[kind]
    materials = materials or {}
    unknown = [s for s in materials if s not in definition.slots]
    if unknown:
        raise ValueError(
            f"{kind} has no material slot {', '.join(map(repr, unknown))}; its slots are: "
            f"{', '.join(definition.slots)}"
        )
    meshes = _meshes(kind, tuple(p.items()))
    return tuple(
        Part(meshes[slot], materials.get(slot) or default_material(kind, slot), slot)
        for slot in definition.slots
        if slot in meshes
    )


# ---------------------------------------------------------------------------------------------
# Default materials

# kind/slot -> (sRGB hex, metallic, roughness, label (background hex, text, text hex) or None)
_DEFAULTS: dict[str, tuple[str, float, float, tuple[str, str, str] | None]] = {
    "bottle/body": ("#3f8f5a", 0.0, 0.12, None),
    "bottle/cap": ("#e8e8e8", 0.0, 0.45, None),
    "bottle/label": ("#ffffff", 0.0, 0.6, ("#f2efe6", "AQUA PURA", "#1d2a5c")),
    "can/body": ("#ffffff", 0.6, 0.3, ("#c8102e", "FIZZ", "#f5f5f5")),
    "can/lid": ("#d8d8da", 1.0, 0.3, None),
    "box/body": ("#ffffff", 0.0, 0.85, ("#c9a878", "CEREAL", "#3b2a1a")),
    "jar/body": ("#c8d8d0", 0.0, 0.05, None),
    "jar/lid": ("#c9a44a", 1.0, 0.35, None),
    "jar/label": ("#ffffff", 0.0, 0.6, ("#f4ecd8", "HONEY", "#7a3b10")),
    "pouch/body": ("#ffffff", 0.3, 0.35, ("#f2b705", "CRISPS", "#d62828")),
    "gear/body": ("#9a9ca0", 1.0, 0.35, None),
    "bracket/body": ("#b8bcc2", 1.0, 0.5, None),
}


@functools.cache
def default_material(kind: str, slot: str) -> Material:
    """The material a slot gets when none is given (made once; labels carry printed text)."""
    color, metallic, roughness, label = _DEFAULTS.get(f"{kind}/{slot}", ("#cccccc", 0.0, 0.5, None))
    texture = None
    if label is not None:
        background, text, ink = label
        texture = textures.label_texture(
            (256, 512), background, text, ink, barcode=True, rng=np.random.default_rng(0)
        )
    return Material(
        base_color=textures.parse_color(color),
        metallic=metallic,
        roughness=roughness,
        texture=texture,
        texture_key=content_key(texture) if texture is not None else None,
    )
