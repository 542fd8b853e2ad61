"""The scene-file schema. Every model here is immutable; randomizable values are distributions.

Field descriptions are the scene-file reference: `groundforge schema` and docs/scene-reference.md
are generated from them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from groundforge.spec.fields import SRGB, Color, Integer, Name, Real, Strict, Vec3


def _no_repeats(values: list[str], what: str) -> None:
    seen = set()
    for v in values:
        if v in seen:
            raise PydanticCustomError(
                "duplicate",
                "{what} '{value}' appears twice; names must be unique",
                {"what": what, "value": v},
            )
        seen.add(v)


def _existing_file(value: str | None, info: ValidationInfo) -> str | None:
    if value is None:
        return None
    base = Path((info.context or {}).get("base_dir", "."))
    path = Path(value) if Path(value).is_absolute() else base / value
    if not path.is_file():
        raise PydanticCustomError(
            "missing_file",
            "file {path} does not exist; give a path relative to the scene file",
            {"path": str(path)},
        )
    return str(path.resolve())


# ---------------------------------------------------------------------------------------------
# Materials and textures


class TextureSpec(Strict):
    """A procedural texture, generated once per material and reused."""

    kind: Literal["noise", "stripes", "checker", "label", "image"] = Field(
        description="noise: fractal noise between two colours; stripes; checker; label: a "
        "printed label with text, optional logo and barcode; image: a picture file"
    )
    size: Annotated[int, Field(ge=8, le=4096)] = Field(256, description="texture side, pixels")
    color_a: SRGB = Field((0.9, 0.9, 0.9), description="first colour (label: background)")
    color_b: SRGB = Field((0.1, 0.1, 0.1), description="second colour (label: text)")
    scale: Annotated[float, Field(gt=0)] = Field(
        8.0, description="noise: features across the texture; stripes/checker: repeats across it"
    )
    angle_deg: float = Field(0.0, description="stripes: angle of the stripes")
    text: str = Field("", description="label: the printed text")
    barcode: bool = Field(False, description="label: print a barcode under the text")
    logo: str | None = Field(None, description="label: picture file pasted on the label")
    path: str | None = Field(None, description="image: picture file (PNG, JPEG)")

    @model_validator(mode="after")
    def _needs_path(self):
        if self.kind == "image" and not self.path:
            raise PydanticCustomError("missing_path", "kind 'image' needs a path to a picture")
        return self

    @field_validator("logo", "path")
    @classmethod
    def _file_exists(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _existing_file(value, info)


class MaterialSpec(Strict):
    """A PBR metallic-roughness material; the texture multiplies the base colour."""

    base_color: Color = Field((0.8, 0.8, 0.8), description="sRGB colour, or a distribution")
    roughness: Real(ge=0, le=1) = Field(0.5, description="0 mirror-like, 1 fully diffuse")
    metallic: Real(ge=0, le=1) = Field(0.0, description="0 dielectric, 1 metal")
    texture: TextureSpec | None = Field(None, description="optional procedural texture")


MaterialRef = Annotated[
    str | MaterialSpec, Field(description="the name of a material under `materials`, or one inline")
]

# ---------------------------------------------------------------------------------------------
# Assets


class AssetSpec(Strict):
    """A product: a built-in parametric shape or a mesh file, bound to one class."""

    class_name: str = Field(alias="class", description="the class this product is labelled as")
    product: str | None = Field(
        None, description="built-in parametric shape: bottle, can, box, jar, pouch, gear, bracket"
    )
    params: dict[str, Real(ge=0)] = Field(
        default_factory=dict,
        description="dimensions of the built-in shape, metres (each fixed or a distribution); "
        "0 turns an optional feature (a label, a hole) off",
    )
    mesh: str | None = Field(
        None, description="mesh file (OBJ, GLB, GLTF, STL, PLY), relative to the scene file"
    )
    scale: Real(gt=0) = Field(1.0, description="uniform scale; 0.001 turns millimetres to metres")
    density: Annotated[float, Field(gt=0, le=25000)] = Field(
        400.0,
        description="physics: mass per volume of the product's convex hull, kg/m^3 (packaged "
        "goods with air inside weigh a few hundred)",
    )
    materials: dict[str, MaterialRef] = Field(
        default_factory=dict,
        description="material per part slot (built-in shapes: e.g. body, cap, label); for a mesh "
        "file the slot `all` replaces the file's own materials",
    )

    @model_validator(mode="after")
    def _one_source(self):
        if (self.product is None) == (self.mesh is None):
            raise PydanticCustomError(
                "asset_source",
                "give exactly one of `product` (a built-in shape) or `mesh` (a file)",
            )
        if self.mesh is not None and self.params:
            raise PydanticCustomError("asset_params", "`params` applies to built-in shapes only")
        return self

    @field_validator("mesh")
    @classmethod
    def _mesh_exists(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _existing_file(value, info)


# ---------------------------------------------------------------------------------------------
# Environment


class FloorSpec(Strict):
    size: tuple[Annotated[float, Field(gt=0)], Annotated[float, Field(gt=0)]] = Field(
        (10.0, 10.0), description="extent along x and y, metres"
    )
    material: MaterialRef = MaterialSpec(base_color=(0.35, 0.35, 0.36), roughness=0.9)


class WallsSpec(Strict):
    """A backdrop: walls on the four sides of the floor."""

    height: Real(gt=0) = Field(3.0, description="metres")
    distance: Real(gt=0) = Field(4.0, description="distance from the origin to each wall, metres")
    material: MaterialRef = MaterialSpec(base_color=(0.75, 0.75, 0.72), roughness=0.95)


class SpeedSegment(Strict):
    """From `at_s` seconds into a sequence on, the belt runs at `speed_mps`."""

    at_s: Annotated[float, Field(ge=0)] = Field(description="seconds from the sequence start")
    speed_mps: Real(ge=0) = Field(description="belt speed from then on, m/s")


class GuideSpec(Strict):
    """A side guide: a thin wall standing on the belt from `start` to `end`, which products
    slide along (angled guides funnel them into a lane)."""

    start: tuple[float, float] = Field(description="[x, y] in the belt's frame, metres")
    end: tuple[float, float] = Field(description="[x, y] in the belt's frame, metres")
    height: Annotated[float, Field(gt=0)] = Field(0.06, description="above the belt, metres")
    thickness: Annotated[float, Field(gt=0)] = Field(0.01, description="metres")
    material: MaterialRef = MaterialSpec(base_color=(0.85, 0.55, 0.1), roughness=0.5)

    @model_validator(mode="after")
    def _has_length(self):
        if self.start == self.end:
            raise PydanticCustomError("guide_length", "`start` and `end` must differ")
        return self


class PusherSpec(Strict):
    """A pusher: a paddle beside the belt that sweeps across it at the given times and pushes
    what is in front of it off the far side, through a gap in the rail there."""

    x: float = Field(description="position along the belt, in the belt's frame, metres")
    side: Literal["+y", "-y"] = Field("-y", description="the side it stands on; it pushes across")
    times_s: Annotated[list[Annotated[float, Field(ge=0)]], Field(min_length=1)] = Field(
        description="seconds into the sequence at which it fires"
    )
    stroke_s: Annotated[float, Field(gt=0)] = Field(
        0.6, description="time of one stroke, out and back"
    )
    width: Annotated[float, Field(gt=0)] = Field(0.12, description="along the belt, metres")
    height: Annotated[float, Field(gt=0)] = Field(0.06, description="metres")
    thickness: Annotated[float, Field(gt=0)] = Field(0.02, description="metres")
    material: MaterialRef = MaterialSpec(base_color=(0.8, 0.1, 0.1), roughness=0.5)


class BeltSpec(Strict):
    """A conveyor belt along the x axis, centred on the origin, its top surface at `height`."""

    length: Real(gt=0) = Field(3.0, description="metres")
    width: Real(gt=0) = Field(0.6, description="metres")
    height: Real(gt=0) = Field(0.8, description="top surface above the floor, metres")
    rails: bool = Field(True, description="side rails along both edges")
    rail_height: Real(ge=0) = Field(0.05, description="rail top above the belt, metres")
    frame: bool = Field(True, description="legs and side frame under the belt")
    yaw_deg: Real() = Field(0.0, description="rotation of the whole belt about the vertical")
    speed_mps: Real(ge=0) = Field(
        0.0, description="sequences: belt speed, m/s, drawn once per sequence"
    )
    direction: Literal["+x", "-x"] = Field(
        "+x", description="sequences: the way the belt carries products, along its own x axis"
    )
    guides: list[GuideSpec] = Field(
        default_factory=list, description="side guides standing on the belt"
    )
    pushers: list[PusherSpec] = Field(
        default_factory=list, description="sequences: pushers that sweep products off the belt"
    )
    profile: list[SpeedSegment] | None = Field(
        None,
        description="sequences: speed over time as segments from `at_s` on (run, stop, "
        "restart); replaces speed_mps",
    )
    belt_material: MaterialRef = MaterialSpec(
        base_color=(0.12, 0.12, 0.12),
        roughness=0.85,
        texture=TextureSpec(kind="noise", color_a=(0.16, 0.16, 0.16), color_b=(0.08, 0.08, 0.08)),
    )
    rail_material: MaterialRef = MaterialSpec(
        base_color=(0.75, 0.76, 0.78), metallic=1.0, roughness=0.35
    )
    frame_material: MaterialRef = MaterialSpec(base_color=(0.2, 0.35, 0.55), roughness=0.6)

    @field_validator("profile")
    @classmethod
    def _increasing(cls, value: list[SpeedSegment] | None) -> list[SpeedSegment] | None:
        starts = [segment.at_s for segment in value or []]
        if any(b <= a for a, b in zip(starts, starts[1:], strict=False)):
            raise PydanticCustomError(
                "profile_order", "segments must start at increasing `at_s`, each once"
            )
        return value


class BinSpec(Strict):
    """An open box (a bin or a tray) standing on the floor; products of a group with
    `surface: bin` are dropped into it and physics lets them settle into a pile."""

    position: tuple[float, float] = Field((0.0, 0.0), description="[x, y] of its centre, metres")
    yaw_deg: Real() = Field(0.0, description="rotation about the vertical, drawn per shot")
    size: tuple[
        Annotated[float, Field(gt=0)], Annotated[float, Field(gt=0)], Annotated[float, Field(gt=0)]
    ] = Field((0.6, 0.4, 0.25), description="outer length, width and height, metres")
    wall: Annotated[float, Field(gt=0)] = Field(0.01, description="wall thickness, metres")
    settle_s: Annotated[float, Field(gt=0, le=30)] = Field(
        2.0, description="physics time the dropped products are given to come to rest"
    )
    material: MaterialRef = MaterialSpec(base_color=(0.12, 0.28, 0.55), roughness=0.6)

    @model_validator(mode="after")
    def _walls_fit(self):
        if 2 * self.wall >= min(self.size[0], self.size[1]) or self.wall >= self.size[2]:
            raise PydanticCustomError("bin_wall", "`wall` leaves no room inside the bin")
        return self


class EnvironmentSpec(Strict):
    background_color: SRGB = Field((0.05, 0.05, 0.05), description="seen where nothing is")
    floor: FloorSpec | None = FloorSpec()
    walls: WallsSpec | None = None
    belt: BeltSpec | None = None
    bins: list[BinSpec] = Field(default_factory=list, description="bins and trays on the floor")


# ---------------------------------------------------------------------------------------------
# Placement


class SpawnSpec(Strict):
    """Products arriving at the start of the belt, one after another, during a sequence."""

    interval_s: Real(gt=0) = Field(0.5, description="time between arrivals, drawn per arrival")
    start_s: Real(ge=0) = Field(0.0, description="time of the first arrival")
    lanes: list[float] | None = Field(
        None, description="y positions on the belt, metres; none: anywhere across the width"
    )
    lane_jitter_m: Annotated[float, Field(ge=0)] = Field(
        0.0, description="standard deviation around the lane, metres"
    )
    drop_height_m: Real(ge=0) = Field(
        0.01, description="height of the product's lowest point above the belt at release"
    )
    tilt_deg: Real(ge=0, le=180) = Field(
        0.0, description="tilt at release about a random horizontal axis, degrees"
    )


class ObjectGroupSpec(Strict):
    """A group of products placed in every shot."""

    asset: Name = Field(description="asset name, or a weighted choice among asset names")
    count: Integer(ge=0) = Field(1, description="how many per shot")
    surface: Literal["belt", "floor", "bin"] = Field(
        "belt", description="the surface they stand on, or a bin they are dropped into"
    )
    bin: Annotated[int, Field(ge=0)] = Field(
        0, description="with `surface: bin`, which of `environment.bins` (from 0)"
    )
    region: tuple[float, float, float, float] | None = Field(
        None,
        description="[x_min, x_max, y_min, y_max] on the surface, metres, in the belt's frame "
        "(x along the belt) or the world's; default: the whole belt, or 2 x 2 m of floor",
    )
    pose: Literal["upright", "lying", "any"] = Field(
        "upright", description="upright, lying on its side, or either (equal odds)"
    )
    yaw_deg: Real() = Field(
        {"dist": "uniform", "min": 0, "max": 360}, description="rotation about the vertical"
    )
    gap: Annotated[float, Field(ge=0)] = Field(
        0.005, description="smallest clearance between footprints, metres"
    )
    max_tries: Annotated[int, Field(ge=1)] = Field(
        200, description="placement attempts per product before it is left out of the shot"
    )
    spawn: SpawnSpec | None = Field(
        None,
        description="sequences: products of this group arrive over time at the belt's start "
        "instead of being placed at the first frame; `count` caps how many arrive",
    )


# ---------------------------------------------------------------------------------------------
# Lights


class LightSpec(Strict):
    type: Literal["directional", "point", "spot", "area", "ambient"]
    intensity: Real(ge=0) = Field(
        1.0,
        description="irradiance (directional, ambient) or "
        "radiant intensity (point, spot, area); W/m^2 or W/sr",
    )
    color: Color | None = Field(None, description="sRGB colour; overrides temperature_k")
    temperature_k: Real(ge=1000, le=40000) = Field(5500.0, description="colour temperature")
    ground_color: SRGB = Field((0.25, 0.25, 0.25), description="ambient: colour from below")
    direction: Vec3() | None = Field(
        None, description="where the light travels (directional), or use azimuth/elevation"
    )
    azimuth_deg: Real() = Field(0.0, description="directional: compass angle the light comes from")
    elevation_deg: Real(ge=-90, le=90) = Field(60.0, description="directional: angle above horizon")
    position: Vec3() | None = Field(None, description="point, spot, area: metres")
    look_at: Vec3() = Field((0.0, 0.0, 0.8), description="spot, area: where it points")
    cone_deg: Real(gt=0, le=180) = Field(60.0, description="spot: full cone angle")
    softness: Real(ge=0, le=1) = Field(0.2, description="spot: share of the cone that fades")
    size: tuple[Real(gt=0), Real(gt=0)] = Field(
        (0.5, 0.5), description="area: rectangle width and height, metres"
    )
    shadows: bool = Field(True, description="cast shadows (not for ambient)")

    @model_validator(mode="after")
    def _positioned(self):
        if self.type in ("point", "spot", "area") and self.position is None:
            raise PydanticCustomError(
                "missing_position", "a {kind} light needs `position` [x, y, z]", {"kind": self.type}
            )
        return self


# ---------------------------------------------------------------------------------------------
# Cameras


class JitterSpec(Strict):
    position_m: Annotated[float, Field(ge=0)] = Field(
        0.0, description="standard deviation of the position, per axis, metres"
    )
    rotation_deg: Annotated[float, Field(ge=0)] = Field(
        0.0, description="standard deviation of the rotation angle about a random axis"
    )


class SensorSpec(Strict):
    """The camera's sensor and optics, applied to the rendered light."""

    exposure_ev: Real() = Field(0.0, description="stops of exposure added")
    white_balance_k: Real(ge=1000, le=40000) | None = Field(
        None, description="the colour temperature the camera balances for; none keeps neutral"
    )
    shot_noise: Real(ge=0) = Field(0.002, description="signal-dependent noise (variance per unit)")
    read_noise: Real(ge=0) = Field(0.004, description="signal-independent noise (std, linear)")
    blur_sigma_px: Real(ge=0) = Field(0.5, description="optical blur, Gaussian sigma, pixels")
    vignetting: Real(ge=0, le=1) = Field(0.15, description="fall-off at the image corners")
    jpeg_quality: Integer(ge=1, le=100) | None = Field(
        90, description="JPEG round trip quality, as the camera's compression; none skips it"
    )


