"""Sequences: runs of frames linked by physics on a moving belt, seen by the whole rig.

A sequence is the unit of a video batch: everything in it is drawn from the seed tree at the
sequence's first shot, then MuJoCo moves the products from frame to frame. Shot numbers are
unique in a dataset: frame f of sequence s is shot s * frames_per_sequence + f, and every
camera's image of that frame carries that shot number and the frame's timestamp.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from groundforge.assets.textures import srgb_to_linear
from groundforge.sampling.seeds import rng_for
from groundforge.spec.scene import BeltSpec, ObjectGroupSpec, PusherSpec, Scene
from groundforge.world.build import (
    SceneSampler,
    _bounds,
    _ref_key,
    _triple,
    make_camera,
    make_light,
)
from groundforge.world.geometry import axis_angle, box_corners, rigid, rotation_z
from groundforge.world.physics import BodyState, Mover, Spawn, SpeedProfile, simulate
from groundforge.world.scenery import (
    Belt,
    guide_bodies,
    pusher_pose,
    sample_belt,
    scenery,
)
from groundforge.world.state import Body, Material, World

# How far from the belt's start end arriving products appear, beyond their own half length.
ARRIVAL_MARGIN_M = 0.02


@dataclass(frozen=True)
class Arrival:
    """A product of the sequence: its body (pose at arrival) and when it arrives."""

    body: Body
    time: float


class SequenceSampler:
    """Draws the frames of any sequence of a scene; the same (seed, sequence) gives the same."""

    def __init__(self, scene: Scene, seed: int):
        if scene.sequence is None:
            raise ValueError(f"scene {scene.name!r} has no `sequence`")
        self.scene = scene
        self.seed = seed
        self.stills = SceneSampler(scene, seed)
        self.frames = scene.sequence.frame_count
        self.dt = 1.0 / scene.sequence.fps

    def shot(self, sequence: int, frame: int) -> int:
        """The dataset-wide shot number of a frame."""
        return sequence * self.frames + frame

    def worlds(self, sequence: int) -> list[World]:
        """Every frame of `sequence`, in order."""
        scene, first = self.scene, self.shot(sequence, 0)
        env = scene.environment
        scenery_rng = rng_for(self.seed, first, "scenery")
        belt = sample_belt(env.belt, scenery_rng) if env.belt is not None else None
        speed = self.speed_profile(first)
        arrivals = self._with_defects(sequence, self.arrivals(first, belt, speed), belt)
        times = [f * self.dt for f in range(self.frames)]
        states = simulate(
            belt,
            speed,
            [self._spawn(a, belt, speed) for a in arrivals],
            times,
            floor=env.floor is not None,
            static_bodies=guide_bodies(belt, env.belt, lambda ref: Material()) if belt else (),
            movers=pushers(belt, env.belt) if belt else (),
        )

        # The rig, the lights and the scenery's materials hold for the whole sequence.
        materials = {}

        def material(ref):
            key = _ref_key(ref)
            if key not in materials:
                materials[key] = self.stills.material(ref, scenery_rng, key)
            return materials[key]

        lights_rng = rng_for(self.seed, first, "lights")
        lights = [make_light(spec, lights_rng) for spec in scene.lights]
        cameras = [
            make_camera(spec, rng_for(self.seed, first, f"camera/{spec.name}"))
            for spec in scene.cameras
        ]
        background = _triple(_linear(env.background_color))
        bodies_by_id = {a.body.instance_id: a.body for a in arrivals}

        worlds = []
        for f, t in enumerate(times):
            # The same draws every frame: walls and bins keep their shape through a sequence.
            shapes = rng_for(self.seed, first, "scenery-shapes")
            fixed = scenery(env, belt, shapes, material, travelled(speed, t), t)
            following = states[f + 1] if f + 1 < len(states) else None
            products = [
                _moved(
                    bodies_by_id[i],
                    state,
                    following.get(i) if following else None,
                    last=following is None,
                )
                for i, state in sorted(states[f].items())
            ]
            rig = [
                dataclasses.replace(
                    c, next_world_to_camera=c.world_to_camera if following is not None else None
                )
                for c in cameras
            ]
            worlds.append(
                World(
                    self.shot(sequence, f),
                    t,
                    fixed + products,
                    lights,
                    rig,
                    background,
                    sequence=sequence,
                    frame=f,
                    defect_labels=bool(scene.defects),
                )
            )
        return worlds

    def roster(self, sequence: int) -> list[tuple[int, str]]:
        """(instance id, class) of every product of a sequence, before any defect."""
        first = self.shot(sequence, 0)
        env = self.scene.environment
        scenery_rng = rng_for(self.seed, first, "scenery")
        belt = sample_belt(env.belt, scenery_rng) if env.belt is not None else None
        arrivals = self.arrivals(first, belt, self.speed_profile(first))
        return [(a.body.instance_id, a.body.class_name) for a in arrivals]

    def _with_defects(
        self, sequence: int, arrivals: list[Arrival], belt: Belt | None
    ) -> list[Arrival]:
        """Arrivals with their products' defects made; a doubled product's twin arrives with
        it."""
        if not self.scene.defects:
            return arrivals
        lateral = belt.belt_to_world[:3, 1] if belt is not None else np.array([0.0, 1.0, 0.0])
        bodies = self.stills.with_defects(sequence, [a.body for a in arrivals], lateral)
        times = {a.body.instance_id: a.time for a in arrivals}
        out = []
        for body in bodies:
            if body.instance_id in times:
                out.append(Arrival(body, times[body.instance_id]))
            else:  # a twin: it arrives with its partner
                partner = next(d.params["partner"] for d in body.defects if d.kind == "doubled")
                out.append(Arrival(body, times[partner]))
        return out

    def _spawn(self, arrival: Arrival, belt: Belt | None, speed: SpeedProfile) -> Spawn:
        """A product handed to physics already moving with the belt under it: set down at rest
        on a running belt, a tall product would be jerked over."""
        velocity = (0.0, 0.0, 0.0)
        if belt is not None:
            along = belt.belt_to_world[:3, 0] * speed.speed(arrival.time)
            velocity = _triple(along)
        body = arrival.body
        return Spawn(
            body.instance_id,
            body.parts,
            body.object_to_world,
            arrival.time,
            velocity=velocity,
            density=self.scene.assets[body.name].density,
        )

    def speed_profile(self, first_shot: int) -> SpeedProfile:
        """The belt's speed over the sequence (signed: + carries towards the belt's +x)."""
        belt = self.scene.environment.belt
        if belt is None:
            return SpeedProfile(((0.0, 0.0),))
        rng = rng_for(self.seed, first_shot, "belt-speed")
        sign = 1.0 if belt.direction == "+x" else -1.0
        if belt.profile:
            segments = [
                (float(s.at_s), sign * float(s.speed_mps.sample(rng)))
                for s in sorted(belt.profile, key=lambda s: s.at_s)
            ]
            if segments[0][0] > 0:
                segments.insert(0, (0.0, 0.0))
        else:
            segments = [(0.0, sign * float(belt.speed_mps.sample(rng)))]
        return SpeedProfile(tuple(segments))

    def arrivals(self, first_shot: int, belt: Belt | None, speed: SpeedProfile) -> list[Arrival]:
        """Products placed at the start (time 0) and those that arrive later, ids from 1."""
        placed = self.stills.place_objects(first_shot, belt)
        arrivals = [Arrival(b, 0.0) for b in placed]
        rng = rng_for(self.seed, first_shot, "arrivals")
        duration = self.frames * self.dt
        for group in self.scene.objects:
            if group.spawn is None:
                continue
            t = float(group.spawn.start_s.sample(rng))
            for _ in range(int(group.count.sample(rng))):
                if t >= duration:
                    break
                body = self._arriving(group, rng, belt, speed, len(arrivals) + 1)
                arrivals.append(Arrival(body, t))
                t += float(group.spawn.interval_s.sample(rng))
        return arrivals

    def _arriving(
        self, group: ObjectGroupSpec, rng, belt: Belt, speed: SpeedProfile, instance_id: int
    ) -> Body:
        spawn = group.spawn
        name = group.asset.sample(rng)
        parts = self.stills.product_parts(name, rng)
        lo, hi = _bounds(parts)
        yaw = np.radians(float(group.yaw_deg.sample(rng)))
        rotation = rotation_z(yaw)
        tilt = np.radians(float(spawn.tilt_deg.sample(rng)))
        if tilt > 0:
            heading = rng.uniform(0, 2 * np.pi)
            rotation = axis_angle((np.cos(heading), np.sin(heading), 0.0), tilt) @ rotation
        corners = box_corners(lo, hi) @ rotation.T
        half_length = np.abs(corners[:, 0]).max()
        forward = 1.0 if speed.segments[0][1] >= 0 else -1.0
        x = -forward * (belt.length / 2 - ARRIVAL_MARGIN_M - half_length)
        if spawn.lanes:
            y = spawn.lanes[int(rng.integers(len(spawn.lanes)))]
            y += rng.normal(0.0, spawn.lane_jitter_m) if spawn.lane_jitter_m > 0 else 0.0
        else:
            half_width = max(0.0, belt.width / 2 - np.abs(corners[:, 1]).max())
            y = rng.uniform(-half_width, half_width)
        z = belt.height + float(spawn.drop_height_m.sample(rng)) - corners[:, 2].min()
        pose = belt.belt_to_world @ rigid(rotation, (x, y, z))
        return self.stills.product_body(name, parts, pose, instance_id)


def _moved(body: Body, state: BodyState, following: BodyState | None, last: bool) -> Body:
    """The body at a frame's state; its next pose is the following frame's, or its own when
    it leaves before then."""
    if last:
        next_pose = None
    else:
        next_pose = following.object_to_world if following is not None else state.object_to_world
    return dataclasses.replace(
        body,
        object_to_world=state.object_to_world,
        velocity=_triple(state.velocity),
        angular_velocity=_triple(state.angular_velocity),
        next_object_to_world=next_pose,
    )


def pushers(belt: Belt, spec: BeltSpec) -> list[Mover]:
    """The belt's pushers as kinematic boxes for physics."""

    def mover(pusher: PusherSpec) -> Mover:
        def moving(t: float) -> bool:
            return any(start <= t <= start + pusher.stroke_s for start in pusher.times_s)

        half = (pusher.width / 2, pusher.thickness / 2, pusher.height / 2)
        return Mover(half, lambda t: pusher_pose(pusher, belt, t), moving)

    return [mover(p) for p in spec.pushers]


def travelled(speed: SpeedProfile, t: float) -> float:
    """Metres the belt surface has moved along its +x by time t."""
    ends = [start for start, _ in speed.segments[1:]] + [np.inf]
    return float(
        sum(
            v * max(0.0, min(t, end) - start)
            for (start, v), end in zip(speed.segments, ends, strict=True)
        )
    )


def _linear(srgb) -> np.ndarray:
    return srgb_to_linear(np.asarray(srgb))
