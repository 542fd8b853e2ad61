"""Contact sheets: size of the grid, outlines and boxes drawn where the masks are."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from PIL import Image

from groundforge.assets.meshes import mesh_from_trimesh
from groundforge.export import DatasetInfo, DatasetWriter, contact_sheet
from groundforge.export.preview import draw_labels, label_color, mask_outlines
from groundforge.labels import annotate
from groundforge.render.engine import Passes
from groundforge.world.state import Body, Camera, Material, Part, World

W, H = 80, 60
GREY = 90


def write_dataset(root, shots: int) -> None:
    """`shots` grey images, each with one 20x10 box of instance 1 (class 'box') at its centre."""
    K = np.array([[60.0, 0, W / 2], [0, 60.0, H / 2], [0, 0, 1]])
    camera = Camera("top", W, H, K, np.eye(4))
    writer = DatasetWriter(
        root,
        DatasetInfo(
            name="sheet",
            scene_hash="h",
            seed=0,
            engine="hand",
            classes=[(1, "box")],
            cameras=[DatasetInfo.camera_entry(camera)],
        ),
    )
    writer.start()
    mesh = mesh_from_trimesh(trimesh.creation.box(extents=(0.1, 0.1, 0.1)))
    pose = np.eye(4)
    pose[2, 3] = 1.0
    body = Body((Part(mesh, Material()),), pose, 1, 1, "box")
    instance = np.zeros((H, W), np.uint16)
    instance[25:35, 30:50] = 1
    passes = Passes(
        radiance=np.zeros((H, W, 3), np.float32),
        depth_m=np.where(instance > 0, 1.0, 0.0).astype(np.float32),
        instance=instance,
        semantic=instance.copy(),
        normals=np.zeros((H, W, 3), np.float32),
        unoccluded_pixels={1: 200},
    )
    rgb = np.full((H, W, 3), GREY, np.uint8)
    for shot in range(shots):
        world = World(shot, 0.0, [body], [], [camera])
        writer.write_image(shot, "top", rgb, passes, annotate(world, camera, passes))
    writer.finalize()


def test_mask_outlines_are_the_inner_ring_of_each_mask():
    instance = np.zeros((7, 7), np.uint16)
    instance[1:6, 1:6] = 1
    instance[3, 3] = 2  # a one-pixel object inside object 1
    outline = mask_outlines(instance)
    expected = np.zeros((7, 7), bool)
    expected[1:6, 1:6] = True
    # Object 1's interior is no outline, except where it touches object 2; object 2 is all edge.
    expected[2:5, 2:5] = [[False, True, False], [True, True, True], [False, True, False]]
    np.testing.assert_array_equal(outline, expected)


def test_draw_labels_puts_box_and_outline_on_the_mask():
    instance = np.zeros((H, W), np.uint16)
    instance[25:35, 30:50] = 1
    annotation = {
        "objects": [
            {
                "instance_id": 1,
                "class_id": 1,
                "class_name": "box",
                "bbox_visible": [30, 25, 20, 10],
                "pixel_count": 200,
            }
        ]
    }
    drawn = np.asarray(draw_labels(np.full((H, W, 3), GREY, np.uint8), instance, annotation))
    color = label_color(1)
    assert tuple(drawn[34, 40]) == color  # bottom edge of the mask and of the box
    assert tuple(drawn[30, 49]) == color  # right edge
    assert tuple(drawn[30, 40]) == (GREY, GREY, GREY)  # inside the mask, untouched
    assert tuple(drawn[50, 5]) == (GREY, GREY, GREY)  # far from it


@pytest.mark.parametrize(
    ("shots", "count", "columns", "size"), [(6, 8, 4, (1280, 480)), (3, 2, 2, (640, 240))]
)
def test_contact_sheet_has_the_grid_size(tmp_path, shots, count, columns, size):
    root = tmp_path / "data"
    write_dataset(root, shots)
    out = contact_sheet(root, tmp_path / "sheet" / "preview.png", count=count, columns=columns)
    assert out == tmp_path / "sheet" / "preview.png"
    with Image.open(out) as sheet:
        # Tiles are 320 wide and 320 * 60 / 80 = 240 high; min(shots, count) tiles in rows.
        assert sheet.size == size
        pixels = np.asarray(sheet.convert("RGB"))
    first_tile = pixels[:240, :320]
    # The object's box (scaled 4x to columns 120..199, rows 100..139) is drawn in its colour.
    bottom_edge = first_tile[138, 130:190].astype(int)
    assert np.abs(bottom_edge - label_color(1)).max(axis=1).min() < 60
    assert tuple(first_tile[200, 20]) == (GREY, GREY, GREY)


def test_contact_sheet_of_empty_dataset_is_refused(tmp_path):
    camera = {"name": "top", "width": W, "height": H, "K": np.eye(3).tolist()}
    info = DatasetInfo(name="e", scene_hash="h", seed=0, engine="x", classes=[], cameras=[camera])
    DatasetWriter(tmp_path, info).start()
    with pytest.raises(ValueError, match="no complete images"):
        contact_sheet(tmp_path, tmp_path / "p.png")