class CameraSpec(Strict):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+$")] = Field(
        description="letters, digits, '-' and '_'; names the image folders"
    )
    resolution: tuple[Annotated[int, Field(ge=16, le=8192)], Annotated[int, Field(ge=16, le=8192)]]
    fov_deg: Real(gt=1, le=170) | None = Field(None, description="horizontal field of view")
    focal_length_mm: Real(gt=0) | None = Field(None, description="with sensor_width_mm")
    sensor_width_mm: Real(gt=0) = Field(6.4, description="sensor width, mm")
    position: Vec3() = Field(description="metres, world frame")
    look_at: Vec3() = Field((0.0, 0.0, 0.8), description="the point at the image centre")
    up: tuple[float, float, float] = Field((0.0, 0.0, 1.0), description="world up for the view")
    jitter: JitterSpec = JitterSpec()
    sensor: SensorSpec = SensorSpec()
    msaa: Literal[1, 2, 4, 8] = Field(4, description="multisampling of the colour image")
    frame_divisor: Annotated[int, Field(ge=1)] = Field(
        1, description="sequences: the camera renders every n-th frame"
    )
    shutter_s: Real(ge=0) = Field(
        0.0,
        description="sequences: exposure time; what moves while the shutter is open blurs in "
        "the colour image (labels stay sharp at the frame's timestamp); at most a frame",
    )
    near: Annotated[float, Field(gt=0)] = Field(0.05, description="nearest rendered depth, m")
    far: Annotated[float, Field(gt=0)] = Field(30.0, description="farthest rendered depth, m")

    @model_validator(mode="after")
    def _one_lens(self):
        if (self.fov_deg is None) == (self.focal_length_mm is None):
            raise PydanticCustomError(
                "camera_lens", "give exactly one of `fov_deg` or `focal_length_mm`"
            )
        if self.far <= self.near:
            raise PydanticCustomError("camera_clip", "`far` must be greater than `near`")
        return self


