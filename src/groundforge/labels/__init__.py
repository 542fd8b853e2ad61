"""Labels computed from the passes and the world state: boxes, masks, visibility, 3D poses."""

from groundforge.labels.annotate import annotate, camera_record, depth_range
from groundforge.labels.boxes import AmodalBox, amodal_box, visible_boxes
from groundforge.labels.masks import encode_instances, uncompressed_runs
from groundforge.labels.pose import camera_from_object, center_3d, corners_3d
from groundforge.labels.projection import clip_edges_near, project, to_camera, transform_points
from groundforge.labels.visibility import visible_fraction

__all__ = [
    "AmodalBox",
    "amodal_box",
    "annotate",
    "camera_from_object",
    "camera_record",
    "center_3d",
    "clip_edges_near",
    "corners_3d",
    "depth_range",
    "encode_instances",
    "project",
    "to_camera",
    "transform_points",
    "uncompressed_runs",
    "visible_boxes",
    "visible_fraction",
]
