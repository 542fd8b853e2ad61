"""The concrete state of one shot: what every engine renders and every label is computed from.

All arrays are numpy. Positions are metres in the world frame (right-handed, Z up) unless a name
says otherwise. Colours are linear RGB in 0-1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np


@dataclass(frozen=True, eq=False)
class Mesh:
    """A triangle mesh in its own object frame, ready to upload.

    vertices: (N, 3) float32, metres. faces: (M, 3) uint32. normals: (N, 3) float32, unit.
    uv: (N, 2) float32 texture coordinates in 0-1 (v up, OpenGL style); zeros when unmapped.
    key: identity of the content; engines cache GPU buffers under it, so equal keys must mean
    equal arrays.
    """

    vertices: np.ndarray
    faces: np.ndarray
    normals: np.ndarray
    uv: np.ndarray
    key: str

    @cached_property
    def bounds(self) -> np.ndarray:
        """(2, 3) float64: min and max corner in the object frame."""
        v = self.vertices.astype(np.float64)
        return np.stack([v.min(axis=0), v.max(axis=0)])


@dataclass(frozen=True, eq=False)
class Material:
    """PBR metallic-roughness material; `texture` multiplies `base_color` when present.

    texture: (H, W, 3) uint8 sRGB image, row 0 at the top, addressed by the mesh's uv.
    texture_key: identity of the texture content, for engine caching.
    """

    base_color: tuple[float, float, float] = (0.8, 0.8, 0.8)
    metallic: float = 0.0
    roughness: float = 0.5
    texture: np.ndarray | None = None
    texture_key: str | None = None


@dataclass(frozen=True, eq=False)
class Part:
    """One mesh with one material; a product is one or more parts sharing a pose.

    name: the product's material slot (body, cap, label, ...); empty for meshes from files.
    defect_id: when not 0, every pixel of this part belongs to that defect (a dented patch,
    a misprinted label, a foreign object).
    surface: parts of one body with the same surface name anti-alias as one surface; defects
    give the pieces of a part they cut, and what they add onto it, the name of that part, so
    a defect too small for any pixel centre changes no pixel. None: a surface of its own.
    """

    mesh: Mesh
    material: Material
    name: str = ""
    defect_id: int = 0
    surface: str | None = None


MarkKind = Literal["stain", "scratch", "crack", "dent", "hole"]
MARK_KINDS: tuple[MarkKind, ...] = ("stain", "scratch", "crack", "dent", "hole")


@dataclass(frozen=True)
class Mark:
    """A surface defect drawn by the engine: a capsule in the object frame (a sphere when
    p0 == p1). Surface points within `radius` of the segment p0-p1 take the mark.

    stain, scratch, crack: the albedo blends towards `color` (linear RGB) by `opacity`,
    fading to the rim for stains; scratches and cracks also tilt the normal as a groove of
    relative `depth` (0: flat) and set the roughness to `roughness`.
    dent: the surface within `radius` of p0 is pushed in along -n, where p1 = p0 + n (the unit
    normal at p0), by `depth` metres at the centre, falling smoothly to 0 at the rim: normals
    and the depth pass follow, the silhouette does not.
    hole: the surface within `radius` of p0 is cut away, on every part of the body.
    """

    kind: MarkKind
    defect_id: int
    p0: tuple[float, float, float]
    p1: tuple[float, float, float]
    radius: float
    color: tuple[float, float, float]
    opacity: float
    roughness: float
    depth: float = 0.0


@dataclass(frozen=True)
class Ghost:
    """Geometry a defect removed, as it was: drawn into the defect pass only, where it would
    be seen, so the pass covers the pixels the removal changed. clip: (x, y, z, radius) in the
    object frame: only the part of the mesh inside that sphere (a hole); None: all of it."""

    mesh: Mesh
    defect_id: int
    clip: tuple[float, float, float, float] | None = None


@dataclass(frozen=True)
class Defect:
    """What is wrong with a body: `defect_id` is unique within the body (1, 2, ...);
    `kind` is the generator, `name` the scene's name for it (the label category)."""

    defect_id: int
    name: str
    kind: str
    severity: float
    params: dict = field(default_factory=dict)