# ---------------------------------------------------------------------------------------------
# Output and the scene


class SequenceSpec(Strict):
    """Time: a scene with a sequence renders runs of frames that physics links together."""

    fps: Annotated[float, Field(gt=0, le=1000)] = Field(10.0, description="frames per second")
    frames: Annotated[int, Field(ge=1)] | None = Field(None, description="frames per sequence")
    duration_s: Annotated[float, Field(gt=0)] | None = Field(
        None, description="or the length of a sequence, seconds"
    )

    @model_validator(mode="after")
    def _one_length(self):
        if (self.frames is None) == (self.duration_s is None):
            raise PydanticCustomError(
                "sequence_length", "give exactly one of `frames` or `duration_s`"
            )
        return self

    @property
    def frame_count(self) -> int:
        """Frames per sequence."""
        return self.frames if self.frames is not None else max(1, round(self.duration_s * self.fps))


class OutputSpec(Strict):
    image_format: Literal["png", "jpg"] = Field("png", description="format of the RGB images")
    jpeg_quality: Annotated[int, Field(ge=1, le=100)] = Field(95, description="when jpg")
    yolo: bool = Field(False, description="also write YOLO label files and data.yaml")


# ---------------------------------------------------------------------------------------------
# Defects and faulty placement

SurfaceDefect = Literal[
    "scratch", "crack", "stain", "dent", "hole", "missing_part", "misprint", "contamination"
]
PlacementFault = Literal["tipped", "rotated", "off_centre", "doubled", "missing"]
DefectKind = Literal[SurfaceDefect, PlacementFault]
SURFACE_DEFECTS: tuple[str, ...] = get_args(SurfaceDefect)
PLACEMENT_FAULTS: tuple[str, ...] = get_args(PlacementFault)


