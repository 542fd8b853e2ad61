"""Rigid-body physics for conveyor sequences, with MuJoCo.

Products appear at their spawn times, fall, settle, slide, topple, collide and ride the belt; the
caller gets their poses and velocities at the frame times it asks for. One MuJoCo model holds
every product of a sequence (MuJoCo cannot add bodies while it runs): a product waits parked far
below the scene with its collisions off until its spawn time, and is parked again once it leaves.

The belt is a static box whose `surfacevel` is the belt speed, so friction carries what lies on
it; moving a kinematic belt drags nothing, and setting product velocities by hand would get slip
and toppling wrong.

Only convex hulls collide: a product is the convex hull of all its parts' vertices (MuJoCo
collides meshes as their hulls anyway), so a concave product rests on its hull and two products
cannot nest. Its mass is its density times the hull's volume, its inertia that of the solid hull.

Same inputs, same outputs, bit for bit, within one MuJoCo version (it runs single-threaded and
draws nothing at random); a new MuJoCo version may change the numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import mujoco
import numpy as np
import trimesh

from groundforge.world.scenery import BELT_THICKNESS, RAIL_WIDTH, Belt, rail_segments
from groundforge.world.state import Body, Part

log = logging.getLogger(__name__)

# Contact model. condim 3 is sliding friction alone: a product standing on a face, an edge or a
# line touches through several contact points, whose sliding friction already resists spinning
# in place, so torsional friction (condim 4) would cost solver time for little. A product that
# touches at a single point (a ball) spins about the normal unresisted. The elliptic cone makes
# friction the same in every direction (the pyramid's is not), which matters for products
# sliding across the belt at an angle to its axis.
CONDIM = 3
# A rubber belt grips; products slide on one another and on smooth steel guide rails. The
# belt, rails and floor carry a higher priority, so their friction, not the larger of the two,
# rules their contacts.
BELT_FRICTION = 0.9
RAIL_FRICTION = 0.3
FLOOR_FRICTION = 0.8
PRODUCT_FRICTION = 0.5
# MuJoCo's default soft contact, stated so that it is a choice: a critically damped contact with a
# 20 ms time constant (ten steps of the default timestep, well inside the stable range of two or
# more) settles a product within a few frames and lets it sink 0.1-0.2 mm into the belt.
SOLREF = (0.02, 1.0)
SOLIMP = (0.9, 0.95, 0.001, 0.5, 2.0)

# Products leaving the belt are found at most this late (seconds), so one that drops off the
# end stops colliding within a few millimetres of its fall.
CHECK_INTERVAL = 0.01
FALL_LIMIT_Z = -1.0
# Parked products wait here, one every PARK_SPACING metres along x, far from anything else.
PARK_Z = -100.0
PARK_SPACING = 10.0


@dataclass(frozen=True)
class Spawn:
    """A product entering the sequence.

    parts: its meshes in its object frame (metres). pose: (4, 4) object_to_world when it
    appears. time: seconds from the sequence start. velocity: initial linear velocity of the
    object-frame origin, world frame, m/s. density: kg/m^3 of its convex hull.
    """

    instance_id: int
    parts: tuple[Part, ...]
    pose: np.ndarray
    time: float
    velocity: tuple[float, float, float] = (0.0, 0.0, 0.0)
    density: float = 400.0


@dataclass(frozen=True)
class Mover:
    """A kinematic box (a pusher's paddle): it follows `pose_at` and pushes products, and
    nothing pushes it. It is moved every step while `moving(t)` says so, and left in place
    otherwise."""

    half_extents: tuple[float, float, float]
    pose_at: Callable[[float], np.ndarray]  # t -> (4, 4) world pose of the box centre
    moving: Callable[[float], bool]


@dataclass(frozen=True)
class BodyState:
    """A product at one frame time.

    object_to_world: (4, 4) float64. velocity: (3,) m/s of the object-frame origin, world frame.
    angular_velocity: (3,) rad/s, world frame.
    """

    object_to_world: np.ndarray
    velocity: np.ndarray
    angular_velocity: np.ndarray


@dataclass(frozen=True)
class SpeedProfile:
    """Belt speed over time: piecewise constant segments [(start_time, speed m/s), ...].

    Sorted by start time, the first at 0; run, stop, restart is ((0, 0.3), (1.5, 0.0), (2.5, 0.3)).
    A positive speed carries products towards +x of the belt frame.
    """

    segments: tuple[tuple[float, float], ...]

    def __post_init__(self):
        starts = [float(start) for start, _ in self.segments]
        if not starts or starts[0] != 0.0:
            raise ValueError(f"SpeedProfile.segments must start at time 0, got {self.segments}")
        if any(b <= a for a, b in zip(starts, starts[1:], strict=False)):
            raise ValueError(f"SpeedProfile.segments must be sorted by start, got {self.segments}")

    @classmethod
    def constant(cls, speed: float) -> SpeedProfile:
        """One speed for the whole sequence."""
        return cls(((0.0, float(speed)),))

    def speed(self, t: float) -> float:
        """Belt speed at `t` seconds, m/s."""
        current = self.segments[0][1]
        for start, value in self.segments:
            if start > t:
                break
            current = value
        return float(current)


def simulate(
    belt: Belt | None,
    speed: SpeedProfile,
    spawns: Sequence[Spawn],
    frame_times: Sequence[float],
    floor: bool = True,
    static_bodies: Sequence[Body] = (),
    timestep: float = 0.002,
    movers: Sequence[Mover] = (),
) -> list[dict[int, BodyState]]:
    """Per frame time, the state of every product present then, keyed by instance id.

    A product is present from its spawn time until its centre of mass passes the belt's
    downstream end (x > length/2 in the belt frame while the belt runs towards +x, x < -length/2
    while it runs backwards; a stopped belt keeps the direction it last ran in, +x if it never
    ran) or falls below z = -1. `static_bodies` are fixed obstacles (side guides, gates) that
    collide as the convex hull of each of their parts. Frame and spawn times, and the starts of
    speed segments, are rounded to the nearest multiple of `timestep`. `movers` are kinematic
    obstacles such as pushers.
    """
    _check_inputs(spawns, frame_times, timestep)
    if not frame_times:
        return []
    run = _Run(belt, speed, spawns, static_bodies, floor, timestep, movers)
    return run.frames([_steps(t, timestep) for t in frame_times])


def _check_inputs(spawns: Sequence[Spawn], frame_times: Sequence[float], timestep: float) -> None:
    if not timestep > 0:
        raise ValueError(f"timestep must be positive, got {timestep}")
    times = [float(t) for t in frame_times]
    if any(t < 0 for t in times) or any(b < a for a, b in zip(times, times[1:], strict=False)):
        raise ValueError(f"frame_times must be non-negative and ascending, got {times}")
    ids = [s.instance_id for s in spawns]
    if any(i < 1 for i in ids) or len(set(ids)) != len(ids):
        raise ValueError(f"spawn instance ids must be unique and >= 1, got {ids}")
    for s in spawns:
        if np.shape(s.pose) != (4, 4):
            raise ValueError(f"spawn {s.instance_id}: pose must be (4, 4), got {np.shape(s.pose)}")
        if not s.parts:
            raise ValueError(f"spawn {s.instance_id}: a product needs at least one part")
        if s.time < 0 or s.density <= 0:
            raise ValueError(f"spawn {s.instance_id}: time must be >= 0 and density > 0")


def _steps(t: float, timestep: float) -> int:
    return int(round(float(t) / timestep))


class _Run:
    """One compiled model and its simulation state, stepped from event to event."""

    def __init__(
        self,
        belt: Belt | None,
        speed: SpeedProfile,
        spawns: Sequence[Spawn],
        static_bodies: Sequence[Body],
        floor: bool,
        timestep: float,
        movers: Sequence[Mover] = (),
    ):
        self.belt, self.spawns, self.timestep = belt, list(spawns), timestep
        self.movers = list(movers)
        self.model = _build_model(
            belt, speed, self.spawns, static_bodies, floor, timestep, self.movers
        )
        self.data = mujoco.MjData(self.model)
        self._move_movers(0)

        model = self.model
        self.bodies = np.array(
            [model.body(f"product{s.instance_id}").id for s in self.spawns], dtype=int
        )
        self.qpos_adr = model.jnt_qposadr[model.body_jntadr[self.bodies]]
        self.dof_adr = model.body_dofadr[self.bodies]
        starts, counts = model.body_geomadr[self.bodies], model.body_geomnum[self.bodies]
        self.geoms = [np.arange(a, a + n) for a, n in zip(starts, counts, strict=True)]
        self.belt_geom = self.model.geom("belt").id if belt is not None else None
        self.speed_steps = [(_steps(start, timestep), float(v)) for start, v in speed.segments]
        self.downstream = 1.0
        self.qpos_index = self.qpos_adr[:, None] + np.arange(7)
        self.dof_index = self.dof_adr[:, None] + np.arange(6)
        self.park_qpos = np.array([_park_qpos(k) for k in range(len(self.spawns))]).reshape(-1, 7)
        self.active = np.ones(len(self.spawns), dtype=bool)
        for k in range(len(self.spawns)):
            self._park(k)

    def frames(self, frame_steps: list[int]) -> list[dict[int, BodyState]]:
        """The states at each frame step; runs the simulation up to the last one."""
        end = frame_steps[-1]
        spawn_steps = [_steps(s.time, self.timestep) for s in self.spawns]
        check = max(1, _steps(CHECK_INTERVAL, self.timestep))
        events = set(frame_steps) | set(range(0, end + 1, check))
        events |= {n for n in spawn_steps if n <= end}
        events |= {n for n, _ in self.speed_steps if n <= end}
        # A mover is placed every step while it moves: a jump of several steps' travel would
        # drive it deep into what it pushes.
        events |= {
            n for n in range(end + 1) if any(m.moving(n * self.timestep) for m in self.movers)
        }

        spawning: dict[int, list[int]] = {}
        for k, n in enumerate(spawn_steps):
            spawning.setdefault(n, []).append(k)
        wanted = set(frame_steps)

        by_step: dict[int, dict[int, BodyState]] = {}
        step = 0
        for event in sorted(events):
            if event > step:
                mujoco.mj_step(self.model, self.data, nstep=event - step)
                step = event
            self._set_speed(step)
            self._move_movers(step)
            self._remove_departed()
            self._hold_parked()
            for k in spawning.get(step, ()):
                self._spawn(k)
            if step in wanted:
                by_step[step] = self._states()
        log.debug("simulated %d products for %.2f s", len(self.spawns), end * self.timestep)
        return [dict(by_step[n]) for n in frame_steps]

    def _move_movers(self, step: int) -> None:
        for k, mover in enumerate(self.movers):
            pose = mover.pose_at(step * self.timestep)
            self.data.mocap_pos[k] = pose[:3, 3]
            self.data.mocap_quat[k] = _quat(pose[:3, :3])

    def _set_speed(self, step: int) -> None:
        if self.belt_geom is None:
            return
        v = [value for start, value in self.speed_steps if start <= step][-1]
        self.model.geom_surfacevel[self.belt_geom, 0] = v
        if v != 0:
            self.downstream = float(np.sign(v))

    def _park(self, k: int) -> None:
        self.model.geom_contype[self.geoms[k]] = 0
        self.model.geom_conaffinity[self.geoms[k]] = 0
        self.active[k] = False
        self._hold_parked()

    def _hold_parked(self) -> None:
        """Put parked products back in their places, at rest; gravity moves them in between."""
        parked = ~self.active
        if parked.any():
            self.data.qpos[self.qpos_index[parked]] = self.park_qpos[parked]
            self.data.qvel[self.dof_index[parked]] = 0.0

    def _spawn(self, k: int) -> None:
        spawn = self.spawns[k]
        q, d = self.qpos_adr[k], self.dof_adr[k]
        self.data.qpos[q : q + 3] = spawn.pose[:3, 3]
        self.data.qpos[q + 3 : q + 7] = _quat(spawn.pose[:3, :3])
        self.data.qvel[d : d + 3] = spawn.velocity
        self.data.qvel[d + 3 : d + 6] = 0.0
        self.model.geom_contype[self.geoms[k]] = 1
        self.model.geom_conaffinity[self.geoms[k]] = 1
        self.active[k] = True

    def _remove_departed(self) -> None:
        """Park every active product past the belt's downstream end or fallen below the floor."""
        if not self.active.any():
            return
        # Centres of mass from the last step's kinematics: one step (a few mm at most) behind.
        com = self.data.xipos[self.bodies]
        gone = com[:, 2] < FALL_LIMIT_Z
        if self.belt is not None:
            to_world = self.belt.belt_to_world
            x_belt = (com - to_world[:3, 3]) @ to_world[:3, 0]
            gone |= self.downstream * x_belt > self.belt.length / 2
        for k in np.flatnonzero(gone & self.active):
            self._park(int(k))

    def _states(self) -> dict[int, BodyState]:
        rotations = _rotations(self._qpos_quats())
        positions = self._qpos_positions()
        states: dict[int, BodyState] = {}
        for k in np.flatnonzero(self.active):
            pose = np.eye(4)
            pose[:3, :3] = rotations[k]
            pose[:3, 3] = positions[k]
            d = self.dof_adr[k]
            # A free joint's qvel is the linear velocity of the body origin in the world frame,
            # then the angular velocity in the body frame.
            velocity = self.data.qvel[d : d + 3].copy()
            angular = rotations[k] @ self.data.qvel[d + 3 : d + 6]
            states[self.spawns[k].instance_id] = BodyState(pose, velocity, angular)
        return states

    def _qpos_positions(self) -> np.ndarray:
        return self.data.qpos[self.qpos_index[:, :3]]

    def _qpos_quats(self) -> np.ndarray:
        return self.data.qpos[self.qpos_index[:, 3:]]


def _park_qpos(k: int) -> np.ndarray:
    """(7,) free-joint qpos of the k-th product's parking place: far below, apart, upright."""
    return np.array([PARK_SPACING * (k + 1), 0.0, PARK_Z, 1.0, 0.0, 0.0, 0.0])


def _build_model(
    belt: Belt | None,
    speed: SpeedProfile,
    spawns: list[Spawn],
    static_bodies: Sequence[Body],
    floor: bool,
    timestep: float,
    movers: Sequence[Mover] = (),
) -> mujoco.MjModel:
    spec = mujoco.MjSpec()
    spec.option.timestep = timestep
    spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    # MuJoCo's recommended integrator: as cheap as Euler here (no joints or actuators to damp)
    # and stabler should anything stiff be added.
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    world = spec.worldbody
    mesh = mujoco.mjtGeom.mjGEOM_MESH

    if floor:
        _fixed_geom(world, "floor", mujoco.mjtGeom.mjGEOM_PLANE, FLOOR_FRICTION, size=[0, 0, 1])
    if belt is not None:
        # MuJoCo only looks at surface velocities when one was non-zero at compile time
        # (`flg_surfacevel`), so the belt is compiled running at some speed of the profile.
        running = [v for _, v in speed.segments if v != 0]
        _add_belt(world, belt, running[0] if running else 0.0)

    hulls: dict[tuple[str, ...], str] = {}
    for i, body in enumerate(static_bodies):
        fixed = world.add_body(name=f"static{i}", pos=body.object_to_world[:3, 3])
        fixed.quat = _quat(body.object_to_world[:3, :3])
        for j, part in enumerate(body.parts):
            name = _hull_mesh(spec, hulls, (part,), f"static body {i} part {j}")
            _fixed_geom(fixed, f"static{i}_{j}", mesh, PRODUCT_FRICTION, meshname=name, priority=0)

    for k, mover in enumerate(movers):
        pose = mover.pose_at(0.0)
        paddle = world.add_body(name=f"mover{k}", mocap=True, pos=pose[:3, 3])
        paddle.quat = _quat(pose[:3, :3])
        _fixed_geom(
            paddle,
            f"mover{k}",
            mujoco.mjtGeom.mjGEOM_BOX,
            RAIL_FRICTION,
            size=list(mover.half_extents),
        )
        # A kinematic paddle has no velocity for the solver: only penetration pushes back, so
        # its contacts are made as stiff as the step allows, or it would pass through products.
        world.geoms[-1].solref = [2 * timestep, 1.0]

    for k, s in enumerate(spawns):
        name = _hull_mesh(spec, hulls, s.parts, f"spawn {s.instance_id}")
        park = _park_qpos(k)
        product = world.add_body(name=f"product{s.instance_id}", pos=park[:3], quat=park[3:])
        product.add_freejoint()
        product.add_geom(
            type=mesh,
            meshname=name,
            density=s.density,
            friction=[PRODUCT_FRICTION, 0.005, 0.0001],
            condim=CONDIM,
            solref=SOLREF,
            solimp=SOLIMP,
        )
    return spec.compile()


def _add_belt(world, belt: Belt, speed: float) -> None:
    """The belt surface (top at z = height) and its side rails, as static boxes."""
    rotation, origin = belt.belt_to_world[:3, :3], belt.belt_to_world[:3, 3]
    quat = _quat(rotation)

    def place(center):
        return rotation @ np.asarray(center, dtype=np.float64) + origin

    box = mujoco.mjtGeom.mjGEOM_BOX
    size = [belt.length / 2, belt.width / 2, BELT_THICKNESS / 2]
    center = place((0.0, 0.0, belt.height - BELT_THICKNESS / 2))
    _fixed_geom(world, "belt", box, BELT_FRICTION, size=size, pos=center, quat=quat)
    world.geoms[-1].surfacevel = [speed, 0.0, 0.0, 0.0, 0.0, 0.0]
    # Same boxes as the drawn rails (scenery.belt_body): from the belt's underside up.
    rail_h = belt.rail_height + BELT_THICKNESS
    for k, (sign, lo, hi) in enumerate(rail_segments(belt)):
        y = sign * (belt.width / 2 + RAIL_WIDTH / 2)
        center = place(((lo + hi) / 2, y, belt.height - BELT_THICKNESS + rail_h / 2))
        size = [(hi - lo) / 2, RAIL_WIDTH / 2, rail_h / 2]
        _fixed_geom(world, f"rail{k}", box, RAIL_FRICTION, size=size, pos=center, quat=quat)


def _fixed_geom(parent, name: str, kind, friction: float, priority: int = 1, **kwargs) -> None:
    parent.add_geom(
        name=name,
        type=kind,
        friction=[friction, 0.005, 0.0001],
        condim=CONDIM,
        priority=priority,
        solref=SOLREF,
        solimp=SOLIMP,
        **kwargs,
    )


def _hull_mesh(spec, hulls: dict[tuple[str, ...], str], parts: tuple[Part, ...], what: str) -> str:
    """The name of a mesh asset holding the convex hull of `parts`; equal parts share one."""
    key = tuple(p.mesh.key for p in parts)
    if key in hulls:
        return hulls[key]
    points = np.concatenate([p.mesh.vertices for p in parts]).astype(np.float64)
    try:
        hull = trimesh.convex.convex_hull(points)
    except Exception as error:  # qhull raises its own error type for flat or degenerate input
        raise ValueError(f"{what}: its vertices span no volume, so it cannot collide") from error
    if not hull.is_volume or hull.volume <= 0:
        raise ValueError(f"{what}: its vertices span no volume, so it cannot collide")
    name = f"hull{len(hulls)}"
    asset = spec.add_mesh(
        name=name,
        uservert=hull.vertices.reshape(-1).tolist(),
        userface=hull.faces.reshape(-1).tolist(),
    )
    asset.inertia = mujoco.mjtMeshInertia.mjMESH_INERTIA_EXACT
    hulls[key] = name
    return name


def _quat(rotation: np.ndarray) -> np.ndarray:
    """(4,) unit quaternion (w, x, y, z) of a (3, 3) rotation."""
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, np.ascontiguousarray(rotation, dtype=np.float64).reshape(-1))
    return quat


def _rotations(quats: np.ndarray) -> np.ndarray:
    """(N, 3, 3) rotations of (N, 4) quaternions (w, x, y, z), normalised first."""
    q = quats / np.linalg.norm(quats, axis=1, keepdims=True)
    w, x, y, z = q.T
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], axis=-1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], axis=-1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], axis=-1),
        ],
        axis=1,
    )
