"""Conveyor physics: products ride, settle, stop, topple, come and go, the same every time."""

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh

from groundforge.assets.meshes import mesh_from_trimesh
from groundforge.world.geometry import axis_angle, rigid, rotation_z
from groundforge.world.physics import BodyState, Spawn, SpeedProfile, simulate
from groundforge.world.scenery import Belt
from groundforge.world.state import Body, Material, Part

BELT = Belt(length=2.0, width=0.5, height=0.8, rail_height=0.05, yaw=0.0, rails=True, frame=True)
FRAME_S = 0.1
G = 9.81


def part(tm: trimesh.Trimesh) -> Part:
    return Part(mesh_from_trimesh(tm, flat=True), Material())


def box(extents, base_at_origin=False) -> Part:
    tm = trimesh.creation.box(extents=extents)
    if base_at_origin:
        tm.apply_translation((0.0, 0.0, extents[2] / 2))
    return part(tm)


def on_belt(belt: Belt, x, y=0.0, z=0.0, rotation=None) -> np.ndarray:
    """object_to_world for a point x, y along and across the belt, z above its top surface."""
    rotation = np.eye(3) if rotation is None else rotation
    return belt.belt_to_world @ rigid(rotation, (x, y, belt.height + z))


def in_belt_frame(belt: Belt, state: BodyState) -> np.ndarray:
    return np.linalg.inv(belt.belt_to_world) @ state.object_to_world


def frames_until(end_s: float) -> list[float]:
    return [FRAME_S * i for i in range(int(round(end_s / FRAME_S)) + 1)]


def lowest_z(p: Part, pose: np.ndarray) -> float:
    vertices = p.mesh.vertices.astype(np.float64)
    return float((vertices @ pose[:3, :3].T + pose[:3, 3])[:, 2].min())


@pytest.mark.parametrize("yaw_deg", [0.0, 30.0])
def test_resting_box_moves_belt_speed_times_frame_interval(yaw_deg):
    belt = Belt(2.0, 0.5, 0.8, 0.05, np.radians(yaw_deg), True, True)
    v = 0.25
    spawn = Spawn(1, (box((0.1, 0.06, 0.04)),), on_belt(belt, -0.6, z=0.02), 0.0)
    frames = frames_until(2.0)
    states = simulate(belt, SpeedProfile.constant(v), [spawn], frames)

    poses = [in_belt_frame(belt, s[1])[:3, 3] for s in states]
    settled = [p for t, p in zip(frames, poses, strict=True) if t >= 0.5]
    steps = np.diff(settled, axis=0)
    assert np.allclose(steps[:, 0], v * FRAME_S, atol=1e-3)
    assert np.allclose(steps[:, 1:], 0.0, atol=1e-3)


def test_carried_box_has_the_belt_velocity():
    belt = Belt(2.0, 0.5, 0.8, 0.05, np.radians(30.0), True, True)
    v = 0.25
    spawn = Spawn(1, (box((0.1, 0.06, 0.04)),), on_belt(belt, -0.6, z=0.02), 0.0)
    states = simulate(belt, SpeedProfile.constant(v), [spawn], [1.0, 1.5])

    expected = v * np.array([np.cos(belt.yaw), np.sin(belt.yaw), 0.0])
    for s in states:
        assert np.allclose(s[1].velocity, expected, atol=1e-3)
        assert np.allclose(s[1].angular_velocity, 0.0, atol=1e-2)


def test_dropped_box_comes_to_rest_on_the_belt_surface():
    block = box((0.08, 0.05, 0.03))
    tilt = axis_angle((1.0, 2.0, 0.5), 0.7)
    spawn = Spawn(1, (block,), on_belt(BELT, -0.3, z=0.2, rotation=tilt), 0.0)
    (final,) = simulate(BELT, SpeedProfile.constant(0.2), [spawn], [3.0])

    state = final[1]
    assert abs(lowest_z(block, state.object_to_world) - BELT.height) < 2e-3
    assert abs(state.velocity[2]) < 1e-3


def test_stopped_belt_stops_carrying():
    profile = SpeedProfile(((0.0, 0.3), (1.0, 0.0)))
    spawn = Spawn(1, (box((0.1, 0.06, 0.04)),), on_belt(BELT, -0.6, z=0.02), 0.0)
    frames = frames_until(2.5)
    states = simulate(BELT, profile, [spawn], frames)

    x = np.array([s[1].object_to_world[0, 3] for s in states])
    t = np.array(frames)
    running = np.diff(x[(t >= 0.5) & (t <= 1.0)])
    stopped = np.diff(x[t >= 1.3])
    assert np.allclose(running, 0.3 * FRAME_S, atol=1e-3)
    assert np.all(np.abs(stopped) < 1e-3)


def test_tall_product_caught_by_a_bar_topples():
    # The belt carries the foot on while a bar across the belt holds the top back.
    tall = box((0.04, 0.04, 0.2), base_at_origin=True)
    bar = Body((box((0.04, 0.8, 0.04)),), on_belt(BELT, 0.0, z=0.14))
    # Already moving with the belt: one put down at rest would be tipped by the belt's jerk.
    spawn = Spawn(1, (tall,), on_belt(BELT, -0.5), 0.0, velocity=(0.3, 0.0, 0.0))
    before, after = simulate(
        BELT, SpeedProfile.constant(0.3), [spawn], [0.5, 3.0], static_bodies=[bar]
    )

    def tilt_deg(state):
        return np.degrees(np.arccos(np.clip(state.object_to_world[2, 2], -1.0, 1.0)))

    assert tilt_deg(before[1]) < 5.0
    assert tilt_deg(after[1]) > 45.0


