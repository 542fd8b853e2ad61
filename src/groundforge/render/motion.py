"""Motion blur: the colour image integrates what moves while the shutter is open.

The shutter opens at the frame's timestamp and stays open `camera.shutter_s`; poses in between
are interpolated from each body's pose now to its pose at the next frame (linear in position,
spherical in rotation), since the frames are all physics records. The exact passes are not
blurred: labels stay those of the frame's timestamp.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from groundforge.render.engine import Engine, Passes
from groundforge.world.state import Body, Camera, World


def pose_between(start: np.ndarray, end: np.ndarray, fraction: float) -> np.ndarray:
    """(4, 4) rigid pose a `fraction` (0-1) of the way from `start` to `end`."""
    pose = np.eye(4)
    rotations = Rotation.from_matrix(np.stack([start[:3, :3], end[:3, :3]]))
    pose[:3, :3] = Slerp([0.0, 1.0], rotations)(fraction).as_matrix()
    pose[:3, 3] = (1.0 - fraction) * start[:3, 3] + fraction * end[:3, 3]
    return pose


def world_at(world: World, fraction: float) -> World:
    """The world a `fraction` of the way to its next frame (bodies without a next pose stay)."""
    bodies = [
        _moved(b, fraction) if b.next_object_to_world is not None else b for b in world.bodies
    ]
    return dataclasses.replace(world, bodies=bodies)


def _moved(body: Body, fraction: float) -> Body:
    return dataclasses.replace(
        body,
        object_to_world=pose_between(body.object_to_world, body.next_object_to_world, fraction),
    )


def render_blurred(
    engine: Engine, world: World, camera: Camera, frame_interval_s: float, samples: int = 6
) -> Passes:
    """The passes of `camera` at the frame's timestamp, with a radiance averaged over the
    shutter time (`samples` renders spread evenly over it); plain passes when the shutter is
    closed or nothing has a next pose."""
    passes = engine.render(world, camera)
    moving = any(b.next_object_to_world is not None for b in world.bodies)
    if camera.shutter_s <= 0 or not moving or frame_interval_s <= 0:
        return passes
    open_fraction = min(camera.shutter_s / frame_interval_s, 1.0)
    still_camera = dataclasses.replace(camera, next_world_to_camera=None)
    radiance = np.zeros_like(passes.radiance, dtype=np.float64)
    for k in range(samples):
        fraction = open_fraction * (k + 0.5) / samples
        radiance += engine.render(world_at(world, fraction), still_camera).radiance
    return dataclasses.replace(passes, radiance=(radiance / samples).astype(np.float32))