class DefectTypeSpec(Strict):
    """One kind of defect a class may have. Written as a bare number, that number is `rate`
    and the entry's name is the kind."""

    rate: Annotated[float, Field(ge=0)] = Field(
        description="with a class `quota`: this type's share of the defective products "
        "(shares are normalised); without: the probability (at most 1) that a product has it"
    )
    kind: DefectKind | None = Field(
        None,
        description="generator: scratch, crack, stain, dent, hole (chip), missing_part, "
        "misprint, contamination; placement faults tipped, rotated (out of tolerance), "
        "off_centre, doubled (two products touching or stacked), missing (left out of its "
        "place: labelled where it should be, with no pixels; stills only). Default: the "
        "entry's name",
    )
    severity: Real(ge=0, le=1) = Field(
        {"dist": "uniform", "min": 0.3, "max": 1.0},
        description="0-1; scales size, depth and contrast",
    )
    size_m: Real(gt=0) | None = Field(
        None,
        description="length of a scratch or crack; radius of a stain, dent, hole or foreign "
        "object. Default: from the product's size and the severity",
    )
    part: str | None = Field(
        None,
        description="the product part (material slot) to change: missing_part's part "
        "(default: cap, lid or label, whichever it has), misprint's printed part (label)",
    )
    mode: Literal["shift", "rotate", "smear", "missing"] | None = Field(
        None, description="misprint: how the print is wrong (default: drawn per product)"
    )
    color: Color | None = Field(None, description="stain, scratch, crack, contamination colour")
    facing_camera: bool = Field(
        True,
        description="put surface defects on the side facing the first camera (its nominal "
        "position), where inspection sees them; false: anywhere on the surface",
    )
    angle_deg: Real() | None = Field(
        None,
        description="rotated: yaw error, degrees (default 20-90 either way); tipped: tilt "
        "(default 90)",
    )
    offset_m: Real() | None = Field(
        None, description="off_centre: sideways shift across the belt, metres (default 3-8 cm)"
    )

    @model_validator(mode="before")
    @classmethod
    def _bare_rate(cls, value):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return {"rate": value}
        return value


