"""2D boxes: the visible box of every instance mask and the amodal box of a body's projection."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import ndimage

from groundforge.labels.pose import camera_from_object
from groundforge.labels.projection import clip_edges_near, mesh_edges, project, transform_points
from groundforge.world.state import Body, Camera


def visible_boxes(instance: np.ndarray) -> dict[int, tuple[list[int], int]]:
    """Instance id -> ([left, top, width, height] pixels, pixel count) for every id > 0 present.

    instance: (H, W) integer ids. The box is the tight box of the mask's pixels: a mask over
    columns 10..19 has left 10 and width 10. One pass over the image for all instances.
    """
    instance = np.asarray(instance)
    if instance.ndim != 2:
        raise ValueError(f"instance must be (H, W), got shape {instance.shape}")
    counts = np.bincount(instance.ravel())
    boxes: dict[int, tuple[list[int], int]] = {}
    # find_objects' list index i holds label i + 1; labels absent from the image give None.
    for index, slices in enumerate(ndimage.find_objects(instance)):
        if slices is None:
            continue
        rows, cols = slices
        box = [cols.start, rows.start, cols.stop - cols.start, rows.stop - rows.start]
        boxes[index + 1] = (box, int(counts[index + 1]))
    return boxes


class AmodalBox(NamedTuple):
    """The projection of a whole body, occluders ignored.

    bbox_xywh: [left, top, width, height] float pixels clipped to the image, or None when no part
    of the projection falls inside it (or the body is entirely behind the near plane).
    truncated: the unclipped projection leaves the image, or part of the body is behind the near
    plane.
    """

    bbox_xywh: list[float] | None
    truncated: bool


def body_points_camera(body: Body, camera: Camera) -> np.ndarray:
    """(N, 3) float64 camera-frame vertices of all parts of `body`, metres (of the parts it
    should have, for a product missing from its place)."""
    cam_from_obj = camera_from_object(body, camera)
    points = [transform_points(cam_from_obj, part.mesh.vertices) for part in _parts(body)]
    return np.concatenate(points) if points else np.zeros((0, 3))


def _parts(body: Body):
    return body.parts or body.shadow_parts


def body_edges(body: Body) -> np.ndarray:
    """(3M, 2) int64 edges of all parts' triangles, indexing body_points_camera's rows."""
    edges, offset = [np.zeros((0, 2), dtype=np.int64)], 0
    for part in _parts(body):
        edges.append(mesh_edges(part.mesh.faces) + offset)
        offset += len(part.mesh.vertices)
    return np.concatenate(edges)


def amodal_box(body: Body, camera: Camera, decimals: int = 2) -> AmodalBox:
    """The box of every vertex of `body` projected by `camera`, clipped to [0, W] x [0, H]."""
    points = body_points_camera(body, camera)
    in_front = points[:, 2] >= camera.near
    behind = not bool(in_front.all())
    if behind:
        # Rare, so the edges are only built here.
        crossings = clip_edges_near(points, body_edges(body), camera.near)
        points = np.concatenate([points[in_front], crossings])
    if len(points) == 0:
        return AmodalBox(None, True)

    uv = project(points, camera.K)
    lo, hi = uv.min(axis=0), uv.max(axis=0)
    size = np.array([camera.width, camera.height], dtype=np.float64)
    truncated = behind or bool((lo < 0).any() or (hi > size).any())

    lo, hi = np.clip(lo, 0, size), np.clip(hi, 0, size)
    if (hi <= lo).any():
        return AmodalBox(None, truncated)
    box = np.round(np.concatenate([lo, hi - lo]), decimals)
    return AmodalBox([float(x) for x in box], truncated)