@pytest.mark.parametrize("direction", [1.0, -1.0])
def test_products_appear_at_spawn_time_and_leave_past_the_belt_end(direction):
    v = 0.3 * direction
    pose = on_belt(BELT, 0.8 * direction, z=0.02)
    spawn = Spawn(7, (box((0.1, 0.06, 0.04)),), pose, 0.5, velocity=(v, 0.0, 0.0))
    frames = frames_until(2.0)
    states = simulate(BELT, SpeedProfile.constant(v), [spawn], frames)

    # Carried at v from x = 0.8 its centre passes the end at x = 1.0 after 0.2 / 0.3 s.
    leaves = 0.5 + 0.2 / 0.3
    present = {round(t, 3) for t, s in zip(frames, states, strict=True) if 7 in s}
    expected = {round(t, 3) for t in frames if 0.5 <= t < leaves}
    assert present == expected
    assert np.allclose(states[5][7].object_to_world, pose, atol=1e-9)


def test_falling_product_follows_gravity_and_leaves_below_minus_one_metre():
    spawn = Spawn(1, (box((0.05, 0.05, 0.05)),), rigid(np.eye(3), (0.0, 0.0, 0.5)), 0.0)
    states = simulate(None, SpeedProfile.constant(0.0), [spawn], [0.3, 0.5, 0.6], floor=False)

    # Semi-implicit Euler falls ahead of the exact parabola by g * dt * t / 2 (3 mm here).
    assert abs(states[0][1].object_to_world[2, 3] - (0.5 - G * 0.3**2 / 2)) < 5e-3
    assert abs(states[0][1].velocity[2] - (-G * 0.3)) < 1e-2
    # z = -1 is reached after sqrt(2 * 1.5 / g) = 0.553 s.
    assert 1 in states[1] and 1 not in states[2]


def test_velocities_are_those_of_the_object_origin_in_the_world_frame():
    # A tall box, its origin at its foot and turned about its own axis, tipping over: its centre
    # of mass moves ~0.3 m/s faster than the origin, and its spin in its own frame differs from
    # the world-frame spin by ~4 rad/s, so the tolerances below tell them apart.
    tall = box((0.04, 0.04, 0.2), base_at_origin=True)
    tilt = axis_angle((0.0, 1.0, 0.0), np.radians(30.0)) @ rotation_z(np.radians(40.0))
    spawn = Spawn(1, (tall,), on_belt(BELT, 0.0, z=0.03, rotation=tilt), 0.0)
    dt = 0.002
    a, b = simulate(BELT, SpeedProfile.constant(0.0), [spawn], [0.2, 0.2 + dt], timestep=dt)

    pa, pb = a[1].object_to_world, b[1].object_to_world
    moved = (pb[:3, 3] - pa[:3, 3]) / dt
    assert np.allclose(moved, (a[1].velocity + b[1].velocity) / 2, atol=0.02)

    turn = pb[:3, :3] @ pa[:3, :3].T
    turned = np.array([turn[2, 1] - turn[1, 2], turn[0, 2] - turn[2, 0], turn[1, 0] - turn[0, 1]])
    turned /= 2 * dt
    spin = (a[1].angular_velocity + b[1].angular_velocity) / 2
    assert np.linalg.norm(spin) > 2.0
    assert np.allclose(turned, spin, atol=0.3)


def crowded_run() -> list[dict[int, BodyState]]:
    """Eight products dropped onto one another on a running belt."""
    cans = part(trimesh.creation.cylinder(radius=0.03, height=0.1, sections=24))
    block = box((0.08, 0.05, 0.04))
    spawns = [
        Spawn(
            i + 1,
            (cans if i % 2 else block,),
            on_belt(
                BELT, -0.6 + 0.03 * i, 0.02 * (i % 3), 0.05 + 0.06 * i, axis_angle((i, 1, 2), i)
            ),
            0.1 * i,
        )
        for i in range(8)
    ]
    return simulate(BELT, SpeedProfile(((0.0, 0.3), (1.0, 0.1))), spawns, frames_until(2.0))


def digest(states: list[dict[int, BodyState]]) -> str:
    h = hashlib.sha256()
    for frame in states:
        for instance_id, s in frame.items():
            h.update(str(instance_id).encode())
            for array in (s.object_to_world, s.velocity, s.angular_velocity):
                h.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
    return h.hexdigest()


def test_same_inputs_give_bit_identical_states():
    a, b = crowded_run(), crowded_run()
    assert [list(f) for f in a] == [list(f) for f in b]
    for fa, fb in zip(a, b, strict=True):
        for k in fa:
            assert np.array_equal(fa[k].object_to_world, fb[k].object_to_world)
            assert np.array_equal(fa[k].velocity, fb[k].velocity)
            assert np.array_equal(fa[k].angular_velocity, fb[k].angular_velocity)


def test_another_process_gives_bit_identical_states():
    here = Path(__file__).parent
    code = (
        f"import sys; sys.path.insert(0, {str(here)!r}); "
        "from test_physics import crowded_run, digest; print(digest(crowded_run()))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == digest(crowded_run())
