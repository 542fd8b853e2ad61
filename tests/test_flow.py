"""The optical-flow pass against analytic motion: every surface pixel's flow is the pinhole
reprojection, through K, of its back-projected 3D point moved to the next frame."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from groundforge.assets.meshes import mesh_from_trimesh
from groundforge.render.raster.engine import RasterEngine
from groundforge.world.geometry import axis_angle, look_at, rigid, rotation_z
from groundforge.world.state import Body, Camera, Material, Part, World

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

W, H = 128, 96
K = np.array([[110.0, 0.0, 64.0], [0.0, 110.0, 48.0], [0.0, 0.0, 1.0]])
MATTE = Material(base_color=(0.5, 0.5, 0.5), metallic=0.0, roughness=1.0)
# Seen from the side and above, so that a cube shows three faces.
VIEW = look_at((1.2, -3.0, 1.8), (0.0, 0.0, 0.4))


@pytest.fixture(scope="module")
def engine():
    with RasterEngine(shadow_map_size=256) as e:
        yield e


def cube(pose, next_pose=None, instance_id=1, extents=(0.8, 0.8, 0.8)) -> Body:
    mesh = mesh_from_trimesh(trimesh.creation.box(extents=extents), flat=True)
    return Body(
        (Part(mesh, MATTE),),
        np.asarray(pose, np.float64),
        instance_id,
        class_id=instance_id,
        next_object_to_world=None if next_pose is None else np.asarray(next_pose, np.float64),
    )


def floor() -> Body:
    return cube(rigid(np.eye(3), (0.0, 0.0, -0.05)), None, 0, extents=(6.0, 6.0, 0.1))


def camera(world_to_camera=VIEW, next_world_to_camera=None, msaa=1) -> Camera:
    return Camera(
        "cam", W, H, K, world_to_camera, msaa=msaa, next_world_to_camera=next_world_to_camera
    )


def world(bodies, cam) -> World:
    return World(0, 0.0, list(bodies), [], [cam])


def pixel_centres() -> np.ndarray:
    """(H, W, 2) float64 OpenCV pixel coordinates (u, v) of every pixel centre."""
    v, u = np.mgrid[0:H, 0:W] + 0.5
    return np.stack([u, v], axis=-1)


def back_project(depth_m: np.ndarray, world_to_camera: np.ndarray) -> np.ndarray:
    """(H, W, 3) float64 world points seen at each pixel centre, from the depth pass and K^-1."""
    uv1 = np.concatenate([pixel_centres(), np.ones((H, W, 1))], axis=-1)
    cam = depth_m[..., None].astype(np.float64) * (uv1 @ np.linalg.inv(K).T)
    camera_to_world = np.linalg.inv(world_to_camera)
    return cam @ camera_to_world[:3, :3].T + camera_to_world[:3, 3]


def transform(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(..., 3) points under the (4, 4) transform m."""
    return points @ m[:3, :3].T + m[:3, 3]


def project(world_to_camera: np.ndarray, points_world: np.ndarray) -> np.ndarray:
    """(..., 2) pinhole pixel coordinates (u, v) of world points."""
    q = transform(world_to_camera, points_world) @ K.T
    return q[..., :2] / q[..., 2:]


def expected_flow(depth_m, world_to_camera, motion, next_world_to_camera) -> np.ndarray:
    """(H, W, 2) analytic flow of world points moved by the (4, 4) world-frame `motion`."""
    moved = transform(motion, back_project(depth_m, world_to_camera))
    return project(next_world_to_camera, moved) - pixel_centres()


def test_flow_of_a_translating_cube_is_the_reprojected_offset(engine):
    pose = rigid(rotation_z(0.3), (0.0, 0.0, 0.4))
    d = np.array([0.12, -0.07, 0.05])
    nxt = pose.copy()
    nxt[:3, 3] += d
    cam = camera(msaa=4)
    passes = engine.render(world([floor(), cube(pose, nxt)], cam), cam)

    on_cube = passes.instance == 1
    assert on_cube.sum() > 500
    expected = expected_flow(passes.depth_m, VIEW, rigid(np.eye(3), d), VIEW)
    assert passes.flow.shape == (H, W, 2) and passes.flow.dtype == np.float32
    assert np.abs(passes.flow[on_cube] - expected[on_cube]).max() < 0.05
    assert np.abs(expected[on_cube]).max() > 2.0  # the motion is visible at all


def test_flow_of_a_cube_rotating_about_its_own_vertical_axis(engine):
    pose = rigid(axis_angle(np.array([1.0, 0.0, 0.0]), 0.1), (0.2, 0.1, 0.45))
    spin = rigid(rotation_z(np.radians(6.0)), (0.0, 0.0, 0.0))
    nxt = pose @ spin
    cam = camera()
    passes = engine.render(world([floor(), cube(pose, nxt)], cam), cam)

    on_cube = passes.instance == 1
    motion = nxt @ np.linalg.inv(pose)  # world frame: the point's pose-relative coordinates stay
    expected = expected_flow(passes.depth_m, VIEW, motion, VIEW)
    assert np.abs(passes.flow[on_cube] - expected[on_cube]).max() < 0.1
    assert np.abs(expected[on_cube]).max() > 1.0


