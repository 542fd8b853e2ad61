"""The raster engine against analytic geometry: projection, exact passes, visibility, shading."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import trimesh
from scipy.spatial import ConvexHull

from groundforge.assets.meshes import mesh_from_trimesh
from groundforge.render.raster.engine import RasterEngine, gl_projection
from groundforge.world.geometry import axis_angle, look_at, rigid
from groundforge.world.state import Body, Camera, Light, Material, Part, World

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

F, CX, CY, W, H = 500.0, 320.0, 240.0, 640, 480
K = np.array([[F, 0.0, CX], [0.0, F, CY], [0.0, 0.0, 1.0]])
MATTE = Material(base_color=(0.5, 0.5, 0.5), metallic=0.0, roughness=1.0)


@pytest.fixture(scope="module")
def engine():
    with RasterEngine(shadow_map_size=1024) as e:
        yield e


def camera(world_to_camera=None, width=W, height=H, msaa=4, k=K) -> Camera:
    pose = np.eye(4) if world_to_camera is None else world_to_camera
    return Camera("cam", width, height, k, pose, msaa=msaa)


def small_camera(msaa=4) -> Camera:
    """64x48, focal 50 px: the same view as `camera()` at a tenth of the resolution."""
    return camera(
        width=64, height=48, msaa=msaa, k=np.array([[50.0, 0, 32], [0, 50.0, 24], [0, 0, 1]])
    )


def box(extents, pose, material=MATTE, instance_id=0, class_id=0, cast_shadows=True) -> Body:
    mesh = mesh_from_trimesh(trimesh.creation.box(extents=extents), flat=True)
    return Body((Part(mesh, material),), pose, instance_id, class_id, cast_shadows=cast_shadows)


def world(bodies, lights=(), cam=None, background=(0.0, 0.0, 0.0)) -> World:
    return World(0, 0.0, list(bodies), list(lights), [cam or camera()], background)


def pixel_of(point_cam) -> tuple[int, int]:
    """(row, column) of the pixel holding the pinhole projection of a camera-frame point."""
    x, y, z = point_cam
    return int(np.floor(F * y / z + CY)), int(np.floor(F * x / z + CX))


def mask_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) pixel edges of a mask, right and bottom exclusive."""
    rows, cols = np.nonzero(mask)
    return cols.min(), rows.min(), cols.max() + 1, rows.max() + 1


def hull_area(points: np.ndarray) -> float:
    """Area of the convex hull of (N, 2) points."""
    return float(ConvexHull(points).volume)  # in 2-D, "volume" is the area


# The unit cube 3 m straight ahead: its front face (z = 2.5) projects onto u, v in
# [320 - 100, 320 + 100] x [240 - 100, 240 + 100], i.e. pixel columns 220..419, rows 140..339.
CUBE_AHEAD = rigid(np.eye(3), (0.0, 0.0, 3.0))
FRONT_FACE_BOX = (220, 140, 420, 340)


# ---- projection and exact passes --------------------------------------------------------------


def test_projection_lands_points_on_pinhole_pixel_coordinates():
    rng = np.random.default_rng(1)
    k = np.array([[612.0, 0.7, 301.3], [0.0, 598.0, 255.9], [0.0, 0.0, 1.0]])
    points = np.column_stack([rng.uniform(-1, 1, (50, 2)), rng.uniform(0.5, 9, 50)])
    clip = np.column_stack([points, np.ones(50)]) @ gl_projection(k, 640, 480, 0.1, 20).T
    ndc = clip[:, :3] / clip[:, 3:]
    window = np.column_stack([(ndc[:, 0] + 1) * 640 / 2, (ndc[:, 1] + 1) * 480 / 2])
    expected = (points @ k.T)[:, :2] / points[:, 2:]
    np.testing.assert_allclose(window, expected, atol=1e-9)
    assert np.all(np.abs(ndc[:, 2]) <= 1)


def test_depth_at_centre_is_distance_to_front_face(engine):
    p = engine.render(world([box((1, 1, 1), CUBE_AHEAD, instance_id=1)]), camera())
    assert abs(p.depth_m[240, 320] - 2.5) < 1e-3
    assert abs(p.depth_m[150, 410] - 2.5) < 1e-3  # z-depth, not ray length, off-axis too


def test_instance_box_matches_projected_front_face(engine):
    p = engine.render(world([box((1, 1, 1), CUBE_AHEAD, instance_id=1)]), camera())
    got = mask_box(p.instance == 1)
    assert np.all(np.abs(np.subtract(got, FRONT_FACE_BOX)) <= 1)


