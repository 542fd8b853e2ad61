"""From a validated scene to the concrete world of one shot.

`SceneSampler` prepares what does not change between shots (textures, mesh files, scenery
meshes) once per process; `SceneSampler.world(shot)` draws everything else from the seed tree.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial import ConvexHull
from scipy.spatial.transform import Rotation

from groundforge.assets import procedural, textures
from groundforge.assets.errors import AssetError
from groundforge.assets.loader import load_mesh_file
from groundforge.assets.meshes import content_key
from groundforge.defects import Wanted, apply_defects, placement
from groundforge.defects.plan import Plan, defect_names
from groundforge.defects.plan import options as defect_options
from groundforge.sampling.seeds import rng_for
from groundforge.spec.errors import Problem, SceneError
from groundforge.spec.load import LoadedScene, load_scene
from groundforge.spec.scene import (
    AssetSpec,
    CameraSpec,
    LightSpec,
    MaterialSpec,
    ObjectGroupSpec,
    Scene,
    TextureSpec,
)
from groundforge.world.geometry import (
    axis_angle,
    box_corners,
    intrinsics,
    look_at,
    rects_overlap,
    rigid,
    rotation_x,
    rotation_z,
)
from groundforge.world.physics import Spawn, SpeedProfile, simulate
from groundforge.world.scenery import Belt, guide_footprints, sample_belt, scenery
from groundforge.world.state import Body, Camera, Light, Material, Mesh, Part, Sensor, World

log = logging.getLogger(__name__)

FLOOR_REGION = (-1.0, 1.0, -1.0, 1.0)


def check_scene(loaded: LoadedScene) -> None:
    """Checks that need the asset library: product kinds, parameters, mesh files; SceneError."""
    scene = loaded.scene
    problems = []
    for name, asset in scene.assets.items():
        where = f"assets.{name}"
        if asset.product is not None:
            kind = procedural.PRODUCTS.get(asset.product)
            if kind is None:
                problems.append(
                    Problem(
                        f"{where}.product",
                        (
                            f"unknown built-in product {asset.product!r}; built-ins are: "
                            f"{', '.join(procedural.PRODUCTS)}"
                        ),
                    )
                )
                continue
            for param in asset.params:
                if param not in kind.params:
                    problems.append(
                        Problem(
                            f"{where}.params.{param}",
                            (
                                f"{asset.product} has no parameter {param!r}; its parameters are: "
                                f"{', '.join(kind.params)}"
                            ),
                        )
                    )
            slots = set(kind.slots)
        else:
            try:
                load_mesh_file(Path(asset.mesh))
            except AssetError as err:
                problems.append(Problem(f"{where}.mesh", str(err)))
            slots = {"all"}
        for slot in asset.materials:
            if slot not in slots:
                problems.append(
                    Problem(
                        f"{where}.materials.{slot}",
                        (f"no material slot {slot!r}; slots are: {', '.join(sorted(slots))}"),
                    )
                )
    problems += _defect_problems(scene)
    if problems:
        raise SceneError(loaded.source, problems)


def _defect_problems(scene: Scene) -> list[Problem]:
    """Defects a class's products cannot have: a part they lack, no print to misprint."""
    from groundforge.defects.generators import REMOVABLE_PARTS

    problems = []
    for class_name, spec in scene.defects.items():
        assets = {n: a for n, a in scene.assets.items() if a.class_name == class_name}
        for name, t in spec.types.items():
            kind = spec.kind_of(name)
            if kind not in ("missing_part", "misprint"):
                continue
            where = f"defects.{class_name}.types.{name}"
            for asset_name, asset in assets.items():
                if asset.product is None:
                    problems.append(
                        Problem(
                            where,
                            f"asset {asset_name!r} is a mesh file, whose parts have no names; "
                            f"{kind} needs a built-in product (with named parts)",
                        )
                    )
                    continue
                slots = procedural.PRODUCTS[asset.product].slots
                if kind == "missing_part":
                    part = t.part or next((p for p in REMOVABLE_PARTS if p in slots), None)
                    if part not in slots:
                        have = ", ".join(slots)
                        problems.append(
                            Problem(
                                where,
                                f"asset {asset_name!r} ({asset.product}) has no part "
                                f"{part or 'cap, lid or label'}; its parts are: {have}",
                            )
                        )
                    continue
                # As the generator chooses: the named part, else the label, else any print.
                printed = [slot for slot in slots if _printed(scene, asset, slot)]
                if t.part is not None and t.part not in printed or not printed:
                    part = t.part or "label"
                    problems.append(
                        Problem(
                            where,
                            f"asset {asset_name!r} has no printed part {part!r} to misprint: "
                            f"give its materials.{part} a texture (for example kind: label)",
                        )
                    )
    return problems


