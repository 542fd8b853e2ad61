"""The JSON-ready annotation of one image: everything known about each object in it."""

from __future__ import annotations

import logging

import numpy as np

from groundforge.labels.boxes import amodal_box, visible_boxes
from groundforge.labels.masks import encode_instances
from groundforge.labels.pose import camera_from_object, corners_3d
from groundforge.labels.visibility import visible_fraction
from groundforge.render.engine import Passes
from groundforge.spec.scene import PLACEMENT_FAULTS
from groundforge.world.state import Camera, World

logger = logging.getLogger(__name__)


def camera_record(camera: Camera) -> dict:
    """{name, width, height, K (3x3), world_to_camera (4x4)} of a camera, as JSON lists."""
    return {
        "name": camera.name,
        "width": int(camera.width),
        "height": int(camera.height),
        "K": np.asarray(camera.K, np.float64).tolist(),
        "world_to_camera": np.asarray(camera.world_to_camera, np.float64).tolist(),
    }


def depth_range(depth_m: np.ndarray) -> list[float] | None:
    """[min, max] metres over pixels with a surface (depth > 0, finite); None if there are none."""
    valid = depth_m[np.isfinite(depth_m) & (depth_m > 0)]
    if valid.size == 0:
        return None
    return [float(valid.min()), float(valid.max())]


def annotate(world: World, camera: Camera, passes: Passes) -> dict:
    """The annotation of one image (DESIGN.md "Dataset layout"), ready for json.dump.

    `objects` lists, in instance-id order, every labelled body that has visible pixels or whose
    amodal box overlaps the image. A body in view but hidden entirely behind others is kept with
    pixel_count 0 and null bbox_visible and segmentation, so occlusion is not mistaken for
    absence; the manifests keep only objects with pixel_count > 0.
    """
    height, width = passes.instance.shape
    if (width, height) != (camera.width, camera.height):
        raise ValueError(
            f"passes are {width}x{height} but camera {camera.name!r} is "
            f"{camera.width}x{camera.height}"
        )

    boxes = visible_boxes(passes.instance)
    masks = encode_instances(passes.instance)
    bodies = {b.instance_id: b for b in world.objects}
    unknown = sorted(set(boxes) - set(bodies))
    if unknown:
        logger.warning(
            "camera %s shot %d: instance ids %s have no body", camera.name, world.shot, unknown
        )

    objects = []
    for instance_id in sorted(bodies):
        body = bodies[instance_id]
        bbox_visible, pixel_count = boxes.get(instance_id, (None, 0))
        amodal = amodal_box(body, camera)
        if pixel_count == 0 and amodal.bbox_xywh is None:
            continue
        unoccluded = int(passes.unoccluded_pixels.get(instance_id, 0))
        corners = corners_3d(body, camera)
        objects.append(
            {
                "instance_id": int(instance_id),
                "class_id": int(body.class_id),
                "class_name": body.class_name,
                "bbox_visible": bbox_visible,
                "bbox_amodal": amodal.bbox_xywh,
                "pixel_count": int(pixel_count),
                "visible_fraction": round(visible_fraction(pixel_count, unoccluded), 6),
                "truncated": amodal.truncated,
                "corners_3d": corners.tolist(),
                # The box centre; an affine map keeps it the mean of the corners.
                "center_3d": corners.mean(axis=0).tolist(),
                "camera_from_object": camera_from_object(body, camera).tolist(),
                "object_to_world": np.asarray(body.object_to_world, np.float64).tolist(),
                "segmentation": masks.get(instance_id),
            }
        )
        if world.sequence is not None:
            objects[-1]["velocity"] = [float(v) for v in body.velocity]
            objects[-1]["angular_velocity"] = [float(v) for v in body.angular_velocity]

    record = {
        "camera": camera_record(camera),
        "shot": int(world.shot),
        "timestamp": float(world.timestamp),
        "depth_range_m": depth_range(passes.depth_m),
        "objects": objects,
    }
    if world.sequence is not None:
        record["sequence"] = int(world.sequence)
        record["frame"] = int(world.frame)
    if world.defect_labels:
        record["anomaly"] = label_defects(objects, bodies, passes)
    return record


def label_defects(objects: list[dict], bodies: dict, passes: Passes) -> bool:
    """Add each object's `defects` (with their pixels in this image) and placement `faults`;
    True when the image shows an anomaly: a defect pixel, or a visible faulty product."""
    ids = passes.defect if passes.defect is not None else np.zeros_like(passes.instance)
    boxes = visible_boxes(ids)
    masks = encode_instances(ids)
    anomaly = False
    for obj in objects:
        body = bodies[obj["instance_id"]]
        defects, faults = [], []
        for d in body.defects:
            entry = {"name": d.name, "kind": d.kind, "severity": d.severity, "params": d.params}
            if d.kind in PLACEMENT_FAULTS:
                faults.append(entry)
                # A missing product shows as the gap where it should be.
                seen = obj["pixel_count"] > 0 or (
                    d.kind == "missing" and obj["bbox_amodal"] is not None
                )
                anomaly = anomaly or seen
                continue
            bbox, pixel_count = boxes.get(d.defect_id, (None, 0))
            defects.append(
                {
                    "defect_id": int(d.defect_id),
                    **entry,
                    "pixel_count": int(pixel_count),
                    "bbox": bbox,
                    "segmentation": masks.get(d.defect_id),
                }
            )
            anomaly = anomaly or pixel_count > 0
        obj["defects"] = defects
        obj["faults"] = faults
    return anomaly