def test_rotated_off_centre_cube_box_matches_projected_corners(engine):
    rotation = axis_angle((0.3, 1.0, 0.2), 0.7)
    centre = np.array([0.6, -0.4, 4.0])
    cube = box((1, 1, 1), rigid(rotation, centre), instance_id=3)
    p = engine.render(world([cube]), camera())

    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
    corners = centre + 0.5 * signs @ rotation.T
    uv = F * corners[:, :2] / corners[:, 2:] + [CX, CY]
    expected = (uv[:, 0].min(), uv[:, 1].min(), uv[:, 0].max(), uv[:, 1].max())
    assert np.all(np.abs(np.subtract(mask_box(p.instance == 3), expected)) <= 1)
    # A convex body projects onto the hull of its projected corners.
    assert abs(p.unoccluded_pixels[3] / hull_area(uv) - 1) < 0.02


def test_unoccluded_cube_counts_its_projected_area(engine):
    p = engine.render(world([box((1, 1, 1), CUBE_AHEAD, instance_id=1)]), camera())
    assert abs(p.unoccluded_pixels[1] / (200 * 200) - 1) < 0.02
    assert (p.instance == 1).sum() == p.unoccluded_pixels[1]


def test_plate_over_left_half_leaves_half_visible(engine):
    # A scenery plate at z = 1.5 whose right edge is the line x = 0 covers exactly the left half
    # of the cube's projection (u < 320).
    plate = box((2.0, 3.0, 0.01), rigid(np.eye(3), (-1.0, 0.0, 1.5)))
    cube = box((1, 1, 1), CUBE_AHEAD, instance_id=1, class_id=7)
    p = engine.render(world([cube, plate]), camera())
    visible = (p.instance == 1).sum()
    assert abs(p.unoccluded_pixels[1] / (200 * 200) - 1) < 0.02
    assert abs(visible / p.unoccluded_pixels[1] - 0.5) < 0.02
    # Scenery occludes but carries no ids.
    assert p.instance[240, 300] == 0 and p.semantic[240, 300] == 0
    assert abs(p.depth_m[240, 300] - 1.495) < 1e-3  # the plate's near side


def test_front_face_normals_face_the_camera(engine):
    p = engine.render(world([box((1, 1, 1), CUBE_AHEAD, instance_id=1)]), camera())
    face = p.normals[150:330, 230:410].reshape(-1, 3)
    np.testing.assert_allclose(face, np.tile([0.0, 0.0, -1.0], (len(face), 1)), atol=1e-5)


def test_one_sided_sheet_faces_the_camera_from_behind(engine):
    # A single quad whose normal points away from the camera (+z) still gets a normal towards it.
    vertices = np.array([[-1.0, -1.0, 2.0], [1.0, -1.0, 2.0], [1.0, 1.0, 2.0], [-1.0, 1.0, 2.0]])
    quad = trimesh.Trimesh(vertices, [[0, 1, 2], [0, 2, 3]], process=False)
    mesh = mesh_from_trimesh(quad, flat=True)
    assert np.allclose(np.abs(mesh.normals[:, 2]), 1)
    if mesh.normals[0, 2] < 0:
        quad.invert()
        mesh = mesh_from_trimesh(quad, flat=True)
    assert np.allclose(mesh.normals, [0.0, 0.0, 1.0])
    sheet = Body((Part(mesh, MATTE),), np.eye(4), 1, 1)
    p = engine.render(world([sheet]), small_camera())
    np.testing.assert_allclose(p.normals[24, 32], [0.0, 0.0, -1.0], atol=1e-6)


def test_class_ids_and_empty_pixels(engine):
    scenery = box((0.5, 0.5, 0.5), rigid(np.eye(3), (-1.0, 0.0, 4.0)))
    cube = box((0.5, 0.5, 0.5), rigid(np.eye(3), (1.0, 0.0, 4.0)), instance_id=5, class_id=9)
    p = engine.render(world([cube, scenery]), camera())
    row, col = pixel_of((1.0, 0.0, 3.75))
    assert p.instance[row, col] == 5 and p.semantic[row, col] == 9
    row, col = pixel_of((-1.0, 0.0, 3.75))
    assert p.instance[row, col] == 0 and p.semantic[row, col] == 0
    assert abs(p.depth_m[row, col] - 3.75) < 1e-3  # scenery has depth all the same
    assert p.depth_m[10, 10] == 0 and np.all(p.normals[10, 10] == 0)
    assert p.instance.dtype == np.uint16 and p.semantic.dtype == np.uint16
    assert p.depth_m.dtype == np.float32 and p.normals.shape == (H, W, 3)


def test_background_pixels_get_background_colour(engine):
    background = (0.2, 0.4, 0.6)
    p = engine.render(world([], background=background), small_camera())
    np.testing.assert_allclose(p.radiance.reshape(-1, 3), [background] * (64 * 48), rtol=1e-3)
    assert p.unoccluded_pixels == {}