def test_moving_camera_gives_static_scenery_the_reprojection_through_the_next_camera(engine):
    next_view = look_at((1.35, -2.9, 1.85), (0.05, 0.0, 0.42))
    cam = camera(next_world_to_camera=next_view)
    scenery = cube(rigid(rotation_z(0.5), (-0.3, 0.4, 0.4)), None, 0)
    passes = engine.render(world([floor(), scenery], cam), cam)

    surface = passes.depth_m > 0
    assert surface.mean() > 0.5
    expected = expected_flow(passes.depth_m, VIEW, np.eye(4), next_view)
    assert np.abs(passes.flow[surface] - expected[surface]).max() < 0.05
    assert np.abs(expected[surface]).max() > 2.0


def test_bodies_without_a_next_pose_stay_put(engine):
    moving = cube(rigid(np.eye(3), (-0.6, 0.0, 0.4)), rigid(np.eye(3), (-0.5, 0.0, 0.4)), 1)
    still = cube(rigid(np.eye(3), (0.6, 0.0, 0.4)), None, 2, extents=(0.5, 0.5, 0.5))
    cam = camera()
    passes = engine.render(world([floor(), moving, still], cam), cam)

    assert np.abs(passes.flow[passes.instance == 1]).max() > 1.0
    assert (passes.instance == 2).sum() > 100
    assert np.abs(passes.flow[passes.instance == 2]).max() < 1e-3
    assert np.abs(passes.flow[(passes.instance == 0) & (passes.depth_m > 0)]).max() < 1e-3


def test_no_next_poses_means_no_flow(engine):
    pose = rigid(np.eye(3), (0.0, 0.0, 0.4))
    cam = camera()
    moving = world([floor(), cube(pose, rigid(np.eye(3), (0.1, 0.0, 0.4)))], cam)
    assert engine.render(moving, cam).flow is not None
    # The same targets, which now hold a flow attachment, still give stills no flow.
    assert engine.render(world([floor(), cube(pose)], cam), cam).flow is None


def test_empty_pixels_and_points_behind_the_next_camera_get_zero_flow(engine):
    # The camera looks along +Y and steps 2.5 m forward: the near cube ends up behind it.
    view = look_at((0.0, -3.0, 0.5), (0.0, 0.0, 0.5))
    next_view = look_at((0.0, -0.5, 0.5), (0.0, 2.5, 0.5))
    near = cube(rigid(np.eye(3), (-0.5, -1.5, 0.5)), None, 1, extents=(0.4, 0.4, 0.4))
    far = cube(rigid(np.eye(3), (0.6, 1.0, 0.5)), None, 2)
    cam = camera(view, next_view)
    passes = engine.render(world([near, far], cam), cam)

    assert np.isfinite(passes.flow).all()
    empty = passes.depth_m == 0
    assert empty.mean() > 0.3
    assert (passes.flow[empty] == 0).all()
    behind = transform(next_view, back_project(passes.depth_m, view))[..., 2] <= 0
    assert (behind & (passes.instance == 1)).sum() > 50
    assert (passes.flow[behind & ~empty] == 0).all()
    on_far = passes.instance == 2
    expected = expected_flow(passes.depth_m, view, np.eye(4), next_view)
    assert np.abs(passes.flow[on_far] - expected[on_far]).max() < 0.05


def test_flow_carries_pixels_to_the_same_surface_point_in_the_next_frame(engine):
    pose = rigid(rotation_z(0.2), (0.0, 0.0, 0.4))
    nxt = rigid(rotation_z(0.2 + np.radians(5.0)), (0.15, 0.08, 0.45))
    cam = camera()
    now = engine.render(world([floor(), cube(pose, nxt)], cam), cam)
    after = engine.render(world([floor(), cube(nxt)], cam), cam)

    # Object-frame coordinates identify surface points across frames.
    points_now = transform(np.linalg.inv(pose), back_project(now.depth_m, VIEW))
    points_after = transform(np.linalg.inv(nxt), back_project(after.depth_m, VIEW))
    on_after = np.argwhere(after.instance == 1)
    candidates = points_after[after.instance == 1]

    interior = now.instance == 1
    for axis in (0, 1):  # two pixels away from the silhouette, where points stay in view
        for shift in (-2, 2):
            interior &= np.roll(now.instance == 1, shift, axis=axis)
    rows, cols = np.nonzero(interior)
    pick = np.random.default_rng(3).choice(len(rows), 25, replace=False)
    centres = pixel_centres()
    for r, c in zip(rows[pick], cols[pick], strict=True):
        gap = np.linalg.norm(candidates - points_now[r, c], axis=1)
        best = int(np.argmin(gap))
        assert gap[best] < 0.05  # metres, about a pixel's footprint: the point is still in view
        landed = centres[r, c] + now.flow[r, c]
        found = on_after[best][::-1] + 0.5
        assert np.abs(landed - found).max() <= 1.0
