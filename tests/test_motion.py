"""Motion blur: the colour image integrates motion over the shutter time; labels stay sharp."""

import dataclasses

import numpy as np
import pytest
import trimesh

from groundforge.assets.meshes import mesh_from_trimesh
from groundforge.render.motion import pose_between, render_blurred
from groundforge.render.raster.engine import RasterEngine
from groundforge.world.geometry import rigid, rotation_z
from groundforge.world.state import Body, Camera, Light, Material, Part, World

FX = 200.0
DEPTH = 2.0
STEP_M = 0.12  # the box moves this far along +x between frames: FX * STEP_M / DEPTH = 12 px


def test_pose_between_interpolates_position_and_rotation():
    start = rigid(np.eye(3), (0.0, 0.0, 0.0))
    end = rigid(rotation_z(np.pi / 2), (2.0, -4.0, 1.0))
    half = pose_between(start, end, 0.5)
    assert np.allclose(half[:3, 3], (1.0, -2.0, 0.5))
    assert np.allclose(half[:3, :3], rotation_z(np.pi / 4))
    assert np.allclose(pose_between(start, end, 0.0), start)
    assert np.allclose(pose_between(start, end, 1.0), end)


def moving_box_world(shutter_s: float) -> tuple[World, Camera]:
    box = mesh_from_trimesh(trimesh.creation.box((0.4, 0.4, 0.4)), flat=True)
    white = Material((0.9, 0.9, 0.9), roughness=1.0)
    now = rigid(np.eye(3), (0.0, 0.0, DEPTH))
    following = rigid(np.eye(3), (STEP_M, 0.0, DEPTH))
    body = Body((Part(box, white),), now, 1, 1, "box", next_object_to_world=following)
    K = np.array([[FX, 0, 80.0], [0, FX, 60.0], [0, 0, 1]])
    # World frame = camera frame (OpenCV axes): the box straight ahead, moving to the right.
    camera = Camera(
        "cam", 160, 120, K, np.eye(4), msaa=1, shutter_s=shutter_s, next_world_to_camera=np.eye(4)
    )
    lights = [Light("ambient", (1.0, 1.0, 1.0), 1.0, ground_color=(1.0, 1.0, 1.0))]
    return World(0, 0.0, [body], lights, [camera]), camera


@pytest.fixture(scope="module")
def engine():
    with RasterEngine(shadow_map_size=256) as e:
        yield e


def smeared_px(motion_px: float, samples: int = 6) -> float:
    """Pixels of a row that a box moving `motion_px` covers only part of the shutter time.

    The six sub-frames sit at (k + 0.5) / 6 of the motion, so a pixel near either edge is
    covered by 1 to 5 of them (10 % to 90 %) over 5/6 of the motion, at both the leading and
    the trailing edge.
    """
    return 2 * motion_px * (samples - 1) / samples


def row_profile(passes) -> np.ndarray:
    return passes.radiance[60, :, 0]


def test_open_shutter_smears_the_moving_edge_by_its_motion(engine):
    world, camera = moving_box_world(shutter_s=0.1)
    sharp = engine.render(world, camera)
    blurred = render_blurred(engine, world, camera, frame_interval_s=0.1)
    level = row_profile(sharp).max()
    partial = (row_profile(blurred) > 0.1 * level) & (row_profile(blurred) < 0.9 * level)
    motion_px = FX * STEP_M / DEPTH
    assert abs(partial.sum() - smeared_px(motion_px)) <= 2
    sharp_partial = (row_profile(sharp) > 0.1 * level) & (row_profile(sharp) < 0.9 * level)
    assert sharp_partial.sum() <= 2


def test_labels_stay_sharp_at_the_frame_timestamp(engine):
    world, camera = moving_box_world(shutter_s=0.1)
    sharp = engine.render(world, camera)
    blurred = render_blurred(engine, world, camera, frame_interval_s=0.1)
    assert np.array_equal(blurred.instance, sharp.instance)
    assert np.array_equal(blurred.depth_m, sharp.depth_m)
    assert np.array_equal(blurred.flow, sharp.flow)


def test_closed_shutter_is_the_plain_render(engine):
    world, camera = moving_box_world(shutter_s=0.0)
    plain = engine.render(world, camera)
    assert np.array_equal(render_blurred(engine, world, camera, 0.1).radiance, plain.radiance)


def test_half_open_shutter_smears_half_as_far(engine):
    world, camera = moving_box_world(shutter_s=0.05)
    blurred = render_blurred(engine, world, dataclasses.replace(camera), frame_interval_s=0.1)
    level = engine.render(world, camera).radiance[60, :, 0].max()
    partial = (row_profile(blurred) > 0.1 * level) & (row_profile(blurred) < 0.9 * level)
    motion_px = FX * STEP_M / DEPTH / 2
    assert abs(partial.sum() - smeared_px(motion_px)) <= 2