def test_objects_behind_the_camera_are_not_drawn(engine):
    behind = box((1, 1, 1), rigid(np.eye(3), (0.0, 0.0, -3.0)), instance_id=2)
    p = engine.render(world([behind]), small_camera())
    assert p.unoccluded_pixels == {2: 0}
    assert not p.instance.any()


def test_msaa_blends_slanted_edges_and_one_sample_does_not(engine):
    rotation = axis_angle((0.0, 0.0, 1.0), 0.3)
    cube = box((1, 1, 1), rigid(rotation, (0.0, 0.0, 3.0)), instance_id=1)
    # Lit head-on: the whole visible face has one radiance, the background another.
    light = Light("directional", direction=(0.0, 0.0, 1.0), intensity=2.0)
    grey = []
    for msaa in (1, 4):
        p = engine.render(world([cube], [light]), camera(msaa=msaa))
        face = p.radiance[240, 320, 0]
        r = p.radiance[..., 0]
        grey.append(((r > 0.02 * face) & (r < 0.98 * face)).sum())
    assert grey[0] == 0
    assert grey[1] > 400  # about one pixel in two along 4 x 200 px of slanted edges


# ---- shading ----------------------------------------------------------------------------------


def floor_scene(light: Light, with_box: bool = True) -> tuple[World, Camera]:
    """A 6 m floor (top at z = 0), optionally a 0.4 m box on it at the origin, seen from above."""
    bodies = [box((6.0, 6.0, 0.02), rigid(np.eye(3), (0.0, 0.0, -0.01)))]
    if with_box:
        bodies.append(box((0.4, 0.4, 0.4), rigid(np.eye(3), (0.0, 0.0, 0.2)), instance_id=1))
    cam = camera(
        look_at((0.0, -2.5, 3.0), (0.0, 0.0, 0.0)),
        width=320,
        height=240,
        k=np.array([[300.0, 0, 160], [0, 300.0, 120], [0, 0, 1]]),
    )
    return world(bodies, [light], cam), cam


def radiance_at(p, cam: Camera, point_world) -> float:
    x, y, z = cam.world_to_camera[:3, :3] @ point_world + cam.world_to_camera[:3, 3]
    col = int(cam.K[0, 0] * x / z + cam.K[0, 2])
    row = int(cam.K[1, 1] * y / z + cam.K[1, 2])
    assert p.instance[row, col] == 0  # the floor, not the box
    return float(p.radiance[row, col].mean())


# Lights and the floor points their geometry puts in the box's shadow and in full light. The
# directional light travels along (0.5, 0, -1): the box's shadow spans x in (0.2, 0.4) behind
# it. The lights at (-1, 0, 2) throw it onto x in (0.2, 0.5).
SHADOW_CASES = [
    (Light("directional", direction=(0.5, 0.0, -1.0), intensity=3.0), (0.3, 0.0, 0.0)),
    (Light("point", position=(-1.0, 0.0, 2.0), intensity=15.0), (0.35, 0.0, 0.0)),
    (
        Light("spot", position=(-1.0, 0.0, 2.0), direction=(1.0, 0.0, -2.0), intensity=15.0),
        (0.35, 0.0, 0.0),
    ),
    (
        Light(
            "area",
            position=(-1.0, 0.0, 2.0),
            direction=(1.0, 0.0, -2.0),
            intensity=15.0,
            size=(0.2, 0.2),
        ),
        (0.35, 0.0, 0.0),
    ),
]


@pytest.mark.parametrize(("light", "shadowed"), SHADOW_CASES, ids=lambda c: getattr(c, "kind", ""))
def test_floor_is_dark_where_the_box_shadows_it(engine, light, shadowed):
    w, cam = floor_scene(light)
    p = engine.render(w, cam)
    lit = radiance_at(p, cam, (-0.6, 0.0, 0.0))
    assert lit > 0.05
    assert radiance_at(p, cam, shadowed) < 0.05 * lit
    # Without the box's shadow the same point is lit.
    w.bodies[1].cast_shadows = False
    assert radiance_at(engine.render(w, cam), cam, shadowed) > 0.5 * lit


def test_floor_is_unlit_by_a_light_from_below(engine):
    w, cam = floor_scene(Light("directional", direction=(0.0, 0.0, 1.0), intensity=3.0))
    p = engine.render(w, cam)
    assert radiance_at(p, cam, (-0.6, 0.0, 0.0)) < 1e-6


def test_no_shadow_acne_on_a_flat_floor_under_grazing_light(engine):
    # Light 75 degrees from the vertical; only the floor itself could shadow the floor.
    light = Light("directional", direction=(np.sin(1.31), 0.0, -np.cos(1.31)), intensity=3.0)
    w, cam = floor_scene(light, with_box=False)
    shadowed = engine.render(w, cam).radiance
    unshadowed = engine.render(
        dataclasses.replace(w, lights=[dataclasses.replace(light, cast_shadows=False)]), cam
    ).radiance
    floor = unshadowed[..., 0] > 0
    assert floor.mean() > 0.5
    assert np.all(np.abs(shadowed[floor] / unshadowed[floor] - 1) < 0.02)


