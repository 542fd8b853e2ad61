"""Defect generators: each turns a product's parts into defective ones and says which pixels
it may change, through marks (painted by the engine), defect parts, and ghosts of removed
geometry (see world/state.py).

Every generator is deterministic in its random generator and works in the product's object
frame. `severity` in 0-1 scales size, depth and contrast; `size_m`, when given, overrides the
characteristic size (length of a scratch or crack, radius of a stain, dent, hole or foreign
object).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import trimesh
from PIL import Image, ImageFilter

from groundforge.assets.meshes import content_key
from groundforge.defects.surface import (
    SurfaceWalker,
    face_areas,
    make_mesh,
    random_surface_point,
    sagitta,
)
from groundforge.world.state import Ghost, Mark, Material, Part

SURFACE_KINDS = ("scratch", "crack", "stain", "dent", "hole", "missing_part", "misprint")
SURFACE_KINDS += ("contamination",)
# Parts a product can lose, in the order they are looked for when no part is named.
REMOVABLE_PARTS = ("cap", "lid", "label")
MISPRINT_MODES = ("shift", "rotate", "smear", "missing")


class DefectNotApplicable(ValueError):
    """This defect cannot be made on this product (no such part, no printed texture)."""


@dataclass
class Options:
    """What the scene says about one defect type (spec.scene.DefectTypeSpec, sampled)."""

    size_m: float | None = None
    part: str | None = None
    mode: str | None = None
    color: tuple[float, float, float] | None = None  # linear RGB
    facing: np.ndarray | None = None  # unit direction, object frame: prefer faces seen from it


@dataclass
class Result:
    parts: tuple[Part, ...]
    marks: tuple[Mark, ...] = ()
    ghosts: tuple[Ghost, ...] = ()
    params: dict = field(default_factory=dict)


Generator = Callable[[tuple[Part, ...], int, float, Options, np.random.Generator], Result]


def _extent(parts: tuple[Part, ...]) -> float:
    b = np.stack([p.mesh.bounds for p in parts])
    return float(np.linalg.norm(b[:, 1].max(axis=0) - b[:, 0].min(axis=0)))


def _pick_part(parts: tuple[Part, ...], rng: np.random.Generator, name: str | None) -> int:
    """Index of the named part, or one drawn by surface area."""
    if name is not None:
        for i, p in enumerate(parts):
            if p.name == name:
                return i
        have = ", ".join(p.name or "(unnamed)" for p in parts)
        raise DefectNotApplicable(f"the product has no part {name!r} (parts: {have})")
    areas = np.array([face_areas(p.mesh).sum() for p in parts])
    return int(rng.choice(len(parts), p=areas / areas.sum()))


def _size(options: Options, default: float) -> float:
    return float(options.size_m) if options.size_m is not None else default


def _albedo(part: Part) -> np.ndarray:
    base = np.asarray(part.material.base_color, np.float64)
    if part.material.texture is not None:
        mean = part.material.texture.reshape(-1, 3).mean(axis=0) / 255.0
        base = base * mean**2.2
    return base


# --- marks ---------------------------------------------------------------------------------


def _stroke(
    parts, defect_id, severity, options, rng, kind, length, width, wander, colour, opacity, rough
) -> Result:
    index = _pick_part(parts, rng, options.part)
    mesh = parts[index].mesh
    walker = SurfaceWalker(mesh)
    start, normal = random_surface_point(mesh, rng, options.facing)
    steps = 8
    path = walker.path(start, normal, length, steps, rng, wander)
    # The surface bulges away from each chord; the capsule must still reach it.
    extent = _extent((parts[index],))
    radius = width / 2 + sagitta(length / steps, extent / 4)
    marks = [
        Mark(kind, defect_id, tuple(a), tuple(b), radius, colour, opacity, rough, depth=0.6)
        for a, b in zip(path[:-1], path[1:], strict=True)
    ]
    params = {"length_m": round(length, 6), "width_m": round(width, 6), "part": parts[index].name}
    return Result(parts, tuple(marks), params=params)


def scratch(parts, defect_id, severity, options, rng) -> Result:
    """A thin, gently curved groove, lighter than the surface, that catches the light."""
    length = _size(options, _extent(parts) * rng.uniform(0.12, 0.3) * (0.5 + severity / 2))
    width = 0.0004 + 0.0012 * severity
    albedo = _albedo(parts[0])
    colour = options.color or tuple(np.clip(albedo * 0.4 + 0.45, 0, 1))
    opacity = 0.4 + 0.5 * severity
    return _stroke(
        parts,
        defect_id,
        severity,
        options,
        rng,
        "scratch",
        length,
        width,
        0.15,
        colour,
        opacity,
        0.25,
    )


def crack(parts, defect_id, severity, options, rng) -> Result:
    """A dark, jagged line with side branches."""
    length = _size(options, _extent(parts) * rng.uniform(0.12, 0.3) * (0.5 + severity / 2))
    width = 0.0003 + 0.0007 * severity
    colour = options.color or (0.02, 0.02, 0.02)
    main = _stroke(
        parts, defect_id, severity, options, rng, "crack", length, width, 0.7, colour, 0.95, 0.9
    )
    marks = list(main.marks)
    mesh = parts[_pick_part(parts, rng, main.params["part"] or None)].mesh
    walker = SurfaceWalker(mesh)
    for _ in range(int(rng.integers(1, 3))):
        start = np.asarray(marks[int(rng.integers(0, len(marks)))].p1)
        point, normal = walker.project(start)
        branch = walker.path(point, normal, length * 0.35, 3, rng, 0.7)
        r = marks[0].radius * 0.7
        marks += [
            Mark("crack", defect_id, tuple(a), tuple(b), r, colour, 0.95, 0.9, depth=0.6)
            for a, b in zip(branch[:-1], branch[1:], strict=True)
        ]
    return Result(parts, tuple(marks), params=main.params)


def stain(parts, defect_id, severity, options, rng) -> Result:
    """A blotch of discolouration: a few overlapping discs of one colour."""
    index = _pick_part(parts, rng, options.part)
    mesh = parts[index].mesh
    radius = _size(options, _extent(parts) * rng.uniform(0.03, 0.07) * (0.5 + severity))
    centre, normal = random_surface_point(mesh, rng, options.facing)
    walker = SurfaceWalker(mesh)
    palette = ((0.25, 0.14, 0.05), (0.35, 0.3, 0.08), (0.08, 0.08, 0.07), (0.5, 0.42, 0.3))
    colour = options.color or palette[int(rng.integers(0, len(palette)))]
    opacity = 0.35 + 0.55 * severity
    marks = []
    for i in range(int(rng.integers(3, 6))):
        offset = rng.normal(scale=radius * 0.5, size=3) if i else np.zeros(3)
        point, _ = walker.project(centre + offset)
        r = radius * (rng.uniform(0.45, 0.8) if i else 0.7)
        marks.append(Mark("stain", defect_id, tuple(point), tuple(point), r, colour, opacity, 0.7))
    params = {"radius_m": round(radius, 6), "part": parts[index].name}
    return Result(parts, tuple(marks), params=params)


# --- geometry ------------------------------------------------------------------------------


def _surface_of(part: Part, index: int) -> str:
    """The anti-aliasing surface name of a part (Part.surface), made up from its place when
    it has none, so the pieces a defect makes of it and onto it keep blending as one."""
    return part.surface if part.surface is not None else f"part{index}"


def _with_part(parts, index, replacement: list[Part]) -> tuple[Part, ...]:
    return tuple(parts[:index]) + tuple(replacement) + tuple(parts[index + 1 :])


def dent(parts, defect_id, severity, options, rng) -> Result:
    """The surface pushed in: a smooth round hollow of radius r and depth up to r / 3."""
    index = _pick_part(parts, rng, options.part)
    radius = _size(options, _extent(parts) * rng.uniform(0.04, 0.08))
    depth = radius * (0.08 + 0.25 * severity)
    centre, normal = random_surface_point(parts[index].mesh, rng, options.facing)
    mark = Mark(
        "dent", defect_id, tuple(centre), tuple(centre + normal), radius, (0, 0, 0), 0, 0, depth
    )
    params = {"radius_m": round(radius, 6), "depth_m": round(depth, 6), "part": parts[index].name}
    return Result(parts, (mark,), params=params)


def hole(parts, defect_id, severity, options, rng) -> Result:
    """A chip or hole: the wall within radius r of a surface point cut away, through every
    part there (a label and the body under it)."""
    index = _pick_part(parts, rng, options.part)
    radius = _size(options, _extent(parts) * rng.uniform(0.015, 0.04) * (0.5 + severity))
    centre, _ = random_surface_point(parts[index].mesh, rng, options.facing)
    mark = Mark("hole", defect_id, tuple(centre), tuple(centre), radius, (0, 0, 0), 0, 0)
    clip = (*(float(c) for c in centre), float(radius))
    ghosts = tuple(Ghost(p.mesh, defect_id, clip) for p in parts)
    params = {"radius_m": round(radius, 6), "part": parts[index].name}
    return Result(parts, (mark,), ghosts, params=params)


def missing_part(parts, defect_id, severity, options, rng) -> Result:
    """A part left off: the cap, the lid or the label (options.part, else the first found)."""
    names = [p.name for p in parts]
    name = options.part
    if name is None:
        name = next((n for n in REMOVABLE_PARTS if n in names), None)
        if name is None:
            raise DefectNotApplicable(f"the product has none of {', '.join(REMOVABLE_PARTS)}")
    index = _pick_part(parts, rng, name)
    ghost = Ghost(parts[index].mesh, defect_id)
    return Result(_with_part(parts, index, []), ghosts=(ghost,), params={"part": name})


def contamination(parts, defect_id, severity, options, rng) -> Result:
    """A small foreign object on the surface: a lumpy grain or a short fibre."""
    index = _pick_part(parts, rng, options.part)
    radius = _size(options, 0.0015 + 0.003 * severity)
    point, normal = random_surface_point(parts[index].mesh, rng, options.facing)
    if rng.random() < 0.5:
        shape = "grain"
        tm = trimesh.creation.icosphere(subdivisions=2, radius=radius)
        bumps = 1 + 0.25 * rng.uniform(-1, 1, len(tm.vertices))
        tm.vertices *= bumps[:, None]
        tm.vertices += point + normal * radius * 0.4
    else:
        shape = "fibre"
        tangent = np.cross(normal, rng.normal(size=3))
        tangent /= max(np.linalg.norm(tangent), 1e-12)
        length = radius * 8
        tm = trimesh.creation.cylinder(radius=radius * 0.12, height=length, sections=8)
        align = trimesh.geometry.align_vectors([0, 0, 1], tangent)
        tm.apply_transform(align)
        tm.vertices += point + normal * radius * 0.1
    tm.fix_normals()
    vertices = np.asarray(tm.vertices, np.float32)
    mesh = make_mesh(vertices, tm.faces, tm.vertex_normals, np.zeros((len(vertices), 2)))
    palette = ((0.03, 0.03, 0.03), (0.3, 0.18, 0.06), (0.6, 0.6, 0.55), (0.05, 0.12, 0.3))
    colour = options.color or palette[int(rng.integers(0, len(palette)))]
    material = Material(base_color=tuple(float(c) for c in colour), roughness=0.8)
    extra = Part(mesh, material, "contamination", defect_id, _surface_of(parts[index], index))
    params = {"shape": shape, "radius_m": round(radius, 6), "part": parts[index].name}
    return Result(tuple(parts) + (extra,), params=params)


def misprint(parts, defect_id, severity, options, rng) -> Result:
    """The print of the label (or of the textured part named) shifted, rotated, smeared or
    missing; the whole printed part is the defect."""
    candidates = [i for i, p in enumerate(parts) if p.material.texture is not None]
    if options.part is not None:
        candidates = [i for i in candidates if parts[i].name == options.part]
    else:  # the label when it is printed, else any printed part
        candidates = [i for i in candidates if parts[i].name == "label"] or candidates
    if not candidates:
        raise DefectNotApplicable("the product has no printed (textured) part to misprint")
    index = candidates[0]
    part = parts[index]
    mode = options.mode or MISPRINT_MODES[int(rng.integers(0, len(MISPRINT_MODES)))]
    texture = part.material.texture
    image = Image.fromarray(texture)
    paper = tuple(int(c) for c in np.median(texture.reshape(-1, 3), axis=0))
    h, w = texture.shape[:2]
    if mode == "shift":
        dx = int(round(w * (0.05 + 0.2 * severity) * rng.choice((-1, 1))))
        dy = int(round(h * (0.05 + 0.2 * severity) * rng.choice((-1, 1))))
        out = Image.new("RGB", (w, h), paper)
        out.paste(image, (dx, dy))
        params = {"shift_px": [dx, dy]}
    elif mode == "rotate":
        angle = float((4 + 20 * severity) * rng.choice((-1, 1)))
        out = image.rotate(angle, resample=Image.BILINEAR, fillcolor=paper)
        params = {"angle_deg": round(angle, 3)}
    elif mode == "smear":
        radius = 2 + 10 * severity
        out = image.filter(ImageFilter.BoxBlur(radius))
        params = {"blur_px": round(radius, 3)}
    else:
        out = Image.new("RGB", (w, h), paper)
        params = {}
    printed = np.asarray(out, np.uint8)
    material = dataclasses.replace(part.material, texture=printed, texture_key=content_key(printed))
    new = Part(part.mesh, material, part.name, defect_id, _surface_of(part, index))
    params = {"mode": mode, "part": part.name, **params}
    return Result(_with_part(parts, index, [new]), params=params)


GENERATORS: dict[str, Generator] = {
    "scratch": scratch,
    "crack": crack,
    "stain": stain,
    "dent": dent,
    "hole": hole,
    "missing_part": missing_part,
    "misprint": misprint,
    "contamination": contamination,
}
