"""3D labels: object poses and box corners in the camera frame."""

from __future__ import annotations

import numpy as np

from groundforge.labels.projection import transform_points
from groundforge.world.state import Body, Camera


def camera_from_object(body: Body, camera: Camera) -> np.ndarray:
    """(4, 4) float64: world_to_camera @ object_to_world, mapping object to camera (OpenCV)."""
    return np.asarray(camera.world_to_camera, np.float64) @ np.asarray(
        body.object_to_world, np.float64
    )


def corners_3d(body: Body, camera: Camera) -> np.ndarray:
    """(8, 3) float64 corners of the body's object-frame box in the camera frame, metres.

    Corner order is Body.corners(): x fastest, then y, then z.
    """
    return transform_points(camera_from_object(body, camera), body.corners())


def center_3d(body: Body, camera: Camera) -> np.ndarray:
    """(3,) float64 centre of the body's object-frame box in the camera frame, metres."""
    centre = body.bounds.mean(axis=0)[None]
    return transform_points(camera_from_object(body, camera), centre)[0]