def lambert_scene(intensity: float) -> tuple[World, Camera]:
    """A matte plate facing the camera, lit head-on by a directional light."""
    plate = box((4.0, 4.0, 0.01), rigid(np.eye(3), (0.0, 0.0, 2.0)), material=MATTE)
    light = Light("directional", direction=(0.0, 0.0, 1.0), intensity=intensity)
    cam = small_camera()
    return world([plate], [light], cam), cam


def test_radiance_scales_linearly_with_light_intensity(engine):
    one = engine.render(*lambert_scene(1.0)).radiance
    three = engine.render(*lambert_scene(3.0)).radiance
    np.testing.assert_allclose(three, 3 * one, rtol=2e-3)
    # Lambertian: albedo / pi times irradiance, give or take the 4% dielectric specular.
    assert abs(one[24, 32, 0] / (0.5 / np.pi) - 1) < 0.06


def test_texture_appears_the_right_way_up(engine):
    # Top half red, bottom half blue; the quad's v = 1 edge is at the top of the image (y < 0).
    texture = np.zeros((64, 64, 3), np.uint8)
    texture[:32] = (255, 0, 0)
    texture[32:] = (0, 0, 255)
    vertices = np.array([[-0.5, -0.5, 2.0], [0.5, -0.5, 2.0], [0.5, 0.5, 2.0], [-0.5, 0.5, 2.0]])
    uv = np.array([[0.0, 1.0], [1.0, 1.0], [1.0, 0.0], [0.0, 0.0]])
    quad = trimesh.Trimesh(vertices, [[0, 1, 2], [0, 2, 3]], process=False)
    material = Material(base_color=(1.0, 1.0, 1.0), roughness=1.0, texture=texture)
    body = Body((Part(mesh_from_trimesh(quad, uv=uv), material),), np.eye(4), 1, 1)
    light = Light("ambient", color=(1.0, 1.0, 1.0), ground_color=(1.0, 1.0, 1.0))
    p = engine.render(world([body], [light]), small_camera())
    top, bottom = p.radiance[16, 32], p.radiance[32, 32]  # v = 24 -+ 8 px: y = -+0.32 m
    assert top[0] > 10 * top[2] and bottom[2] > 10 * bottom[0]


# ---- caches -----------------------------------------------------------------------------------


def test_shadow_maps_are_drawn_once_per_world_state(engine, monkeypatch):
    w, cam = floor_scene(SHADOW_CASES[0][0])
    calls = []
    draw = engine._draw_shadow_maps
    monkeypatch.setattr(engine, "_draw_shadow_maps", lambda *a: calls.append(1) or draw(*a))
    engine.render(w, cam)
    engine.render(w, dataclasses.replace(cam, world_to_camera=look_at((1, -2, 3), (0, 0, 0))))
    assert len(calls) == 1
    w.bodies[1].object_to_world = rigid(np.eye(3), (0.5, 0.0, 0.2))  # moved in place
    p = engine.render(w, cam)
    assert len(calls) == 2
    assert radiance_at(p, cam, (0.3 + 0.5, 0.0, 0.0)) < 0.05 * radiance_at(p, cam, (-0.6, 0, 0))


def test_mesh_cache_stays_bounded_and_re_uploads(engine, monkeypatch):
    monkeypatch.setattr(engine._meshes, "capacity", 4)
    cam = small_camera()
    for i in range(10):
        size = 0.5 + 0.01 * i  # a new mesh, as products of random size are
        p = engine.render(world([box((size, size, size), CUBE_AHEAD, instance_id=1)]), cam)
        assert len(engine._meshes) <= 4
        # The front face spans 32 +- 50 (size / 2) / (3 - size / 2) px both ways; count the
        # pixel centres inside.
        half = 50 * (size / 2) / (3 - size / 2)
        centres = np.arange(64) + 0.5
        side = int(((centres >= 32 - half) & (centres < 32 + half)).sum())
        assert p.unoccluded_pixels[1] == side * side


def test_engines_in_one_process_keep_their_own_context():
    """A second engine, made and closed between two renders of the first, changes nothing."""
    scene = world([box((0.4, 0.4, 0.4), rigid(np.eye(3), [0, 0, 3]), instance_id=1)])
    with RasterEngine(shadow_map_size=256) as first:
        before = first.render(scene, small_camera())
        with RasterEngine(shadow_map_size=256) as second:
            other = second.render(scene, small_camera())
        after = first.render(scene, small_camera())
    assert np.array_equal(before.instance, after.instance)
    assert np.array_equal(before.radiance, after.radiance)
    assert np.array_equal(before.radiance, other.radiance)
    assert (after.instance == 1).sum() > 0
