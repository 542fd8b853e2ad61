"""The fixed parts of a scene: floor, walls and a conveyor belt, as bodies with instance id 0."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import trimesh

from groundforge.assets.meshes import mesh_from_trimesh
from groundforge.spec.scene import BeltSpec, BinSpec, EnvironmentSpec, MaterialSpec
from groundforge.world.geometry import rigid, rotation_z
from groundforge.world.state import Body, Material, Mesh, Part

BELT_THICKNESS = 0.04
RAIL_WIDTH = 0.03


@functools.lru_cache(maxsize=256)
def box_mesh(
    extents, center=(0.0, 0.0, 0.0), tile: float | None = None, shift_m: float = 0.0
) -> Mesh:
    """A hard-edged box; with `tile`, uv repeat every `tile` metres across each face, the
    texture moved `shift_m` along +x (a running belt's surface).

    Arguments must be hashable (tuples): boxes are cached, as scenery repeats every shot.
    """
    tm = trimesh.creation.box(extents=extents)
    tm.apply_translation(center)
    if tile is None:
        return mesh_from_trimesh(tm, flat=True)
    corners = tm.vertices[tm.faces.reshape(-1)]
    normals = np.repeat(tm.face_normals, 3, axis=0)
    axis = np.abs(normals).argmax(axis=1)
    # Project each face onto the two axes it spans; the texture repeats every `tile` metres.
    u_axis = np.where(axis == 0, 1, 0)
    v_axis = np.where(axis == 2, 1, 2)
    rows = np.arange(len(corners))
    shift = np.where(u_axis == 0, shift_m, 0.0)
    uv = np.stack([corners[rows, u_axis] - shift, corners[rows, v_axis]], axis=1) / tile
    flat = trimesh.Trimesh(corners, np.arange(len(corners)).reshape(-1, 3), process=False)
    return mesh_from_trimesh(flat, uv=uv, flat=True)


MaterialFor = Callable[[MaterialSpec | str], Material]


@dataclass(frozen=True)
class Belt:
    """The concrete conveyor of one shot: metres, yaw in radians."""

    length: float
    width: float
    height: float
    rail_height: float
    yaw: float
    rails: bool
    frame: bool
    # Openings in the rails: (side, x_from, x_to) in the belt frame, side +1 or -1 for +y or -y.
    rail_gaps: tuple[tuple[int, float, float], ...] = ()

    @property
    def belt_to_world(self) -> np.ndarray:
        """(4, 4): the belt frame (x along the belt, z up, origin under its centre)."""
        return rigid(rotation_z(self.yaw), (0.0, 0.0, 0.0))


def sample_belt(spec: BeltSpec, rng: np.random.Generator) -> Belt:
    """The belt's dimensions for one shot."""
    return Belt(
        length=float(spec.length.sample(rng)),
        width=float(spec.width.sample(rng)),
        height=float(spec.height.sample(rng)),
        rail_height=float(spec.rail_height.sample(rng)),
        yaw=float(np.radians(spec.yaw_deg.sample(rng))),
        rails=spec.rails,
        frame=spec.frame,
        rail_gaps=tuple(pusher_gap(p) for p in spec.pushers),
    )


def rail_segments(belt: Belt) -> list[tuple[int, float, float]]:
    """The pieces of rail, (side, x_from, x_to) in the belt frame, around the gaps."""
    if not belt.rails or belt.rail_height <= 0:
        return []
    pieces = []
    for side in (-1, 1):
        start = -belt.length / 2
        for _, lo, hi in sorted(g for g in belt.rail_gaps if g[0] == side):
            if lo > start:
                pieces.append((side, start, lo))
            start = max(start, hi)
        if start < belt.length / 2:
            pieces.append((side, start, belt.length / 2))
    return pieces


# Clearance beside a pusher's paddle in the far rail's opening, metres.
PUSHER_GAP_MARGIN = 0.05


def pusher_gap(pusher) -> tuple[int, float, float]:
    """The opening a pusher needs in the rail it pushes towards."""
    far_side = -1 if pusher.side == "+y" else 1
    half = pusher.width / 2 + PUSHER_GAP_MARGIN
    return (far_side, pusher.x - half, pusher.x + half)


def pusher_pose(pusher, belt: Belt, t: float) -> np.ndarray:
    """(4, 4) world pose of a pusher paddle's centre at time t: at rest just inside the belt's
    edge on its side, sweeping across and back (smoothstep) during each stroke."""
    near = 1.0 if pusher.side == "+y" else -1.0
    reach = belt.width - pusher.thickness
    out = 0.0
    for start in pusher.times_s:
        phase = (t - start) / pusher.stroke_s
        if 0.0 <= phase <= 1.0:
            ramp = 1.0 - abs(2.0 * phase - 1.0)
            out = max(out, ramp * ramp * (3.0 - 2.0 * ramp))
    y = near * (belt.width / 2 - pusher.thickness / 2) - near * reach * out
    # A hair above the belt, so it sweeps over the surface without rubbing on it.
    z = belt.height + 0.002 + pusher.height / 2
    return belt.belt_to_world @ rigid(np.eye(3), (pusher.x, y, z))


def pusher_bodies(belt: Belt, spec: BeltSpec, material: MaterialFor, t: float) -> list[Body]:
    """The belt's pushers at time t."""
    return [
        Body(
            (Part(box_mesh((p.width, p.thickness, p.height)), material(p.material)),),
            pusher_pose(p, belt, t),
            name=f"pusher{i}",
        )
        for i, p in enumerate(spec.pushers)
    ]


def scenery(
    env: EnvironmentSpec,
    belt: Belt | None,
    rng: np.random.Generator,
    material: MaterialFor,
    belt_travel_m: float = 0.0,
    time_s: float = 0.0,
) -> list[Body]:
    """All scenery bodies of the environment at time `time_s`, with materials from
    `material(ref)`; the belt's surface texture moved by `belt_travel_m` along the belt."""
    bodies: list[Body] = []
    if env.floor is not None:
        sx, sy = env.floor.size
        mesh = box_mesh((sx, sy, 0.02), center=(0, 0, -0.01), tile=1.0)
        # Nothing lies under the floor: casting would only spread the directional shadow map.
        bodies.append(_static("floor", [Part(mesh, material(env.floor.material))], False))
    if env.walls is not None:
        d, h = float(env.walls.distance.sample(rng)), float(env.walls.height.sample(rng))
        mat = material(env.walls.material)
        parts = [
            Part(box_mesh((0.05, 2 * d, h), center=(sign * d, 0, h / 2), tile=1.0), mat)
            for sign in (-1, 1)
        ] + [
            Part(box_mesh((2 * d, 0.05, h), center=(0, sign * d, h / 2), tile=1.0), mat)
            for sign in (-1, 1)
        ]
        bodies.append(_static("walls", parts, cast_shadows=False))
    if env.belt is not None and belt is not None:
        bodies.append(belt_body(belt, env.belt, material, belt_travel_m))
        bodies += guide_bodies(belt, env.belt, material)
        bodies += pusher_bodies(belt, env.belt, material, time_s)
    bodies += [bin_body(spec, i, material, rng) for i, spec in enumerate(env.bins)]
    return bodies


def bin_body(spec: BinSpec, index: int, material: MaterialFor, rng: np.random.Generator) -> Body:
    """An open box on the floor: a bottom and four walls, in the bin's own frame (origin at
    the centre of its footprint on the floor)."""
    length, width, height = spec.size
    t = spec.wall
    mat = material(spec.material)
    boxes = [
        ((length, width, t), (0.0, 0.0, t / 2)),
        ((length, t, height), (0.0, (width - t) / 2, height / 2)),
        ((length, t, height), (0.0, -(width - t) / 2, height / 2)),
        ((t, width - 2 * t, height), ((length - t) / 2, 0.0, height / 2)),
        ((t, width - 2 * t, height), (-(length - t) / 2, 0.0, height / 2)),
    ]
    parts = tuple(Part(box_mesh(extents, center=centre), mat) for extents, centre in boxes)
    yaw = np.radians(float(spec.yaw_deg.sample(rng)))
    pose = rigid(rotation_z(yaw), (*spec.position, 0.0))
    return Body(parts, pose, name=f"bin{index}")


def guide_bodies(belt: Belt, spec: BeltSpec, material: MaterialFor) -> list[Body]:
    """The belt's side guides, each a body of its own standing on the belt surface."""
    bodies = []
    for i, guide in enumerate(spec.guides):
        (x0, y0), (x1, y1) = guide.start, guide.end
        length = float(np.hypot(x1 - x0, y1 - y0))
        mesh = box_mesh((length, guide.thickness, guide.height))
        centre = ((x0 + x1) / 2, (y0 + y1) / 2, belt.height + guide.height / 2)
        pose = belt.belt_to_world @ rigid(rotation_z(np.arctan2(y1 - y0, x1 - x0)), centre)
        bodies.append(Body((Part(mesh, material(guide.material)),), pose, name=f"guide{i}"))
    return bodies


def guide_footprints(spec: BeltSpec) -> list[np.ndarray]:
    """(4, 2) corners of each guide on the belt, in the belt frame, counter-clockwise."""
    out = []
    for guide in spec.guides:
        start, end = np.asarray(guide.start, float), np.asarray(guide.end, float)
        along = (end - start) / np.linalg.norm(end - start)
        side = np.array([-along[1], along[0]]) * guide.thickness / 2
        out.append(np.stack([start - side, end - side, end + side, start + side]))
    return out


def belt_body(belt: Belt, spec: BeltSpec, material: MaterialFor, travel_m: float = 0.0) -> Body:
    """The conveyor: belt surface, optional rails and frame, along its own x axis."""
    length, width, h = belt.length, belt.width, belt.height
    surface = box_mesh(
        (length, width, BELT_THICKNESS),
        center=(0, 0, h - BELT_THICKNESS / 2),
        tile=width,
        shift_m=round(travel_m % width, 6),
    )
    parts = [
        Part(
            surface,
            material(spec.belt_material),
        )
    ]
    rail_mat = material(spec.rail_material)
    rail_h = belt.rail_height + BELT_THICKNESS
    for sign, lo, hi in rail_segments(belt):
        y = sign * (width / 2 + RAIL_WIDTH / 2)
        center = ((lo + hi) / 2, y, h - BELT_THICKNESS + rail_h / 2)
        parts.append(Part(box_mesh((hi - lo, RAIL_WIDTH, rail_h), center=center), rail_mat))
    if belt.frame:
        frame_mat = material(spec.frame_material)
        skirt = min(0.12, h - BELT_THICKNESS)
        for sign in (-1, 1):
            y = sign * (width / 2 + RAIL_WIDTH / 2)
            center = (0, y, h - BELT_THICKNESS - skirt / 2)
            parts.append(Part(box_mesh((length, RAIL_WIDTH, skirt), center=center), frame_mat))
        leg_h = h - BELT_THICKNESS - skirt
        if leg_h > 0:
            for x in np.linspace(
                -length / 2 + 0.1, length / 2 - 0.1, max(2, int(length / 1.2) + 1)
            ):
                for sign in (-1, 1):
                    y = sign * (width / 2 + RAIL_WIDTH / 2)
                    leg = box_mesh((0.05, 0.05, leg_h), center=(float(x), y, leg_h / 2))
                    parts.append(Part(leg, frame_mat))
    return Body(tuple(parts), belt.belt_to_world, name="belt")


def _static(name: str, parts: list[Part], cast_shadows: bool = True) -> Body:
    return Body(tuple(parts), np.eye(4), cast_shadows=cast_shadows, name=name)
