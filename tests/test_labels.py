"""Labels from hand-made passes and worlds: boxes, masks, visibility, projection, 3D poses."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import trimesh
from pycocotools import mask as mask_utils

from groundforge.assets.meshes import mesh_from_trimesh
from groundforge.labels import (
    amodal_box,
    annotate,
    camera_from_object,
    center_3d,
    corners_3d,
    encode_instances,
    project,
    to_camera,
    visible_boxes,
    visible_fraction,
)
from groundforge.render.engine import Passes
from groundforge.world.state import Body, Camera, Material, Part, World

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

F, CX, CY, W, H = 500.0, 320.0, 240.0, 640, 480


def make_camera(world_to_camera: np.ndarray | None = None, near: float = 0.05) -> Camera:
    """A 640x480 camera, focal 500 px, principal point at the image centre."""
    K = np.array([[F, 0, CX], [0, F, CY], [0, 0, 1]])
    return Camera("top", W, H, K, np.eye(4) if world_to_camera is None else world_to_camera, near)


def make_box(extents, center, instance_id=1, class_id=1, rotation=None) -> Body:
    """A box body of `extents` metres, its frame origin at `center` (camera = world frame)."""
    mesh = mesh_from_trimesh(trimesh.creation.box(extents=extents))
    pose = np.eye(4)
    if rotation is not None:
        pose[:3, :3] = rotation
    pose[:3, 3] = center
    return Body((Part(mesh, Material()),), pose, instance_id, class_id, f"class{class_id}")


def make_passes(instance: np.ndarray, unoccluded: dict[int, int] | None = None) -> Passes:
    """Passes around a hand-made instance image; depth 1.5 m on objects, semantic = id."""
    h, w = instance.shape
    return Passes(
        radiance=np.zeros((h, w, 3), np.float32),
        depth_m=np.where(instance > 0, 1.5, 0.0).astype(np.float32),
        instance=instance.astype(np.uint16),
        semantic=instance.astype(np.uint16),
        normals=np.zeros((h, w, 3), np.float32),
        unoccluded_pixels=unoccluded or {},
    )


def pinhole(x: float, y: float, z: float) -> tuple[float, float]:
    """The projection written out: u = f x / z + cx, v = f y / z + cy."""
    return F * x / z + CX, F * y / z + CY


# ---- visible boxes ------------------------------------------------------------------------------


def test_bbox_matches_hand_drawn_rectangles():
    instance = np.zeros((H, W), np.uint16)
    instance[10:20, 30:45] = 1  # rows 10..19, columns 30..44
    instance[100:101, 600:640] = 7  # one row touching the right edge
    instance[470:480, 0:1] = 3  # one column touching the bottom-left corner
    boxes = visible_boxes(instance)
    assert boxes == {
        1: ([30, 10, 15, 10], 150),
        7: ([600, 100, 40, 1], 40),
        3: ([0, 470, 1, 10], 10),
    }


def test_bbox_matches_irregular_blob():
    instance = np.zeros((20, 20), np.uint16)
    for row, col in [(5, 7), (6, 7), (6, 8), (9, 3), (7, 5)]:
        instance[row, col] = 2
    instance[0, 0] = 4
    boxes = visible_boxes(instance)
    # Columns 3..8 and rows 5..9.
    assert boxes[2] == ([3, 5, 6, 5], 5)
    assert boxes[4] == ([0, 0, 1, 1], 1)
    assert set(boxes) == {2, 4}


def test_bbox_of_disk_matches_its_extreme_pixels():
    rows, cols = np.mgrid[:H, :W]
    instance = (((rows - 200) ** 2 + (cols - 300) ** 2) <= 50**2).astype(np.uint16) * 5
    # A disk of radius 50 px centred on pixel (200, 300) spans rows and columns +-50.
    assert visible_boxes(instance)[5][0] == [250, 150, 101, 101]


def test_pixel_counts_of_overlapping_paint():
    instance = np.zeros((50, 50), np.uint16)
    instance[0:10, 0:10] = 1
    instance[5:15, 5:15] = 2  # paints over 25 pixels of object 1
    boxes = visible_boxes(instance)
    assert boxes[1][1] == 100 - 25
    assert boxes[2][1] == 100
    assert boxes[1][0] == [0, 0, 10, 10]


# ---- RLE ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_rle_equals_pycocotools_encoder(seed):
    rng = np.random.default_rng(seed)
    h, w = rng.integers(1, 60, size=2)
    instance = rng.integers(0, 6, size=(h, w)).astype(np.uint16)
    if seed % 2:
        # Sparse, blocky masks as well as salt-and-pepper ones.
        instance = np.kron(rng.integers(0, 4, size=(h // 4 + 1, w // 4 + 1)), np.ones((4, 4)))
        instance = instance[:h, :w].astype(np.uint16)
    encoded = encode_instances(instance)
    present = {int(k) for k in np.unique(instance) if k > 0}
    assert set(encoded) == present
    for k in present:
        reference = mask_utils.encode(np.asfortranarray((instance == k).astype(np.uint8)))
        assert encoded[k]["counts"] == reference["counts"].decode("ascii")
        assert encoded[k]["size"] == [int(h), int(w)]


def test_rle_decodes_to_instance_pixels_at_image_corners():
    instance = np.zeros((7, 9), np.uint16)
    instance[0, 0] = 1  # first pixel in column-major order
    instance[6, 8] = 2  # last pixel
    instance[:, 4] = 3  # one whole column
    instance[2:5, 6:8] = 1
    encoded = encode_instances(instance)
    for k, rle in encoded.items():
        decoded = mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode()})
        np.testing.assert_array_equal(decoded, (instance == k).astype(np.uint8))
    assert mask_utils.area({"size": [7, 9], "counts": encoded[1]["counts"].encode()}) == 7


def test_rle_of_empty_image_is_empty():
    assert encode_instances(np.zeros((4, 4), np.uint16)) == {}


# ---- projection and amodal boxes ----------------------------------------------------------------


def test_project_follows_pinhole_formula():
    points = np.array([[0.0, 0.0, 2.0], [0.2, -0.1, 1.0], [-1.0, 0.5, 4.0]])
    K = make_camera().K
    expected = np.array([pinhole(*p) for p in points])
    np.testing.assert_allclose(project(points, K), expected)


def test_to_camera_applies_world_to_camera():
    # Camera 3 m above the origin looking down: world -Z is camera +z, world Y is camera -y.
    world_to_camera = np.array([[1, 0, 0, 0], [0, -1, 0, 0], [0, 0, -1, 3], [0, 0, 0, 1.0]])
    points = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 0.5]])
    np.testing.assert_allclose(
        to_camera(points, world_to_camera), [[0.0, 0.0, 3.0], [1.0, -2.0, 2.5]]
    )


def test_amodal_box_of_cube_equals_projected_corners():
    body = make_box((0.2, 0.2, 0.2), (0.1, -0.05, 2.0))
    box = amodal_box(body, make_camera())
    # The widest extent is at the near face z = 1.9: x in [0, 0.2], y in [-0.15, 0.05].
    u0, v0 = pinhole(0.0, -0.15, 1.9)
    u1, v1 = pinhole(0.2, 0.05, 1.9)
    assert u0 == pytest.approx(320.0) and v0 == pytest.approx(240 - 500 * 0.15 / 1.9)
    np.testing.assert_allclose(box.bbox_xywh, [u0, v0, u1 - u0, v1 - v0], atol=0.006)
    assert box.truncated is False


def test_amodal_box_of_rotated_cube_uses_all_corners():
    c, s = np.cos(np.pi / 4), np.sin(np.pi / 4)
    rotation = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    body = make_box((0.2, 0.2, 0.2), (0.0, 0.0, 2.0), rotation=rotation)
    box = amodal_box(body, make_camera())
    corners = [
        rotation @ np.array(offset) + [0, 0, 2.0]
        for offset in itertools.product((-0.1, 0.1), repeat=3)
    ]
    uv = np.array([pinhole(*p) for p in corners])
    lo, hi = uv.min(axis=0), uv.max(axis=0)
    np.testing.assert_allclose(box.bbox_xywh, [lo[0], lo[1], *(hi - lo)], atol=0.006)
    # Rotated 45 degrees about the optical axis, the half-diagonal 0.1 * sqrt(2) sets the width.
    assert box.bbox_xywh[2] == pytest.approx(2 * 500 * 0.1 * np.sqrt(2) / 1.9, abs=0.01)


def test_object_leaving_the_image_is_truncated_and_clipped():
    # x from 0.5 to 0.9 at z = 1 projects to u 570..770, past the right edge at 640.
    body = make_box((0.4, 0.2, 0.2), (0.7, 0.0, 1.1))
    box = amodal_box(body, make_camera())
    assert box.truncated is True
    left, top, width, height = box.bbox_xywh
    assert left == pytest.approx(pinhole(0.5, 0, 1.2)[0], abs=0.006)
    assert left + width == pytest.approx(640.0)
    assert top == pytest.approx(pinhole(0, -0.1, 1.0)[1], abs=0.006)


def test_object_inside_the_image_is_not_truncated():
    assert amodal_box(make_box((0.1, 0.1, 0.1), (0.0, 0.0, 3.0)), make_camera()).truncated is False


def test_object_half_behind_camera_gets_clipped_finite_box():
    # A bar from z = -1 to z = 1 at x in [0.2, 0.6], y in [-0.1, 0.1]; near plane at 0.05.
    body = make_box((0.4, 0.2, 2.0), (0.4, 0.0, 0.0))
    box = amodal_box(body, make_camera(near=0.05))
    assert box.truncated is True
    assert all(np.isfinite(box.bbox_xywh))
    # The part in front starts at u = 500 * 0.2 / 1 + 320 = 420 (its far end) and, at the near
    # plane, runs off the right edge and past both the top and bottom.
    # Projecting the vertices behind the camera would instead give u = 220.
    np.testing.assert_allclose(box.bbox_xywh, [420.0, 0.0, 220.0, 480.0], atol=0.006)


def test_object_entirely_behind_camera_has_no_amodal_box():
    box = amodal_box(make_box((0.2, 0.2, 0.2), (0.0, 0.0, -2.0)), make_camera())
    assert box.bbox_xywh is None


def test_object_beside_the_view_has_no_amodal_box():
    # x from 1.9 to 2.1 at z about 2 projects to u > 790.
    box = amodal_box(make_box((0.2, 0.2, 0.2), (2.0, 0.0, 2.0)), make_camera())
    assert box.bbox_xywh is None and box.truncated is True


# ---- 3D labels ---------------------------------------------------------------------------------


def test_corners_and_pose_in_camera_frame():
    quarter_turn = np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]])  # 90 degrees about z
    body = make_box((0.4, 0.2, 0.1), (1.0, 2.0, 0.0), rotation=quarter_turn)
    # Camera 3 m above the world origin looking straight down (camera y = -world y).
    world_to_camera = np.array([[1, 0, 0, 0], [0, -1, 0, 0], [0, 0, -1, 3], [0, 0, 0, 1.0]])
    camera = make_camera(world_to_camera)

    expected_pose = np.array([[0, -1, 0, 1], [-1, 0, 0, -2], [0, 0, -1, 3], [0, 0, 0, 1.0]])
    np.testing.assert_allclose(camera_from_object(body, camera), expected_pose, atol=1e-12)

    corners = corners_3d(body, camera)
    # Object corner (x, y, z) lands in the world at (1 - y, 2 + x, z), in the camera at
    # (1 - y, -2 - x, 3 - z); corners go x fastest.
    expected = [
        (1 - y, -2 - x, 3 - z) for z in (-0.05, 0.05) for y in (-0.1, 0.1) for x in (-0.2, 0.2)
    ]
    np.testing.assert_allclose(corners, expected, atol=1e-6)
    np.testing.assert_allclose(center_3d(body, camera), [1.0, -2.0, 3.0], atol=1e-6)


# ---- visibility ---------------------------------------------------------------------------------


def test_visible_fraction_from_counts():
    assert visible_fraction(50, 200) == 0.25
    assert visible_fraction(0, 0) == 0.0
    assert visible_fraction(10, 0) == 0.0
    assert visible_fraction(210, 200) == 1.0


# ---- annotate -----------------------------------------------------------------------------------


def make_scene():
    """Three boxes in view (one hidden behind another) and one behind the camera."""
    bodies = [
        make_box((0.2, 0.2, 0.2), (0.0, 0.0, 2.0), instance_id=1, class_id=1),
        make_box((0.2, 0.2, 0.2), (0.0, 0.0, 3.0), instance_id=2, class_id=2),
        make_box((0.2, 0.2, 0.2), (-0.5, 0.2, 2.5), instance_id=3, class_id=1),
        make_box((0.2, 0.2, 0.2), (0.0, 0.0, -3.0), instance_id=4, class_id=2),
        Body((), np.eye(4), instance_id=0, class_id=0),  # scenery
    ]
    camera = make_camera()
    world = World(shot=7, timestamp=0.7, bodies=bodies, lights=[], cameras=[camera])
    instance = np.zeros((H, W), np.uint16)
    instance[200:280, 270:370] = 1
    instance[250:260, 150:170] = 3
    instance[0, 0] = 9  # an id with no body is skipped
    depth = np.where(instance > 0, 2.0, 0.0).astype(np.float32)
    depth[250:260, 150:170] = 2.4
    passes = make_passes(instance, unoccluded={1: 8000, 2: 3000, 3: 400})
    passes.depth_m = depth
    return world, camera, passes


def test_annotation_lists_visible_and_hidden_objects_in_view():
    world, camera, passes = make_scene()
    annotation = annotate(world, camera, passes)
    by_id = {o["instance_id"]: o for o in annotation["objects"]}
    assert sorted(by_id) == [1, 2, 3]  # 4 is behind the camera, 9 has no body
    assert by_id[1]["bbox_visible"] == [270, 200, 100, 80]
    assert by_id[1]["pixel_count"] == 8000
    assert by_id[1]["visible_fraction"] == 1.0
    assert by_id[3]["visible_fraction"] == pytest.approx(200 / 400)
    hidden = by_id[2]
    assert hidden["pixel_count"] == 0 and hidden["bbox_visible"] is None
    assert hidden["segmentation"] is None and hidden["bbox_amodal"] is not None
    assert hidden["class_name"] == "class2" and hidden["class_id"] == 2


def test_annotation_fields_and_camera():
    world, camera, passes = make_scene()
    annotation = annotate(world, camera, passes)
    assert annotation["shot"] == 7 and annotation["timestamp"] == 0.7
    assert annotation["camera"] == {
        "name": "top",
        "width": 640,
        "height": 480,
        "K": [[500.0, 0.0, 320.0], [0.0, 500.0, 240.0], [0.0, 0.0, 1.0]],
        "world_to_camera": np.eye(4).tolist(),
    }
    assert annotation["depth_range_m"] == pytest.approx([2.0, 2.4])
    obj = annotation["objects"][0]
    expected_keys = {
        "instance_id",
        "class_id",
        "class_name",
        "bbox_visible",
        "bbox_amodal",
        "pixel_count",
        "visible_fraction",
        "truncated",
        "corners_3d",
        "center_3d",
        "camera_from_object",
        "segmentation",
    }
    assert expected_keys <= set(obj)
    assert np.asarray(obj["corners_3d"]).shape == (8, 3)
    assert np.asarray(obj["camera_from_object"]).shape == (4, 4)
    decoded = mask_utils.decode(
        {"size": obj["segmentation"]["size"], "counts": obj["segmentation"]["counts"].encode()}
    )
    np.testing.assert_array_equal(decoded, passes.instance == 1)


def test_annotation_of_empty_image_has_no_depth_range():
    camera = make_camera()
    world = World(shot=0, timestamp=0.0, bodies=[], lights=[], cameras=[camera])
    annotation = annotate(world, camera, make_passes(np.zeros((H, W), np.uint16)))
    assert annotation["objects"] == [] and annotation["depth_range_m"] is None


def test_annotation_refuses_passes_of_another_size():
    world, camera, _ = make_scene()
    with pytest.raises(ValueError, match="640x480"):
        annotate(world, camera, make_passes(np.zeros((10, 10), np.uint16)))
