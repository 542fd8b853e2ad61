"""The interface every render engine implements, and the passes it returns."""

from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np

from groundforge.world.state import Camera, World


@dataclass(eq=False)
class Passes:
    """Everything one camera sees of one shot. Row 0 is the top of the image.

    radiance: (H, W, 3) float32 linear RGB, anti-aliased, before the sensor model.
    depth_m: (H, W) float32 z-depth along the camera axis, metres; 0 where no surface.
    instance: (H, W) uint16 instance id of the nearest surface; 0 for scenery and empty space.
    semantic: (H, W) uint16 class id of the nearest surface; 0 for background.
    normals: (H, W, 3) float32 unit surface normals in the camera frame (OpenCV); 0 where empty.
    unoccluded_pixels: instance id -> pixels the object would cover with nothing in front of it
        (same sampling as `instance`: one sample per pixel centre, no anti-aliasing).
    flow: (H, W, 2) float32 forward optical flow in pixels (du, dv): where the surface point
        seen at each pixel centre projects in the next frame (from the bodies'
        `next_object_to_world` and the camera's `next_world_to_camera`) minus where it projects
        now; 0 where no surface. None when the world has no next frame.
    defect: (H, W) uint16 defect id (Body.defects) of the nearest surface's body, where a
        defect is seen: its marks, its defect parts, and where removed geometry would be seen;
        0 elsewhere. Hidden wherever something else is in front. Same sampling as `instance`.
    """

    radiance: np.ndarray
    depth_m: np.ndarray
    instance: np.ndarray
    semantic: np.ndarray
    normals: np.ndarray
    unoccluded_pixels: dict[int, int]
    flow: np.ndarray | None = None
    defect: np.ndarray | None = None


class Engine(abc.ABC):
    """Renders a world from one camera. Engines own their GPU state; close() releases it."""

    name: str = "engine"

    @abc.abstractmethod
    def render(self, world: World, camera: Camera) -> Passes:
        """All passes of `world` seen by `camera`."""

    def close(self) -> None:  # noqa: B027 - engines without resources need not override it
        """Release whatever the engine holds."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