class ClassDefectsSpec(Strict):
    """Which defects products of one class may have, and how often."""

    quota: Annotated[float, Field(ge=0, le=1)] | None = Field(
        None,
        description="exact share of this class's products in a batch that are defective, "
        "split between `types` by their rates (largest remainder); omit to draw each "
        "type independently per product with its rate as probability",
    )
    types: Annotated[dict[str, DefectTypeSpec], Field(min_length=1)] = Field(
        description="defect name (the label) -> its rate, or a full description"
    )

    @field_validator("types")
    @classmethod
    def _kinds(cls, value: dict[str, DefectTypeSpec]) -> dict[str, DefectTypeSpec]:
        for name, spec in value.items():
            kind = spec.kind or name
            if kind not in SURFACE_DEFECTS + PLACEMENT_FAULTS:
                raise PydanticCustomError(
                    "defect_kind",
                    "defect '{name}' has no `kind` and is not a kind itself; give `kind`, one "
                    "of: {kinds}",
                    {"name": name, "kinds": ", ".join(SURFACE_DEFECTS + PLACEMENT_FAULTS)},
                )
        return value

    @model_validator(mode="after")
    def _shares(self):
        if self.quota is None:
            for name, spec in self.types.items():
                if spec.rate > 1:
                    raise PydanticCustomError(
                        "defect_probability",
                        "defect '{name}' has rate {rate}, but without a `quota` a rate is a "
                        "probability: give at most 1, or set the class's `quota`",
                        {"name": name, "rate": spec.rate},
                    )
        if self.quota is not None and sum(s.rate for s in self.types.values()) <= 0:
            raise PydanticCustomError(
                "defect_shares", "with a quota, at least one type needs a rate above 0", {}
            )
        return self

    def kind_of(self, name: str) -> str:
        return self.types[name].kind or name