@dataclass(eq=False)
class Body:
    """Something drawn: a labelled product (instance_id >= 1) or scenery (instance_id 0).

    object_to_world: (4, 4) float64 rigid transform (scale is baked into the mesh).
    """

    parts: tuple[Part, ...]
    object_to_world: np.ndarray
    instance_id: int = 0
    class_id: int = 0
    class_name: str = "background"
    cast_shadows: bool = True
    name: str = ""
    # Motion, for sequences: velocities of the object's origin in the world frame (m/s, rad/s)
    # and its pose at the next frame of the sequence (None for stills and last frames).
    velocity: tuple[float, float, float] = (0.0, 0.0, 0.0)
    angular_velocity: tuple[float, float, float] = (0.0, 0.0, 0.0)
    next_object_to_world: np.ndarray | None = None
    # Defects: what they are, the marks the engine paints, the ghosts of removed geometry, and
    # the parts as they were before any defect, which cast the shadows (so a defect changes no
    # pixel outside its own mask).
    defects: tuple[Defect, ...] = ()
    marks: tuple[Mark, ...] = ()
    ghosts: tuple[Ghost, ...] = ()
    clean_parts: tuple[Part, ...] | None = None

    @property
    def shadow_parts(self) -> tuple[Part, ...]:
        """The parts that cast this body's shadows: the clean ones when it has defects."""
        return self.clean_parts if self.clean_parts is not None else self.parts

    @cached_property
    def bounds(self) -> np.ndarray:
        """(2, 3) float64: the object-frame box around all parts (parts never change)."""
        parts = self.parts or self.shadow_parts  # a missing product: where it should be
        b = np.stack([p.mesh.bounds for p in parts])
        return np.stack([b[:, 0].min(axis=0), b[:, 1].max(axis=0)])

    def corners(self) -> np.ndarray:
        """(8, 3) float64: corners of `bounds` in the object frame, x fastest."""
        from groundforge.world.geometry import box_corners

        return box_corners(*self.bounds)


LightKind = Literal["directional", "point", "spot", "area", "ambient"]


@dataclass(frozen=True, eq=False)
class Light:
    """A light source.

    color: linear RGB from the colour temperature or the given colour; intensity scales it.
    directional: `direction` is where the light travels (unit, world); intensity is irradiance.
    point / spot / area: `position` in world; intensity is radiant intensity (falls off as 1/d^2).
    spot / area: emit around `direction`; spot within `cone_outer` radians, fading from
    `cone_inner`; area is a one-sided rectangle of `size` (w, h) metres facing `direction`,
    approximated as a cosine emitter whose shadows soften with its size.
    ambient: a hemisphere light, `color` from above and `ground_color` from below.
    """

    kind: LightKind
    color: tuple[float, float, float] = (1.0, 1.0, 1.0)
    intensity: float = 1.0
    position: tuple[float, float, float] = (0.0, 0.0, 3.0)
    direction: tuple[float, float, float] = (0.0, 0.0, -1.0)
    cone_inner: float = 0.4
    cone_outer: float = 0.6
    size: tuple[float, float] = (0.0, 0.0)
    ground_color: tuple[float, float, float] = (0.0, 0.0, 0.0)
    cast_shadows: bool = True


@dataclass(frozen=True)
class Sensor:
    """Concrete camera-sensor settings for one image (already sampled).

    exposure_ev: stops added to the linear radiance before tone mapping.
    white_balance: per-channel gains applied in linear RGB.
    shot_noise: signal-dependent noise; variance = shot_noise * value (linear units).
    read_noise: signal-independent noise standard deviation (linear units).
    blur_sigma_px: Gaussian optical blur.
    vignetting: relative fall-off at the image corner (0 = none).
    jpeg_quality: when set, the image goes through a JPEG round trip at that quality.
    """

    exposure_ev: float = 0.0
    white_balance: tuple[float, float, float] = (1.0, 1.0, 1.0)
    shot_noise: float = 0.0
    read_noise: float = 0.0
    blur_sigma_px: float = 0.0
    vignetting: float = 0.0
    jpeg_quality: int | None = None


@dataclass(frozen=True, eq=False)
class Camera:
    """A pinhole camera in the OpenCV convention (x right, y down, z forward).

    K: (3, 3) float64 intrinsics in pixels. world_to_camera: (4, 4) float64.
    A point X_cam projects to (u, v) = (K @ X_cam)[:2] / z in continuous pixel coordinates,
    where the top-left pixel spans [0, 1) x [0, 1) and its centre is (0.5, 0.5).
    """

    name: str
    width: int
    height: int
    K: np.ndarray
    world_to_camera: np.ndarray
    near: float = 0.05
    far: float = 30.0
    msaa: int = 4
    sensor: Sensor = field(default_factory=Sensor)
    # The camera's pose at the next frame of a sequence, for optical flow; None for stills.
    next_world_to_camera: np.ndarray | None = None
    # Exposure time, seconds: the colour image integrates motion from the frame's timestamp on.
    shutter_s: float = 0.0


@dataclass(eq=False)
class World:
    """Everything in one shot, seen by every camera of the rig."""

    shot: int
    timestamp: float
    bodies: list[Body]
    lights: list[Light]
    cameras: list[Camera]
    background_color: tuple[float, float, float] = (0.0, 0.0, 0.0)
    # Sequences: which one this shot belongs to and its frame within it; None for stills.
    sequence: int | None = None
    frame: int | None = None
    # Whether the scene declares defects: its images are then labelled normal or anomaly.
    defect_labels: bool = False

    @property
    def objects(self) -> list[Body]:
        """The labelled bodies (instance_id >= 1)."""
        return [b for b in self.bodies if b.instance_id > 0]