def _printed(scene: Scene, asset: AssetSpec, slot: str) -> bool:
    """Whether the asset's material in `slot` (its own, or the product's default) has a
    texture."""
    if slot in asset.materials:
        return scene.material(asset.materials[slot]).texture is not None
    return procedural.default_material(asset.product, slot).texture is not None


def _trial_builds(asset: AssetSpec, where: str) -> list[Problem]:
    """Build the product with every parameter at the low and at the high end of its range."""
    for end in (0, 1):
        params = {k: v.support()[end] for k, v in asset.params.items()}
        try:
            procedural.build_product(asset.product, params)
        except ValueError as err:
            which = "lowest" if end == 0 else "highest"
            return [Problem(f"{where}.params", f"with every parameter at its {which}: {err}")]
    return []


def open_scene(source: str | Path) -> LoadedScene:
    """Load a scene by built-in name or path and check it completely; raises SceneError."""
    loaded = load_scene(source)
    check_scene(loaded)
    return loaded


@dataclass(frozen=True)
class Placed:
    """A footprint already on a surface: its corners in the surface frame, metres."""

    corners: np.ndarray


class SceneSampler:
    """Draws the world of any shot of a scene; the same (seed, shot) gives the same world."""

    def __init__(self, scene: Scene, seed: int):
        self.scene = scene
        self.seed = seed
        # The batch's quota assignment (defects.plan); None: quota classes get no defects.
        self.defect_plan: Plan | None = None

    # -- materials ---------------------------------------------------------------------------

    def material(self, ref: MaterialSpec | str, rng: np.random.Generator, key: str) -> Material:
        """A concrete material; its texture is made once per `key` and reused."""
        spec = self.scene.material(ref)
        texture = self._texture(spec.texture, key) if spec.texture is not None else None
        return Material(
            base_color=_triple(textures.srgb_to_linear(np.asarray(spec.base_color.sample(rng)))),
            metallic=float(spec.metallic.sample(rng)),
            roughness=float(spec.roughness.sample(rng)),
            texture=texture,
            texture_key=content_key(texture) if texture is not None else None,
        )

    @functools.lru_cache(maxsize=64)  # noqa: B019 - one sampler per process, bounded
    def _texture(self, spec: TextureSpec, key: str) -> np.ndarray:
        return make_texture(spec, rng_for(self.seed, 0, f"texture/{key}"))

    # -- products ----------------------------------------------------------------------------

    def product_parts(self, name: str, rng: np.random.Generator) -> tuple[Part, ...]:
        """The parts of one instance of asset `name`, dimensions and materials drawn."""
        asset = self.scene.assets[name]
        scale = float(asset.scale.sample(rng))
        materials = {
            slot: self.material(ref, rng, f"{name}/{slot}") for slot, ref in asset.materials.items()
        }
        if asset.product is not None:
            params = {k: float(v.sample(rng)) * scale for k, v in asset.params.items()}
            defaults = procedural.PRODUCTS[asset.product].params
            params = {k: params.get(k, defaults[k] * scale) for k in defaults}
            return procedural.build_product(asset.product, params, materials)
        parts = load_mesh_file(Path(asset.mesh))
        if "all" in materials:
            parts = tuple(dataclasses.replace(p, material=materials["all"]) for p in parts)
        return (
            tuple(dataclasses.replace(p, mesh=scaled(p.mesh, scale)) for p in parts)
            if scale != 1
            else parts
        )

    def drop_into_bins(self, shot: int, bins: list[Body], first_id: int) -> list[Body]:
        """Products of the groups with `surface: bin`, dropped at random orientations above
        their bin and left to settle by physics; ids from `first_id`."""
        groups = [g for g in self.scene.objects if g.surface == "bin"]
        if not groups:
            return []
        poses = [b.object_to_world for b in bins]
        dropped, spawns = self._bin_drops(shot, poses, first_id)
        env = self.scene.environment
        settle = max(env.bins[g.bin].settle_s for g in groups)
        final = simulate(
            None,
            SpeedProfile(((0.0, 0.0),)),
            spawns,
            [settle],
            floor=env.floor is not None,
            static_bodies=bins,
        )[0]
        return [
            dataclasses.replace(dropped[i], object_to_world=state.object_to_world)
            for i, state in sorted(final.items())
        ]

    def _bin_drops(
        self, shot: int, bin_poses: list[np.ndarray], first_id: int
    ) -> tuple[dict[int, Body], list[Spawn]]:
        """The products dropped into bins, at their starting poses, before physics."""
        groups = [g for g in self.scene.objects if g.surface == "bin"]
        rng = rng_for(self.seed, shot, "bins")
        env = self.scene.environment
        spawns: list[Spawn] = []
        dropped: dict[int, Body] = {}
        heights = [spec.size[2] for spec in env.bins]
        for group in groups:
            spec, bin_pose = env.bins[group.bin], bin_poses[group.bin]
            for _ in range(int(group.count.sample(rng))):
                name = group.asset.sample(rng)
                parts = self.product_parts(name, rng)
                lo, hi = _bounds(parts)
                radius = float(np.linalg.norm(box_corners(lo, hi) - (lo + hi) / 2, axis=1).max())
                rotation = Rotation.random(random_state=rng).as_matrix()
                inner = np.array(spec.size[:2]) / 2 - spec.wall - radius
                x, y = (rng.uniform(-a, a) if a > 0 else 0.0 for a in inner)
                # Dropped one above another, so no two start inside each other.
                z = heights[group.bin] + radius + 0.01
                heights[group.bin] += 2 * radius + 0.01
                centre_offset = rotation @ ((lo + hi) / 2)
                pose = bin_pose @ rigid(rotation, np.array([x, y, z]) - centre_offset)
                body = self.product_body(name, parts, pose, first_id + len(spawns))
                dropped[body.instance_id] = body
                density = self.scene.assets[name].density
                spawns.append(Spawn(body.instance_id, parts, pose, 0.0, density=density))
        return dropped, spawns

    def product_body(
        self, name: str, parts: tuple[Part, ...], pose: np.ndarray, instance_id: int
    ) -> Body:
        """A labelled body of asset `name`, with its class."""
        class_name = self.scene.assets[name].class_name
        return Body(
            parts, pose, instance_id, self.scene.class_id(class_name), class_name, name=name
        )

    # -- the shot ----------------------------------------------------------------------------

    def world(self, shot: int) -> World:
        """The concrete world of shot `shot`."""
        scene = self.scene
        scenery_rng = rng_for(self.seed, shot, "scenery")
        env = scene.environment
        belt = sample_belt(env.belt, scenery_rng) if env.belt is not None else None
        bodies = scenery(
            env, belt, scenery_rng, lambda ref: self.material(ref, scenery_rng, _ref_key(ref))
        )
        products = self.place_objects(shot, belt)
        bins = [b for b in bodies if b.name.startswith("bin")]
        products += self.drop_into_bins(shot, bins, len(products) + 1)
        lateral = belt.belt_to_world[:3, 1] if belt is not None else np.array([0.0, 1.0, 0.0])
        bodies += self.with_defects(shot, products, lateral)
        lights_rng = rng_for(self.seed, shot, "lights")
        lights = [make_light(spec, lights_rng) for spec in scene.lights]
        cameras = [
            make_camera(spec, rng_for(self.seed, shot, f"camera/{spec.name}"))
            for spec in scene.cameras
        ]
        background = textures.srgb_to_linear(np.asarray(scene.environment.background_color))
        return World(
            shot,
            0.0,
            bodies,
            lights,
            cameras,
            _triple(background),
            defect_labels=bool(scene.defects),
        )

    def roster(self, shot: int) -> list[tuple[int, str]]:
        """(instance id, class) of the products of a shot as placed, before any defect."""
        env = self.scene.environment
        scenery_rng = rng_for(self.seed, shot, "scenery")
        belt = sample_belt(env.belt, scenery_rng) if env.belt is not None else None
        products = self.place_objects(shot, belt)
        counted = [(b.instance_id, b.class_name) for b in products]
        poses = [np.eye(4)] * len(env.bins)
        dropped, _ = self._bin_drops(shot, poses, len(products) + 1)
        return counted + [(i, dropped[i].class_name) for i in sorted(dropped)]

    def with_defects(self, unit: int, products: list[Body], lateral: np.ndarray) -> list[Body]:
        """The products with their defects and placement faults made (the scene's `defects`,
        the batch's quota plan); defect ids are unique in the list, from 1."""
        if not self.scene.defects:
            return products
        out: list[Body] = []
        extra: list[Body] = []
        next_instance = max((b.instance_id for b in products), default=0) + 1
        next_defect = 1
        for body in products:
            names = defect_names(
                self.scene, self.seed, unit, body.instance_id, body.class_name, self.defect_plan
            )
            if not names:
                out.append(body)
                continue
            spec = self.scene.defects[body.class_name]
            rng = rng_for(self.seed, unit, f"defect/{body.instance_id}")
            wanted = []
            for name in names:
                kind = spec.kind_of(name)
                severity, opts = defect_options(spec.types[name], rng)
                t = spec.types[name]
                if t.facing_camera:
                    opts.facing = self._towards_camera(body)
                if kind == "tipped":
                    angle = float(t.angle_deg.sample(rng)) if t.angle_deg is not None else None
                    body = placement.tipped(body, name, severity, angle, rng)
                elif kind == "rotated":
                    angle = float(t.angle_deg.sample(rng)) if t.angle_deg is not None else None
                    body = placement.rotated(body, name, severity, angle, rng)
                elif kind == "off_centre":
                    offset = float(t.offset_m.sample(rng)) if t.offset_m is not None else None
                    body = placement.off_centre(body, name, severity, offset, lateral, rng)
                elif kind == "missing":
                    body = placement.missing(body, name, severity)
                elif kind == "doubled":
                    body, twin = placement.doubled(body, name, severity, next_instance, rng)
                    next_instance += 1
                    extra.append(twin)
                else:
                    wanted.append(Wanted(name, kind, severity, opts))
            body = apply_defects(body, wanted, next_defect, rng)
            next_defect += len(wanted)
            out.append(body)
        return out + extra

    def _towards_camera(self, body: Body) -> np.ndarray:
        """Unit direction, in the body's frame, from its centre to the first camera's nominal
        position (the middle of each coordinate's range)."""
        position = np.array([_nominal(p) for p in self.scene.cameras[0].position])
        pose = np.asarray(body.object_to_world, np.float64)
        centre = pose[:3, :3] @ body.bounds.mean(axis=0) + pose[:3, 3]
        direction = pose[:3, :3].T @ (position - centre)
        return direction / max(np.linalg.norm(direction), 1e-12)

    def place_objects(self, shot: int, belt: Belt | None) -> list[Body]:
        """Products of every group placed at the start (not those that arrive over time),
        without overlapping footprints, ids from 1."""
        rng = rng_for(self.seed, shot, "placement")
        # Guides stand on the belt: products keep clear of them as of each other.
        belt_spec = self.scene.environment.belt
        guides = guide_footprints(belt_spec) if belt_spec is not None else []
        placed: dict[str, list[np.ndarray]] = {"belt": guides, "floor": []}
        bodies: list[Body] = []
        for group in self.scene.objects:
            if group.spawn is not None or group.surface == "bin":
                continue
            for _ in range(int(group.count.sample(rng))):
                body = self._place_one(group, rng, placed[group.surface], len(bodies) + 1, belt)
                if body is not None:
                    bodies.append(body)
        return bodies

    def _place_one(
        self,
        group: ObjectGroupSpec,
        rng: np.random.Generator,
        placed: list,
        instance_id: int,
        belt: Belt | None,
    ) -> Body | None:
        name = group.asset.sample(rng)
        parts = self.product_parts(name, rng)
        lo, hi = _bounds(parts)
        lying = group.pose == "lying" or (group.pose == "any" and rng.random() < 0.5)
        base = rotation_x(np.pi / 2) if lying else np.eye(3)
        corners = box_corners(lo, hi) @ base.T
        region, surface_z, surface_pose = _surface(group, belt)
        for _ in range(group.max_tries):
            yaw = np.radians(float(group.yaw_deg.sample(rng)))
            rotation = rotation_z(yaw) @ base
            rotated = box_corners(lo, hi) @ rotation.T
            x = rng.uniform(region[0], region[1])
            y = rng.uniform(region[2], region[3])
            foot = _footprint(rotated, x, y)
            if not _inside(foot, region) or any(
                rects_overlap(_grow(foot, group.gap), other) for other in placed
            ):
                continue
            placed.append(foot)
            translation = (x, y, surface_z - corners[:, 2].min())
            pose = surface_pose @ rigid(rotation, translation)
            return self.product_body(name, parts, pose, instance_id)
        log.debug("left out a %s: no free place after %d tries", name, group.max_tries)
        return None