class Scene(Strict):
    """A scene file: what exists, how it may vary, and how it is seen."""

    name: Annotated[str, Field(min_length=1)] = Field(description="dataset name")
    seed: Annotated[int, Field(ge=0)] = Field(0, description="default batch seed")
    classes: Annotated[list[str], Field(min_length=1)] = Field(
        description="class names; ids are their positions from 1"
    )
    materials: dict[str, MaterialSpec] = Field(
        default_factory=dict, description="named materials that assets and scenery refer to"
    )
    assets: Annotated[dict[str, AssetSpec], Field(min_length=1)]
    environment: EnvironmentSpec = EnvironmentSpec()
    objects: Annotated[list[ObjectGroupSpec], Field(min_length=1)]
    lights: Annotated[list[LightSpec], Field(min_length=1)]
    cameras: Annotated[list[CameraSpec], Field(min_length=1)]
    sequence: SequenceSpec | None = Field(
        None, description="make video: runs of frames with a moving belt and physics"
    )
    defects: dict[str, ClassDefectsSpec] = Field(
        default_factory=dict,
        description="class name -> the defects and faulty placements its products may have",
    )
    output: OutputSpec = OutputSpec()

    @field_validator("classes")
    @classmethod
    def _unique_classes(cls, value: list[str]) -> list[str]:
        _no_repeats(value, "class")
        return value

    @field_validator("cameras")
    @classmethod
    def _unique_cameras(cls, value: list[CameraSpec]) -> list[CameraSpec]:
        _no_repeats([c.name for c in value], "camera name")
        return value

    @model_validator(mode="after")
    def _references(self):
        problems: list[tuple[tuple, str]] = []
        for name, asset in self.assets.items():
            if asset.class_name not in self.classes:
                problems.append(
                    (
                        ("assets", name, "class"),
                        f"class {asset.class_name!r} is not in `classes` "
                        f"({', '.join(self.classes)})",
                    )
                )
            for slot, ref in asset.materials.items():
                if isinstance(ref, str) and ref not in self.materials:
                    problems.append(
                        (
                            ("assets", name, "materials", slot),
                            f"material {ref!r} is not defined under `materials`",
                        )
                    )
        for i, group in enumerate(self.objects):
            for asset in group.asset.names():
                if asset not in self.assets:
                    problems.append(
                        (
                            ("objects", i, "asset"),
                            f"asset {asset!r} is not defined; defined: {', '.join(self.assets)}",
                        )
                    )
            if group.spawn is not None and (self.sequence is None or group.surface != "belt"):
                problems.append(
                    (
                        ("objects", i, "spawn"),
                        "products arrive over time only on a belt in a scene with a `sequence`",
                    )
                )
            if group.surface == "bin" and group.bin >= len(self.environment.bins):
                problems.append(
                    (
                        ("objects", i, "bin"),
                        f"bin {group.bin} is not defined; `environment.bins` has "
                        f"{len(self.environment.bins)}",
                    )
                )
            if group.surface == "bin" and self.sequence is not None:
                problems.append(
                    (("objects", i, "surface"), "bins are filled for stills only, not sequences")
                )
            if group.surface == "bin" and group.spawn is not None:
                problems.append((("objects", i, "spawn"), "products in a bin do not arrive"))
            if group.surface == "belt" and self.environment.belt is None:
                problems.append(
                    (
                        ("objects", i, "surface"),
                        "objects are placed on the belt but `environment.belt` is not given",
                    )
                )
        for name, spec in self.defects.items():
            for type_name in spec.types:
                if self.sequence is not None and spec.kind_of(type_name) == "missing":
                    problems.append(
                        (
                            ("defects", name, "types", type_name),
                            "`missing` products are for stills only, not sequences",
                        )
                    )
            if name not in self.classes:
                problems.append(
                    (
                        ("defects", name),
                        f"class {name!r} is not in `classes` ({', '.join(self.classes)})",
                    )
                )
        belt = self.environment.belt
        if belt is not None and belt.pushers and self.sequence is None:
            problems.append(
                (
                    ("environment", "belt", "pushers"),
                    "pushers move only in a scene with a `sequence`",
                )
            )
        for i, camera in enumerate(self.cameras):
            longest = camera.shutter_s.support()[1]
            if longest > 0 and (self.sequence is None or longest > 1.0 / self.sequence.fps):
                problems.append(
                    (
                        ("cameras", i, "shutter_s"),
                        "a shutter time needs a `sequence` and may be at most one frame "
                        "interval (1 / fps)",
                    )
                )
        if problems:
            raise ReferenceProblems(problems)
        return self

    def class_id(self, name: str) -> int:
        """The id of a class: its position in `classes`, from 1."""
        return self.classes.index(name) + 1

    def material(self, ref: str | MaterialSpec) -> MaterialSpec:
        """The material a reference names."""
        return self.materials[ref] if isinstance(ref, str) else ref


class ReferenceProblems(ValueError):
    """Cross-references that point nowhere; each with its own field path."""

    def __init__(self, problems: list[tuple[tuple, str]]):
        self.problems = problems
        super().__init__("; ".join(m for _, m in problems))


def scene_json_schema() -> dict[str, Any]:
    """The JSON Schema of a scene file."""
    return Scene.model_json_schema(by_alias=True)