def _surface(group: ObjectGroupSpec, belt: Belt | None):
    """(region in the surface frame, surface height, surface frame to world)."""
    if group.surface == "belt":
        margin = 0.01
        default = (
            -belt.length / 2 + margin,
            belt.length / 2 - margin,
            -belt.width / 2 + margin,
            belt.width / 2 - margin,
        )
        return group.region or default, belt.height, belt.belt_to_world
    return group.region or FLOOR_REGION, 0.0, np.eye(4)


def make_texture(spec: TextureSpec, rng: np.random.Generator) -> np.ndarray:
    """(S, S, 3) uint8 sRGB texture from its description."""
    size = (spec.size, spec.size)
    if spec.kind == "noise":
        return textures.noise_texture(rng, size, spec.color_a, spec.color_b, spec.scale)
    if spec.kind == "stripes":
        period = max(1.0, spec.size / spec.scale)
        return textures.stripes_texture(size, spec.color_a, spec.color_b, period, spec.angle_deg)
    if spec.kind == "checker":
        return textures.checker_texture(size, spec.color_a, spec.color_b, spec.scale)
    if spec.kind == "label":
        logo = _read_picture(spec.logo) if spec.logo else None
        return textures.label_texture(
            size,
            spec.color_a,
            spec.text,
            spec.color_b,
            font_size=max(8, spec.size // 6),
            logo=logo,
            barcode=spec.barcode,
            rng=rng,
        )
    return _read_picture(spec.path)


def make_light(spec: LightSpec, rng: np.random.Generator) -> Light:
    """A concrete light from its description."""
    if spec.color is not None:
        color = textures.srgb_to_linear(np.asarray(spec.color.sample(rng)))
    else:
        color = textures.kelvin_to_rgb(float(spec.temperature_k.sample(rng)))
    color = _triple(color)
    intensity = float(spec.intensity.sample(rng))
    if spec.type == "ambient":
        ground = textures.srgb_to_linear(np.asarray(spec.ground_color))
        return Light("ambient", color, intensity, ground_color=_triple(ground), cast_shadows=False)
    if spec.type == "directional":
        if spec.direction is not None:
            direction = _unit([d.sample(rng) for d in spec.direction])
        else:
            az = np.radians(float(spec.azimuth_deg.sample(rng)))
            el = np.radians(float(spec.elevation_deg.sample(rng)))
            direction = -np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
        return Light(
            "directional", color, intensity, direction=tuple(direction), cast_shadows=spec.shadows
        )
    position = np.array([p.sample(rng) for p in spec.position], dtype=np.float64)
    target = np.array([p.sample(rng) for p in spec.look_at], dtype=np.float64)
    direction = _unit(target - position)
    outer = np.radians(float(spec.cone_deg.sample(rng))) / 2
    inner = outer * (1.0 - float(spec.softness.sample(rng)))
    size = tuple(float(d.sample(rng)) for d in spec.size) if spec.type == "area" else (0.0, 0.0)
    return Light(
        spec.type,
        color,
        intensity,
        position=tuple(position),
        direction=tuple(direction),
        cone_inner=inner,
        cone_outer=outer,
        size=size,
        cast_shadows=spec.shadows,
    )


def make_camera(spec: CameraSpec, rng: np.random.Generator) -> Camera:
    """A concrete camera: intrinsics, jittered look-at pose and sampled sensor."""
    width, height = spec.resolution
    if spec.fov_deg is not None:
        fov = np.radians(float(spec.fov_deg.sample(rng)))
        fx = (width / 2) / np.tan(fov / 2)
    else:
        sensor_mm = float(spec.sensor_width_mm.sample(rng))
        fx = float(spec.focal_length_mm.sample(rng)) / sensor_mm * width
    position = np.array([p.sample(rng) for p in spec.position], dtype=np.float64)
    target = np.array([p.sample(rng) for p in spec.look_at], dtype=np.float64)
    if spec.jitter.position_m > 0:
        position = position + rng.normal(0.0, spec.jitter.position_m, 3)
    world_to_camera = look_at(position, target, spec.up)
    if spec.jitter.rotation_deg > 0:
        axis = rng.normal(size=3)
        angle = np.radians(rng.normal(0.0, spec.jitter.rotation_deg))
        jitter = axis_angle(axis, angle)
        world_to_camera[:3, :3] = jitter @ world_to_camera[:3, :3]
        world_to_camera[:3, 3] = -world_to_camera[:3, :3] @ position
    return Camera(
        spec.name,
        width,
        height,
        intrinsics(width, height, fx),
        world_to_camera,
        near=spec.near,
        far=spec.far,
        msaa=spec.msaa,
        sensor=make_sensor(spec, rng),
        shutter_s=float(spec.shutter_s.sample(rng)),
    )


def make_sensor(spec: CameraSpec, rng: np.random.Generator) -> Sensor:
    """The sensor settings of one image."""
    s = spec.sensor
    if s.white_balance_k is not None:
        light = np.asarray(textures.kelvin_to_rgb(float(s.white_balance_k.sample(rng))))
        gains = light[1] / np.maximum(light, 1e-6)
    else:
        gains = np.ones(3)
    jpeg = int(s.jpeg_quality.sample(rng)) if s.jpeg_quality is not None else None
    return Sensor(
        exposure_ev=float(s.exposure_ev.sample(rng)),
        white_balance=_triple(gains),
        shot_noise=float(s.shot_noise.sample(rng)),
        read_noise=float(s.read_noise.sample(rng)),
        blur_sigma_px=float(s.blur_sigma_px.sample(rng)),
        vignetting=float(s.vignetting.sample(rng)),
        jpeg_quality=jpeg,
    )


def scaled(mesh: Mesh, factor: float) -> Mesh:
    """The mesh scaled uniformly about its origin."""
    vertices = (mesh.vertices * np.float32(factor)).astype(np.float32)
    return Mesh(vertices, mesh.faces, mesh.normals, mesh.uv, f"{mesh.key}*{factor:.6g}")


def _read_picture(path: str) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _nominal(value) -> float:
    """A distribution's middle: of its range when bounded, else its mean."""
    lo, hi = value.support()
    if np.isfinite(lo) and np.isfinite(hi):
        return (lo + hi) / 2
    return float(value.mean)


def _ref_key(ref) -> str:
    """A stable name for a material reference (Python's own str hash differs per process)."""
    if isinstance(ref, str):
        return ref
    digest = hashlib.blake2b(ref.model_dump_json().encode(), digest_size=8).hexdigest()
    return f"inline/{digest}"


def _triple(values) -> tuple[float, float, float]:
    return tuple(float(v) for v in values)


def _unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    n = np.linalg.norm(v)
    if n == 0:
        raise ValueError("a direction of length zero")
    return v / n


def _bounds(parts: tuple[Part, ...]) -> tuple[np.ndarray, np.ndarray]:
    b = np.stack([p.mesh.bounds for p in parts])
    return b[:, 0].min(axis=0), b[:, 1].max(axis=0)


def _footprint(rotated_corners: np.ndarray, x: float, y: float) -> np.ndarray:
    """(4, 2) corners of the rotated box's footprint, counter-clockwise, at (x, y)."""
    bottom = rotated_corners[:, :2]
    # The footprint of a box turned about z (after an optional quarter turn about x) is the
    # rectangle spanned by its projected corners; the hull drops the repeats and orders them.
    hull = ConvexHull(bottom)
    return bottom[hull.vertices] + (x, y)


def _inside(foot: np.ndarray, region) -> bool:
    return bool(
        foot[:, 0].min() >= region[0]
        and foot[:, 0].max() <= region[1]
        and foot[:, 1].min() >= region[2]
        and foot[:, 1].max() <= region[3]
    )


def _grow(foot: np.ndarray, gap: float) -> np.ndarray:
    center = foot.mean(axis=0)
    d = foot - center
    n = np.linalg.norm(d, axis=1, keepdims=True)
    return center + d * (1 + gap / np.maximum(n, 1e-9))
