"""The moderngl raster engine: PBR radiance with soft shadows, and the exact label passes.

One standalone EGL context per engine (one engine per worker process); the same core-profile
GL 4.1 code runs on Mesa's llvmpipe and on NVIDIA's EGL driver.

Per camera, `render` draws, in this order:
- the G-buffer with MRT, without multisampling, one sample per pixel centre: instance id, class
  id, z-depth and camera-frame normals (the exact passes), plus albedo, roughness, metallic and
  a per-draw surface id; for worlds with next poses (sequences), also forward optical flow;
- with camera.msaa > 1, a multisampled pass recording which surface each sample sees;
- per labelled body, a depth-only draw into a cleared depth buffer and an occlusion query that
  counts the pixel centres it covers unoccluded;
- deferred shading, once per pixel centre, from the G-buffer and the shadow maps;
- the resolve: each sample takes the shaded colour of its own surface at the nearest pixel
  centre on that surface, and the samples are averaged, which is what a multisampled colour
  target resolves to, at the cost of shading each pixel once rather than each sample (llvmpipe
  runs fragment shaders per sample).
Shadow maps depend only on the world and are drawn once per world state, however many cameras
see it.

Optical flow is one more attachment of the same G-buffer draw, written by a second variant of
its program (FLOW defined in mesh.vert and gbuffer.frag), so flow comes from the very fragments
that won the instance pass's depth test, at the cost of one varying and one RG32F write per
fragment. A separate pass over the G-buffer's depth with an EQUAL test would rasterise every
triangle a second time. Stills draw with the plain variant into the plain framebuffer: they pay
nothing for flow, and its program, target and vertex arrays are made on first use.

The projection maps OpenCV pixel row v to GL window row v, so GL's bottom-up rows come back top
row first without a flip. GL then sees the image mirrored, which flips triangle winding; nothing
depends on winding (no face culling; shaders orient normals by each triangle's own plane).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import moderngl
import numpy as np

from groundforge.render.engine import Engine, Passes
from groundforge.world.geometry import box_corners
from groundforge.world.state import Body, Camera, Light, Material, Mesh, Part, World

log = logging.getLogger(__name__)

MAX_LIGHTS = 8  # the arrays in shaders/shade.frag.glsl have this length; more are left out
MESH_CACHE_SIZE = 512
TEXTURE_CACHE_SIZE = 128
TARGET_CACHE_SIZE = 4
SHADE_PROGRAM_CACHE_SIZE = 16
SHADOW_TAPS = 16  # most PCF taps per light and pixel (shade.frag.glsl: 4 to MAX_SHADOW_TAPS)

_GL_SRGB8_ALPHA8 = 0x8C43
_SHADOW_NONE, _SHADOW_ORTHO, _SHADOW_PERSPECTIVE, _SHADOW_CUBE = -1, 0, 1, 2
_SHADOW_FUNCTIONS = {
    _SHADOW_ORTHO: "shadow_ortho",
    _SHADOW_PERSPECTIVE: "shadow_perspective",
    _SHADOW_CUBE: "shadow_cube",
}
# glPolygonOffset (slope factor, constant units) for shadow casters: the slope-scaled part keeps
# grazing-lit flat belts free of acne; the shader adds a normal offset for the PCF kernel.
_SHADOW_POLYGON_OFFSET = (2.0, 4.0)
# Area-light shadow blur radius per metre of emitter size; without a blocker search the
# blocker-to-receiver ratio is taken as fixed.
_AREA_SOFTNESS = 0.1
# The widest half-angle a perspective shadow map covers; beyond it nothing casts shadows.
_MAX_SHADOW_HALF_ANGLE = math.radians(80.0)
_SHADOW_NEAR_M = 0.02
# Texture units. G-buffer pass: the base colour texture. Shading pass: the G-buffer, then the
# shadow map of light i at _UNIT_SHADOW + i. Resolve pass: surface ids, coverage and
# shaded colour.
_UNIT_BASE_COLOR = 0
_UNIT_SURFACE, _UNIT_DEPTH, _UNIT_NORMAL, _UNIT_ALBEDO = 0, 1, 2, 3
_UNIT_SHADOW = 4
_UNIT_COVERAGE, _UNIT_SHADED = 1, 2
_GLSL_VERSION_LINE = "#version 410 core\n"


# --- pure geometry -------------------------------------------------------------------------


def gl_projection(K: np.ndarray, width: int, height: int, near: float, far: float) -> np.ndarray:
    """(4, 4) float64: OpenCV camera frame -> GL clip space, pixel-exact.

    Continuous pixel (u, v) = (K @ X)[:2] / z lands on GL window coordinates (u, v), so pixel
    centres (i + 0.5, j + 0.5) are sampled and image row 0 is GL row 0.
    """
    K = np.asarray(K, dtype=np.float64)
    a = (far + near) / (far - near)
    b = -2.0 * far * near / (far - near)
    return np.array(
        [
            [2 * K[0, 0] / width, 2 * K[0, 1] / width, 2 * K[0, 2] / width - 1, 0.0],
            [0.0, 2 * K[1, 1] / height, 2 * K[1, 2] / height - 1, 0.0],
            [0.0, 0.0, a, b],
            [0.0, 0.0, 1.0, 0.0],
        ]
    )


def look_basis(forward: np.ndarray) -> np.ndarray:
    """(3, 3) float64: rows right, up, forward of a view looking along `forward` (any length)."""
    f = np.asarray(forward, dtype=np.float64)
    f = f / np.linalg.norm(f)
    hint = np.array([0.0, 0.0, 1.0]) if abs(f[2]) < 0.99 else np.array([0.0, 1.0, 0.0])
    r = np.cross(f, hint)
    r /= np.linalg.norm(r)
    return np.stack([r, np.cross(r, f), f])


# Faces of a point light's shadow atlas: +X, -X, +Y, -Y, +Z, -Z, laid out 3 wide and 2 high.
CUBE_BASES = np.stack([look_basis(s * np.eye(3)[axis]) for axis in range(3) for s in (1, -1)])


def view_matrix(basis: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """(4, 4) float64: world -> the frame with axes `basis` rows, centred at `origin`."""
    m = np.eye(4)
    m[:3, :3] = basis
    m[:3, 3] = -basis @ np.asarray(origin, dtype=np.float64)
    return m


def perspective(tan_half: float, near: float, far: float) -> np.ndarray:
    """(4, 4) float64: symmetric perspective with half-field tangent `tan_half`, looking +z."""
    a = (far + near) / (far - near)
    b = -2.0 * far * near / (far - near)
    return np.array(
        [[1 / tan_half, 0, 0, 0], [0, 1 / tan_half, 0, 0], [0, 0, a, b], [0, 0, 1, 0]],
        dtype=np.float64,
    )


def body_world_corners(bodies: list[Body], clean: bool = False) -> np.ndarray:
    """(B, 8, 3) float64: the corners of every body's bounds in the world frame; with `clean`,
    of the bounds of the parts before any defect."""
    if not bodies:
        return np.zeros((0, 8, 3))
    if clean:
        corners = np.stack([box_corners(*parts_bounds(b.shadow_parts)) for b in bodies])
    else:
        corners = np.stack([b.corners() for b in bodies])
    poses = np.stack([np.asarray(b.object_to_world, dtype=np.float64) for b in bodies])
    return np.einsum("bij,bkj->bki", poses[:, :3, :3], corners) + poses[:, None, :3, 3]


def parts_bounds(parts: tuple[Part, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(min, max) corners of the box around `parts`, in their common object frame."""
    b = np.stack([p.mesh.bounds for p in parts])
    return b[:, 0].min(axis=0), b[:, 1].max(axis=0)


def in_frustum(corners_world: np.ndarray, world_to_clip: np.ndarray) -> np.ndarray:
    """(B,) bool: whether each box of (B, 8, 3) corners may touch the clip volume."""
    h = np.concatenate([corners_world, np.ones(corners_world.shape[:2] + (1,))], axis=2)
    c = h @ world_to_clip.T
    x, y, z, w = c[..., 0], c[..., 1], c[..., 2], c[..., 3]
    outside = (
        (x > w).all(1)
        | (x < -w).all(1)
        | (y > w).all(1)
        | (y < -w).all(1)
        | (z > w).all(1)
        | (z < -w).all(1)
    )
    return ~outside


def screen_boxes(
    corners_world: np.ndarray, world_to_clip: np.ndarray, size: tuple[int, int]
) -> list[tuple[int, int, int, int]]:
    """(x, y, w, h) GL window boxes (= image pixel boxes) that surely hold each box of
    (B, 8, 3) corners; the whole image for boxes reaching behind the camera."""
    width, height = size
    h = np.concatenate([corners_world, np.ones(corners_world.shape[:2] + (1,))], axis=2)
    c = h @ world_to_clip.T
    boxes = []
    for clip in c:
        if (clip[:, 3] <= 1e-9).any():
            boxes.append((0, 0, width, height))
            continue
        x = (clip[:, 0] / clip[:, 3] + 1) * width / 2
        y = (clip[:, 1] / clip[:, 3] + 1) * height / 2
        x0 = int(np.clip(np.floor(x.min()) - 1, 0, width))
        y0 = int(np.clip(np.floor(y.min()) - 1, 0, height))
        x1 = int(np.clip(np.ceil(x.max()) + 1, 0, width))
        y1 = int(np.clip(np.ceil(y.max()) + 1, 0, height))
        boxes.append((x0, y0, max(x1 - x0, 0), max(y1 - y0, 0)))
    return boxes


@dataclass
class ShadowPlan:
    """How one light's shadow map is drawn and looked up.

    views: (viewport (x, y, w, h), world_to_view (4, 4), projection (4, 4)) per map region.
    matrix: (4, 4) world -> shadow clip for single-view maps. params: see shade.frag.glsl.
    """

    kind: int
    size: tuple[int, int]
    views: list[tuple[tuple[int, int, int, int], np.ndarray, np.ndarray]]
    matrix: np.ndarray
    params: np.ndarray
    origin: np.ndarray


def plan_shadow(light: Light, caster_corners: np.ndarray, map_size: int) -> ShadowPlan | None:
    """The shadow map of `light` fitted to (N, 3) world points bounding every shadow caster;
    None when the light casts no shadow onto anything."""
    if not light.cast_shadows or light.kind == "ambient" or len(caster_corners) == 0:
        return None
    if light.kind == "directional":
        return _plan_directional(light, caster_corners, map_size)
    if light.kind == "point":
        return _plan_point(light, caster_corners, map_size)
    return _plan_perspective(light, caster_corners, map_size)


def _plan_directional(light: Light, corners: np.ndarray, size: int) -> ShadowPlan:
    # Fitted to every caster, so large casting scenery (walls) spreads the texels thin; a floor
    # should not cast shadows. Receivers outside the casters' footprint are lit.
    basis = look_basis(light.direction)
    p = corners @ basis.T
    lo, hi = p.min(axis=0), p.max(axis=0)
    centre = (lo + hi) / 2
    half = max(hi[0] - lo[0], hi[1] - lo[1]) / 2 * 1.02 + 1e-3
    margin = 0.01 * (hi[2] - lo[2]) + 1e-3
    z0, z1 = lo[2] - margin, hi[2] + margin
    ortho = np.array(
        [
            [1 / half, 0, 0, -centre[0] / half],
            [0, 1 / half, 0, -centre[1] / half],
            [0, 0, 2 / (z1 - z0), -(z1 + z0) / (z1 - z0)],
            [0, 0, 0, 1],
        ]
    )
    view = view_matrix(basis, np.zeros(3))
    params = np.array([2 * half / size, 0.0, 0.0, 0.0])
    return ShadowPlan(
        _SHADOW_ORTHO,
        (size, size),
        [((0, 0, size, size), view, ortho)],
        ortho @ view,
        params,
        np.zeros(3),
    )


def _plan_perspective(light: Light, corners: np.ndarray, size: int) -> ShadowPlan | None:
    origin = np.asarray(light.position, dtype=np.float64)
    basis = look_basis(light.direction)
    p = (corners - origin) @ basis.T
    front = p[:, 2] > 1e-3
    if not front.any():
        return None
    cap = _MAX_SHADOW_HALF_ANGLE
    if light.kind == "spot":
        cap = min(cap, light.cone_outer * 1.05 + 0.02)
    tan_half = math.tan(cap)
    if front.all():
        # With every corner in front, the corners' projections bound the boxes' projections.
        fitted = float((np.abs(p[:, :2]).max(axis=1) / p[:, 2]).max())
        tan_half = max(min(tan_half, fitted * 1.02), 1e-3)
        near = max(float(p[:, 2].min()) * 0.9, _SHADOW_NEAR_M)
    else:
        near = _SHADOW_NEAR_M
    far = max(float(p[:, 2].max()) * 1.02 + 0.01, near * 2)
    view = view_matrix(basis, origin)
    proj = perspective(tan_half, near, far)
    softness = _AREA_SOFTNESS * max(light.size) if light.kind == "area" else 0.0
    params = np.array([2 * tan_half / size, softness, 0.0, 0.0])
    return ShadowPlan(
        _SHADOW_PERSPECTIVE,
        (size, size),
        [((0, 0, size, size), view, proj)],
        proj @ view,
        params,
        origin,
    )


def _plan_point(light: Light, corners: np.ndarray, size: int) -> ShadowPlan:
    origin = np.asarray(light.position, dtype=np.float64)
    tile = max(size // 2, 1)
    far = float(np.linalg.norm(corners - origin, axis=1).max()) * 1.02 + 0.01
    far = max(far, _SHADOW_NEAR_M * 2)
    proj = perspective(1.0, _SHADOW_NEAR_M, far)
    views = [
        (((f % 3) * tile, (f // 3) * tile, tile, tile), view_matrix(CUBE_BASES[f], origin), proj)
        for f in range(6)
    ]
    params = np.array([2.0 / tile, 0.0, proj[2, 2], proj[2, 3]])
    return ShadowPlan(_SHADOW_CUBE, (3 * tile, 2 * tile), views, np.eye(4), params, origin)


# --- GPU resource caches -------------------------------------------------------------------


class _LruCache:
    """Least-recently-used GL objects; `trim` releases those beyond `capacity`.

    Eviction waits for `trim` (called between frames) so nothing used by the frame being drawn
    is released under it.
    """

    def __init__(self, capacity: int, release: Callable[[Any], None]) -> None:
        self.capacity = capacity
        self._release = release
        self._items: OrderedDict[Hashable, Any] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable) -> Any:
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
        return item

    def put(self, key: Hashable, item: Any) -> None:
        self._items[key] = item
        self._items.move_to_end(key)

    def trim(self) -> None:
        while len(self._items) > self.capacity:
            _, item = self._items.popitem(last=False)
            self._release(item)

    def clear(self) -> None:
        while self._items:
            self._release(self._items.popitem()[1])


@dataclass
class _GpuMesh:
    vbo: moderngl.Buffer
    ibo: moderngl.Buffer
    vaos: dict[str, moderngl.VertexArray]

    def release(self) -> None:
        for vao in self.vaos.values():
            vao.release()
        self.vbo.release()
        self.ibo.release()


@dataclass
class _GpuTexture:
    texture: moderngl.Texture
    source: np.ndarray  # kept so an id()-keyed entry can never match a new array at that id

    def release(self) -> None:
        self.texture.release()


@dataclass
class _Targets:
    """Render targets for one (width, height, samples)."""

    samples: int
    gbuffer: moderngl.Framebuffer
    shade: moderngl.Framebuffer
    ghosts: moderngl.Framebuffer  # the defect pass and the G-buffer's depth, for ghosts
    msaa: moderngl.Framebuffer | None  # surface id per sample
    resolve: moderngl.Framebuffer | None  # anti-aliased radiance
    occlusion: moderngl.Framebuffer
    instance: moderngl.Texture
    semantic: moderngl.Texture
    depth: moderngl.Texture
    normals: moderngl.Texture
    albedo: moderngl.Texture
    surface: moderngl.Texture
    defect: moderngl.Texture
    shaded: moderngl.Texture
    coverage: moderngl.Texture | None
    zeros_u16: bytes
    attachments: list[Any]
    msaa_ghosts: moderngl.Framebuffer | None = None  # per-sample defect ids, MSAA depth
    defect_resolve: moderngl.Framebuffer | None = None
    sample_defect: moderngl.Texture | None = None
    defect_resolved: moderngl.Texture | None = None
    msaa_defects: moderngl.Framebuffer | None = None  # surface and defect part per sample
    # The G-buffer's colour attachments but the defect pass, and its depth; the framebuffers
    # of its variants (with the defect pass, with flow) by (flow, defects), made on first use.
    base_attachments: list[Any] = dataclasses.field(default_factory=list)
    gbuffer_depth: Any = None
    gbuffers: dict = dataclasses.field(default_factory=dict)
    # An RG32F flow attachment, made when a world first has next poses.
    flow: moderngl.Texture | None = None

    def release(self) -> None:
        fbos = (self.shade, self.ghosts, self.msaa, self.msaa_defects, self.resolve)
        others = (self.msaa_ghosts, self.defect_resolve, self.occlusion)
        for fbo in (*fbos, *others, *self.gbuffers.values()):
            if fbo is not None:
                fbo.release()
        for a in self.attachments:
            a.release()


@dataclass
class _Draw:
    """A body in the view: its object-to-camera (4, 4) transform and its screen box, and for
    flow its (4, 4) transform from the object frame to the next frame's camera frame."""

    body: Body
    model_view: np.ndarray
    box: tuple[int, int, int, int]
    next_model_view: np.ndarray | None = None


@dataclass
class _ShadowSet:
    world: World
    signature: tuple
    plans: list[ShadowPlan | None]


def _shader(name: str) -> str:
    return resources.files(__package__).joinpath("shaders", name).read_text(encoding="utf-8")


def _define(source: str, *names: str) -> str:
    """GLSL `source` with `#define NAME` lines right after its version line."""
    if not source.startswith(_GLSL_VERSION_LINE):
        raise ValueError(f"shader source must start with {_GLSL_VERSION_LINE!r}")
    defines = "".join(f"#define {name}\n" for name in names)
    return _GLSL_VERSION_LINE + defines + source[len(_GLSL_VERSION_LINE) :]


def _wants_flow(world: World, camera: Camera) -> bool:
    """Whether `world` has a next frame seen from `camera`: some next pose is set.

    Any body counts, in the view or not, so every frame of a sequence but its last has flow
    (zeros where nothing in the view moves), as `Passes.flow` promises.
    """
    if camera.next_world_to_camera is not None:
        return True
    return any(b.next_object_to_world is not None for b in world.bodies)


def _with_next_model_views(draws: list[_Draw], camera: Camera) -> None:
    """Set each draw's object -> next camera transform; a missing next pose means static."""
    next_world_to_camera = camera.next_world_to_camera
    if next_world_to_camera is None:
        next_world_to_camera = camera.world_to_camera
    next_world_to_camera = np.asarray(next_world_to_camera, dtype=np.float64)
    for draw in draws:
        pose = draw.body.next_object_to_world
        if pose is None:
            pose = draw.body.object_to_world
        draw.next_model_view = next_world_to_camera @ np.asarray(pose, dtype=np.float64)


def _mat(m: np.ndarray) -> bytes:
    """Column-major float32 bytes of a (4, 4) or (N, 4, 4) matrix, as GL expects."""
    return np.ascontiguousarray(np.swapaxes(m, -1, -2), dtype=np.float32).tobytes()


def _set_uniform(prog: moderngl.Program, name: str, value: Any) -> None:
    """Set uniform `name` unless the linker dropped it from this variant."""
    if name in prog:
        prog[name].value = value


def _write_array(prog: moderngl.Program, name: str, values: np.ndarray) -> None:
    """Set uniform array `name` from (MAX, ...) `values`, as far as the linker kept it."""
    if name in prog:
        count = max(prog[name].array_length, 1)
        prog[name].write(np.ascontiguousarray(values[:count]).tobytes())


MAX_MARKS = 32  # the mark arrays in shaders/gbuffer.frag.glsl have this length
_MARK_CODES = {"stain": 0, "scratch": 1, "crack": 2, "dent": 3, "hole": 4}
MAX_HOLES = 8  # the hole array in shaders/coverage.frag.glsl has this length


def _set_marks(prog: moderngl.Program, marks: tuple) -> None:
    """The body's surface marks as the G-buffer program's uniform arrays."""
    if len(marks) > MAX_MARKS:
        log.warning(
            "%d surface marks on one body; only the first %d are drawn", len(marks), MAX_MARKS
        )
        marks = marks[:MAX_MARKS]
    prog["u_mark_count"].value = len(marks)
    if not marks:
        return
    rows = np.zeros((4, MAX_MARKS, 4), dtype=np.float32)
    for i, m in enumerate(marks):
        rows[0, i] = (*m.p0, m.radius)
        rows[1, i] = (*m.p1, _MARK_CODES[m.kind])
        rows[2, i] = (*m.color, m.opacity)
        rows[3, i] = (m.defect_id, m.roughness, m.depth, 0.0)
    for name, values in zip(("u_mark_a", "u_mark_b", "u_mark_c", "u_mark_d"), rows, strict=True):
        _write_array(prog, name, values)


def _set_holes(prog: moderngl.Program, marks: tuple) -> None:
    """The body's holes as the coverage program's uniforms."""
    holes = [m for m in marks if m.kind == "hole"][:MAX_HOLES]
    prog["u_hole_count"].value = len(holes)
    if holes:
        rows = np.zeros((MAX_HOLES, 4), dtype=np.float32)
        for i, m in enumerate(holes):
            rows[i] = (*m.p0, m.radius)
        _write_array(prog, "u_holes", rows)


def _has_defects(draws: list[_Draw]) -> bool:
    """Whether any body in the view has a defect the engine draws: marks, ghosts, or a part
    of a defect. Views without use the G-buffer variant without the defect pass."""
    return any(
        d.body.marks or d.body.ghosts or any(p.defect_id for p in d.body.parts) for d in draws
    )


def _surface_ids(parts: tuple[Part, ...], last: int) -> tuple[list[int], int]:
    """Anti-aliasing surface ids of a body's parts, counting on from `last`, and the last id
    used. Parts that name the same `surface` share one, so a defect patch blends with the part
    it was cut from exactly as that part did."""
    ids, named = [], {}
    for part in parts:
        if part.surface is None:
            last += 1
            ids.append(last)
        else:
            if part.surface not in named:
                last += 1
                named[part.surface] = last
            ids.append(named[part.surface])
    return ids, last


def _release_all(objects: tuple) -> None:
    for obj in reversed(objects):
        obj.release()


def _world_signature(world: World) -> tuple:
    """What the shadow maps of `world` depend on, cheaply (poses may be edited in place)."""
    bodies = tuple(
        (id(b), id(b.parts), b.cast_shadows, np.asarray(b.object_to_world).tobytes())
        for b in world.bodies
    )
    return world.shot, bodies, tuple(dataclasses.astuple(light) for light in world.lights)


class RasterEngine(Engine):
    """Rasterises worlds with moderngl on a headless EGL context."""

    name = "raster"

    def __init__(self, shadow_map_size: int = 2048) -> None:
        self.shadow_map_size = int(shadow_map_size)
        self.ctx = moderngl.create_context(standalone=True, backend="egl", require=410)
        log.debug("GL context: %s, %s", self.ctx.info["GL_RENDERER"], self.ctx.info["GL_VERSION"])

        mesh_vertex = _shader("mesh.vert.glsl")
        self._programs = {
            name: self.ctx.program(vertex_shader=mesh_vertex, fragment_shader=_shader(frag))
            for name, frag in (
                ("depth", "depth.frag.glsl"),
                ("ghost", "ghost.frag.glsl"),
            )
        }
        self._gbuffer_variants: dict[tuple, moderngl.Program] = {}
        self._mesh_vertex = mesh_vertex
        self._sample_ghost: moderngl.Program | None = None
        self._defect_resolves: dict[int, tuple[moderngl.Program, moderngl.VertexArray]] = {}
        self._count = self.ctx.program(
            vertex_shader=_shader("fullscreen.vert.glsl"),
            fragment_shader=_shader("depth.frag.glsl"),
        )
        self._count["u_ndc_depth"].value = 1.0
        self._count_vao = self.ctx.vertex_array(self._count, [])
        self._resolve_programs: dict[int, tuple[moderngl.Program, moderngl.VertexArray]] = {}
        self._shade_source = _shader("shade.frag.glsl")
        self._shade_programs = _LruCache(SHADE_PROGRAM_CACHE_SIZE, _release_all)

        self._meshes = _LruCache(MESH_CACHE_SIZE, _GpuMesh.release)
        self._textures = _LruCache(TEXTURE_CACHE_SIZE, _GpuTexture.release)
        self._targets = _LruCache(TARGET_CACHE_SIZE, _Targets.release)
        self._white = self.ctx.texture(
            (1, 1), 4, bytes([255] * 4), internal_format=_GL_SRGB8_ALPHA8
        )
        self._shadow_maps: dict[int, tuple[moderngl.Texture, moderngl.Framebuffer]] = {}
        self._shadows: _ShadowSet | None = None
        self._queries: list[moderngl.Query] = []

    # --- public ---------------------------------------------------------------------------

    def render(self, world: World, camera: Camera) -> Passes:
        """All passes of `world` seen by `camera`; row 0 of every array is the image top."""
        # Another engine in this process may have made its own context current, or closed it.
        with self.ctx:
            return self._render(world, camera)

    def _render(self, world: World, camera: Camera) -> Passes:
        width, height = int(camera.width), int(camera.height)
        targets = self._targets_for(width, height, self._samples(camera.msaa))
        lights = list(world.lights[:MAX_LIGHTS])
        if len(world.lights) > MAX_LIGHTS:
            log.debug("%d lights; only the first %d are drawn", len(world.lights), MAX_LIGHTS)
        shadows = self._shadows_for(world, lights)

        world_to_camera = np.asarray(camera.world_to_camera, dtype=np.float64)
        projection = gl_projection(camera.K, width, height, camera.near, camera.far)
        draws = self._visible(world.bodies, world_to_camera, projection, (width, height))
        flow = _wants_flow(world, camera)
        if flow:
            _with_next_model_views(draws, camera)

        self.ctx.enable(moderngl.DEPTH_TEST)
        self.ctx.disable(moderngl.CULL_FACE | moderngl.BLEND)
        # Geometry passes first and the passes that read their results last, so the
        # rasteriser's threads work on one while the next is being set up.
        defects = _has_defects(draws)
        self._draw_gbuffer(targets, draws, projection, camera.K if flow else None, defects)
        if defects:
            self._draw_ghosts(targets, draws, projection)
        if targets.msaa is not None:
            self._draw_coverage(targets, draws, projection, defects)
            if defects:
                self._resolve_defects(targets, draws, projection)
        queries = self._draw_occlusion(targets, draws, projection)
        self._shade_pixels(targets, world, lights, shadows, camera)
        if targets.msaa is not None:
            self._resolve(targets, world)
        passes = self._read(targets, width, height, world, queries, flow, defects)

        self._meshes.trim()
        self._textures.trim()
        self._targets.trim()
        self._shade_programs.trim()
        return passes

    def close(self) -> None:
        """Release every GL object and the context."""
        if self.ctx is None:
            return
        self.ctx.__enter__()  # its objects are released in their own context
        self._meshes.clear()
        self._textures.clear()
        self._targets.clear()
        for texture, fbo in self._shadow_maps.values():
            fbo.release()
            texture.release()
        self._shadow_maps.clear()
        self._shadows = None
        self._queries.clear()  # moderngl 5 queries have no release; the context takes them
        self._shade_programs.clear()
        for entry in (*self._resolve_programs.values(), *self._defect_resolves.values()):
            _release_all(entry)
        self._resolve_programs.clear()
        self._defect_resolves.clear()
        if self._sample_ghost is not None:
            self._sample_ghost.release()
            self._sample_ghost = None
        _release_all((self._count, self._count_vao))
        for program in self._programs.values():
            program.release()
        for program in self._gbuffer_variants.values():
            program.release()
        self._gbuffer_variants.clear()
        self._white.release()
        self.ctx.release()
        self.ctx = None

    # --- passes ---------------------------------------------------------------------------

    def _visible(
        self,
        bodies: list[Body],
        world_to_camera: np.ndarray,
        projection: np.ndarray,
        size: tuple[int, int],
    ) -> list[_Draw]:
        """The bodies in the view, nearest first (so early depth testing skips most hidden
        fragments)."""
        bodies = [b for b in bodies if b.parts]
        corners = body_world_corners(bodies)
        world_to_clip = projection @ world_to_camera
        keep = in_frustum(corners, world_to_clip)
        boxes = screen_boxes(corners, world_to_clip, size)
        centre_z = (corners.mean(axis=1) @ world_to_camera[2, :3]) + world_to_camera[2, 3]
        order = [i for i in np.argsort(centre_z, kind="stable") if keep[i]]
        return [
            _Draw(
                bodies[i],
                world_to_camera @ np.asarray(bodies[i].object_to_world, np.float64),
                boxes[i],
            )
            for i in order
        ]

    def _draw_gbuffer(
        self,
        targets: _Targets,
        draws: list[_Draw],
        projection: np.ndarray,
        flow_K: np.ndarray | None = None,
        defects: bool = False,
    ) -> None:
        """The exact passes and the material G-buffer, one sample per pixel centre; with
        `flow_K` (the camera's (3, 3) intrinsics), also the flow of draws' next_model_view;
        with `defects`, the marks and the defect pass."""
        flow = flow_K is not None
        vao_name = ("flow" if flow else "gbuffer") + ("_defects" if defects else "")
        prog = self._gbuffer_program(flow, defects)
        fbo = self._gbuffer_fbo(targets, flow, defects)
        if flow:
            prog["u_K"].write(np.ascontiguousarray(np.asarray(flow_K, np.float64).T, "f4"))
        fbo.use()
        fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)  # flow is 0 where no surface
        # glClear leaves integer targets undefined by the GL spec, so those are zeroed by upload.
        zeroed = (targets.instance, targets.semantic, targets.surface)
        for texture in (*zeroed, targets.defect) if defects else zeroed:
            texture.write(targets.zeros_u16)
        self.ctx.depth_func = "<"

        prog["u_projection"].write(_mat(projection))
        surface_id = 0
        last_material: Material | None = None
        for draw in draws:
            prog["u_model_view"].write(_mat(draw.model_view))
            if flow_K is not None:
                prog["u_next_model_view"].write(_mat(draw.next_model_view))
            prog["u_instance_id"].value = int(draw.body.instance_id)
            prog["u_class_id"].value = int(draw.body.class_id)
            if defects:
                _set_marks(prog, draw.body.marks)
            ids, surface_id = _surface_ids(draw.body.parts, surface_id)
            for part, part_surface in zip(draw.body.parts, ids, strict=True):
                prog["u_surface_id"].value = part_surface
                if defects:
                    prog["u_part_defect"].value = int(part.defect_id)
                if part.material is not last_material:
                    self._set_material(prog, part.material)
                    last_material = part.material
                self._vao(part.mesh, vao_name).render(moderngl.TRIANGLES)

    def _draw_ghosts(self, targets: _Targets, draws: list[_Draw], projection: np.ndarray) -> None:
        """Into the defect pass, the geometry defects removed, wherever it would be seen:
        in front of what the G-buffer holds. Depth is tested, not written, so ghosts hide
        nothing."""
        ghosted = [d for d in draws if d.body.ghosts]
        if not ghosted:
            return
        self._ghost_draws(self._programs["ghost"], targets.ghosts, ghosted, projection, "ghost")

    def _ghost_draws(self, prog, fbo, ghosted: list[_Draw], projection, vao: str) -> None:
        fbo.use()
        self.ctx.depth_func = "<="
        prog["u_projection"].write(_mat(projection))
        for draw in ghosted:
            prog["u_model_view"].write(_mat(draw.model_view))
            for ghost in draw.body.ghosts:
                prog["u_defect_id"].value = int(ghost.defect_id)
                prog["u_clip"].value = ghost.clip or (0.0, 0.0, 0.0, 0.0)
                self._vao(ghost.mesh, vao).render(moderngl.TRIANGLES)
        self.ctx.depth_func = "<"

    def _resolve_defects(self, targets: _Targets, draws: list[_Draw], projection) -> None:
        """The defect pass of a multisampled camera: the ghosts into the per-sample defect ids
        (the coverage pass wrote the defect parts'), then per pixel the centre's defect, else
        the largest any sample sees."""
        ghosted = [d for d in draws if d.body.ghosts]
        if ghosted:
            self._ghost_draws(
                self._sample_ghost_program(), targets.msaa_ghosts, ghosted, projection, "ghost_ms"
            )
        prog, fullscreen = self._defect_resolve_program(targets.samples)
        targets.defect_resolve.use()
        self.ctx.disable(moderngl.DEPTH_TEST)
        targets.defect.use(location=0)
        targets.sample_defect.use(location=1)
        fullscreen.render(moderngl.TRIANGLES, vertices=3)
        self.ctx.enable(moderngl.DEPTH_TEST)

    def _sample_ghost_program(self) -> moderngl.Program:
        if self._sample_ghost is None:
            self._sample_ghost = self.ctx.program(
                vertex_shader=self._mesh_vertex,
                fragment_shader=_define(_shader("ghost.frag.glsl"), "SAMPLES"),
            )
        return self._sample_ghost

    def _defect_resolve_program(self, samples: int) -> tuple[moderngl.Program, Any]:
        entry = self._defect_resolves.get(samples)
        if entry is None:
            source = _shader("defect_resolve.frag.glsl").replace(
                _GLSL_VERSION_LINE, f"{_GLSL_VERSION_LINE}#define SAMPLES {samples}\n", 1
            )
            prog = self.ctx.program(
                vertex_shader=_shader("fullscreen.vert.glsl"), fragment_shader=source
            )
            prog["u_centre"].value = 0
            prog["u_samples"].value = 1
            entry = (prog, self.ctx.vertex_array(prog, []))
            self._defect_resolves[samples] = entry
        return entry

    def _gbuffer_program(self, flow: bool, defects: bool) -> moderngl.Program:
        """The G-buffer program, with optical flow (FLOW) and with the marks and the defect
        pass (DEFECTS) when asked; variants are compiled on first use."""
        key = (flow, defects)
        prog = self._gbuffer_variants.get(key)
        if prog is None:
            names = [n for n, on in (("FLOW", flow), ("DEFECTS", defects)) if on]
            prog = self.ctx.program(
                vertex_shader=_define(self._mesh_vertex, *names),
                fragment_shader=_define(_shader("gbuffer.frag.glsl"), *names),
            )
            prog["u_texture"].value = _UNIT_BASE_COLOR
            self._gbuffer_variants[key] = prog
            log.debug("G-buffer program %s compiled", "+".join(names) or "plain")
        return prog

    def _coverage_program(self, defects: bool) -> moderngl.Program:
        key = ("coverage", defects)
        prog = self._gbuffer_variants.get(key)
        if prog is None:
            names = ("DEFECTS",) if defects else ()
            prog = self.ctx.program(
                vertex_shader=self._mesh_vertex,
                fragment_shader=_define(_shader("coverage.frag.glsl"), *names),
            )
            self._gbuffer_variants[key] = prog
        return prog

    def _gbuffer_fbo(self, targets: _Targets, flow: bool, defects: bool) -> moderngl.Framebuffer:
        """The G-buffer framebuffer, with the defect and the flow attachments as asked; made
        on first use. Flow follows the defect pass when both are there (gbuffer.frag)."""
        key = (flow, defects)
        fbo = targets.gbuffers.get(key)
        if fbo is None:
            if flow and targets.flow is None:
                texture = self.ctx.texture(targets.depth.size, 2, dtype="f4")
                texture.filter = (moderngl.NEAREST, moderngl.NEAREST)
                targets.attachments.append(texture)
                targets.flow = texture
            colour = [*targets.base_attachments]
            colour += [targets.defect] if defects else []
            colour += [targets.flow] if flow else []
            fbo = self.ctx.framebuffer(
                color_attachments=colour, depth_attachment=targets.gbuffer_depth
            )
            targets.gbuffers[key] = fbo
        return fbo

    def _shade_pixels(
        self,
        targets: _Targets,
        world: World,
        lights: list[Light],
        shadows: list[ShadowPlan | None],
        camera: Camera,
    ) -> None:
        """Linear radiance at every pixel centre from the G-buffer, each pixel shaded once."""
        prog, fullscreen = self._shade_program(lights, shadows)
        targets.shade.use()
        self.ctx.disable(moderngl.DEPTH_TEST)
        targets.surface.use(location=_UNIT_SURFACE)
        targets.depth.use(location=_UNIT_DEPTH)
        targets.normals.use(location=_UNIT_NORMAL)
        targets.albedo.use(location=_UNIT_ALBEDO)
        prog["u_inv_K"].write(
            np.ascontiguousarray(np.linalg.inv(np.asarray(camera.K, np.float64)).T, "f4")
        )
        camera_to_world = np.linalg.inv(np.asarray(camera.world_to_camera, np.float64))
        prog["u_camera_to_world"].write(_mat(camera_to_world))
        prog["u_background"].value = tuple(float(c) for c in world.background_color)
        self._set_lights(prog, lights, shadows)
        fullscreen.render(moderngl.TRIANGLES, vertices=3)
        self.ctx.enable(moderngl.DEPTH_TEST)

    def _draw_coverage(
        self, targets: _Targets, draws: list[_Draw], projection: np.ndarray, defects: bool
    ) -> None:
        """The multisampled pass: which surface each sample sees (and, with `defects`, which
        defect part)."""
        prog = self._coverage_program(defects)
        fbo = targets.msaa_defects if defects else targets.msaa
        fbo.use()
        fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        self.ctx.depth_func = "<"
        prog["u_projection"].write(_mat(projection))
        surface_id = 0
        for draw in draws:
            prog["u_model_view"].write(_mat(draw.model_view))
            if defects:
                _set_holes(prog, draw.body.marks)
            ids, surface_id = _surface_ids(draw.body.parts, surface_id)
            for part, part_surface in zip(draw.body.parts, ids, strict=True):
                prog["u_surface_id"].value = float(part_surface)
                if defects:
                    prog["u_part_defect"].value = float(part.defect_id)
                vao = "coverage_defects" if defects else "coverage"
                self._vao(part.mesh, vao).render(moderngl.TRIANGLES)

    def _resolve(self, targets: _Targets, world: World) -> None:
        """Anti-aliased radiance: the average over samples of the colour of the surface each
        sample sees, taken from the once-per-pixel shading."""
        resolve, fullscreen = self._resolve_program(targets.samples)
        targets.resolve.use()
        self.ctx.disable(moderngl.DEPTH_TEST)
        targets.surface.use(location=_UNIT_SURFACE)
        targets.coverage.use(location=_UNIT_COVERAGE)
        targets.shaded.use(location=_UNIT_SHADED)
        resolve["u_background"].value = tuple(float(c) for c in world.background_color)
        fullscreen.render(moderngl.TRIANGLES, vertices=3)
        self.ctx.enable(moderngl.DEPTH_TEST)

    def _resolve_program(self, samples: int) -> tuple[moderngl.Program, moderngl.VertexArray]:
        entry = self._resolve_programs.get(samples)
        if entry is None:
            source = _shader("resolve.frag.glsl").replace(
                "#version 410 core\n", f"#version 410 core\n#define SAMPLES {samples}\n", 1
            )
            prog = self.ctx.program(
                vertex_shader=_shader("fullscreen.vert.glsl"), fragment_shader=source
            )
            prog["u_surface"].value = _UNIT_SURFACE
            prog["u_coverage"].value = _UNIT_COVERAGE
            prog["u_shaded"].value = _UNIT_SHADED
            prog["u_once"].value = 1
            entry = (prog, self.ctx.vertex_array(prog, []))
            self._resolve_programs[samples] = entry
        return entry

    def _draw_occlusion(
        self, targets: _Targets, draws: list[_Draw], projection: np.ndarray
    ) -> list[tuple[int, moderngl.Query]]:
        """Per labelled body, a query counting the pixel centres it covers on its own.

        The body is drawn alone into a cleared depth buffer; then, inside the query, one
        triangle at the far plane covering its screen box passes the depth test exactly where
        the body wrote depth, so each pixel counts once however many surfaces overlap there.
        """
        prog = self._programs["depth"]
        fbo = targets.occlusion
        fbo.use()
        prog["u_projection"].write(_mat(projection))
        labelled = [d for d in draws if d.body.instance_id > 0 and d.box[2] and d.box[3]]
        while len(self._queries) < len(labelled):
            self._queries.append(self.ctx.query(samples=True))

        queries = []
        for draw, query in zip(labelled, self._queries, strict=False):
            fbo.scissor = draw.box
            fbo.clear(depth=1.0, viewport=draw.box)
            self.ctx.depth_func = "<"
            prog["u_model_view"].write(_mat(draw.model_view))
            for part in draw.body.parts:
                self._mesh(part.mesh).vaos["depth"].render(moderngl.TRIANGLES)
            self.ctx.depth_func = ">"
            with query:
                self._count_vao.render(moderngl.TRIANGLES, vertices=3)
            queries.append((int(draw.body.instance_id), query))
        fbo.scissor = None
        self.ctx.depth_func = "<"
        return queries

    def _read(
        self,
        targets: _Targets,
        width: int,
        height: int,
        world: World,
        queries: list[tuple[int, moderngl.Query]],
        flow: bool = False,
        defects: bool = False,
    ) -> Passes:
        radiance = np.empty((height, width, 3), dtype=np.float32)
        source = targets.resolve if targets.resolve is not None else targets.shade
        source.read_into(radiance, components=3, dtype="f4")
        instance = np.empty((height, width), dtype=np.uint16)
        targets.instance.read_into(instance)
        semantic = np.empty((height, width), dtype=np.uint16)
        targets.semantic.read_into(semantic)
        depth = np.empty((height, width), dtype=np.float32)
        targets.depth.read_into(depth)
        normals = np.empty((height, width, 3), dtype=np.float32)
        targets.gbuffer.read_into(normals, components=3, attachment=3, dtype="f4")
        defect = np.zeros((height, width), dtype=np.uint16)
        if defects:
            (targets.defect_resolved or targets.defect).read_into(defect)

        flow_px = None
        if flow:
            flow_px = np.empty((height, width, 2), dtype=np.float32)
            targets.flow.read_into(flow_px)

        unoccluded = {int(b.instance_id): 0 for b in world.objects}
        for instance_id, query in queries:
            unoccluded[instance_id] = unoccluded.get(instance_id, 0) + int(query.samples)
        return Passes(radiance, depth, instance, semantic, normals, unoccluded, flow_px, defect)

    # --- lights and shadows ---------------------------------------------------------------

    def _shade_program(
        self, lights: list[Light], shadows: list[ShadowPlan | None]
    ) -> tuple[moderngl.Program, moderngl.VertexArray]:
        """The shading program specialised for these kinds of lights and shadows."""
        key = tuple(
            (light.kind, plan.kind if plan is not None else _SHADOW_NONE)
            for light, plan in zip(lights, shadows, strict=True)
        )
        entry = self._shade_programs.get(key)
        if entry is not None:
            return entry
        statements = []
        for i, (kind, shadow_kind) in enumerate(key):
            if kind == "ambient":
                continue  # summed into u_sky and u_ground
            statement = f"inc = {kind}_light({i}, s); radiance += reflected(s, inc)"
            if shadow_kind != _SHADOW_NONE:
                function = _SHADOW_FUNCTIONS[shadow_kind]
                statement += f" * {function}(u_shadow_map[{i}], {i}, s, inc)"
            statements.append(statement + ";")
        source = self._shade_source.replace("// @LIGHTS@", "\n    ".join(statements))
        prog = self.ctx.program(
            vertex_shader=_shader("fullscreen.vert.glsl"), fragment_shader=source
        )
        for name, unit in (
            ("u_surface", _UNIT_SURFACE),
            ("u_depth", _UNIT_DEPTH),
            ("u_normal", _UNIT_NORMAL),
            ("u_albedo", _UNIT_ALBEDO),
        ):
            _set_uniform(prog, name, unit)
        _write_array(prog, "u_shadow_map", np.arange(MAX_LIGHTS, dtype=np.int32) + _UNIT_SHADOW)
        for name, column in (("u_cube_right", 0), ("u_cube_up", 1), ("u_cube_forward", 2)):
            _write_array(prog, name, CUBE_BASES[:, column].astype(np.float32))
        entry = (prog, self.ctx.vertex_array(prog, []))
        self._shade_programs.put(key, entry)
        log.debug("shading program compiled for lights %s", key)
        return entry

    def _set_lights(
        self, prog: moderngl.Program, lights: list[Light], shadows: list[ShadowPlan | None]
    ) -> None:
        n = MAX_LIGHTS
        radiant = np.zeros((n, 3), np.float32)
        position, direction = np.zeros((n, 3), np.float32), np.zeros((n, 3), np.float32)
        shape = np.zeros((n, 4), np.float32)
        shadow_matrix = np.tile(np.eye(4), (n, 1, 1))
        shadow_params = np.zeros((n, 4), np.float32)
        sky, ground = np.zeros(3), np.zeros(3)

        for i, light in enumerate(lights):
            if light.kind == "ambient":
                sky += np.asarray(light.color) * light.intensity
                ground += np.asarray(light.ground_color) * light.intensity
                continue
            radiant[i] = np.asarray(light.color) * light.intensity
            position[i] = light.position
            d = np.asarray(light.direction, np.float64)
            direction[i] = d / (np.linalg.norm(d) or 1.0)
            if light.kind == "spot":
                shape[i, :2] = math.cos(light.cone_inner), math.cos(light.cone_outer)
            elif light.kind == "area":
                shape[i, 0] = 0.5 * max(light.size)
            plan = shadows[i]
            if plan is not None:
                shadow_matrix[i] = plan.matrix
                shadow_params[i] = plan.params
                self._shadow_maps[i][0].use(location=_UNIT_SHADOW + i)

        _set_uniform(prog, "u_shadow_taps", SHADOW_TAPS)
        _set_uniform(prog, "u_once", 1)
        _set_uniform(prog, "u_sky", tuple(float(x) for x in sky))
        _set_uniform(prog, "u_ground", tuple(float(x) for x in ground))
        _write_array(prog, "u_light_radiant", radiant)
        _write_array(prog, "u_light_position", position)
        _write_array(prog, "u_light_direction", direction)
        _write_array(prog, "u_light_shape", shape)
        _write_array(prog, "u_shadow_matrix", np.swapaxes(shadow_matrix, 1, 2).astype(np.float32))
        _write_array(prog, "u_shadow_params", shadow_params)

    def _shadows_for(self, world: World, lights: list[Light]) -> list[ShadowPlan | None]:
        """The shadow plans of `world`, drawing the maps unless this world state has them."""
        signature = _world_signature(world)
        cached = self._shadows
        if cached is not None and cached.world is world and cached.signature == signature:
            return cached.plans

        # A missing product (no parts) casts nothing: nothing stands there.
        casters = [b for b in world.bodies if b.cast_shadows and b.parts and b.shadow_parts]
        # Fitted to the clean parts, so a defect moves no shadow-map texel.
        corners = body_world_corners(casters, clean=True).reshape(-1, 3)
        plans = [plan_shadow(light, corners, self.shadow_map_size) for light in lights]
        if any(p is not None for p in plans):
            self._draw_shadow_maps(casters, plans)
        self._shadows = _ShadowSet(world, signature, plans)
        log.debug("shot %d: %d shadow maps", world.shot, sum(p is not None for p in plans))
        return plans

    def _draw_shadow_maps(self, casters: list[Body], plans: list[ShadowPlan | None]) -> None:
        prog = self._programs["depth"]
        self.ctx.enable(moderngl.DEPTH_TEST)
        self.ctx.disable(moderngl.CULL_FACE)
        self.ctx.depth_func = "<"
        self.ctx.polygon_offset = _SHADOW_POLYGON_OFFSET
        poses = [np.asarray(b.object_to_world, np.float64) for b in casters]
        for i, plan in enumerate(plans):
            if plan is None:
                continue
            _, fbo = self._shadow_map(i, plan.size)
            fbo.use()
            fbo.viewport = (0, 0, *plan.size)
            fbo.clear(depth=1.0)
            for viewport, view, proj in plan.views:
                fbo.viewport = viewport
                prog["u_projection"].write(_mat(proj))
                for body, pose in zip(casters, poses, strict=True):
                    prog["u_model_view"].write(_mat(view @ pose))
                    for part in body.shadow_parts:
                        self._mesh(part.mesh).vaos["depth"].render(moderngl.TRIANGLES)
        self.ctx.polygon_offset = (0.0, 0.0)

    def _new_shadow_texture(self, size: tuple[int, int]) -> moderngl.Texture:
        texture = self.ctx.depth_texture(size)
        texture.compare_func = "<="  # sampler2DShadow: 1 where the point is no deeper than the map
        texture.filter = (moderngl.LINEAR, moderngl.LINEAR)  # bilinear PCF per tap
        texture.repeat_x = texture.repeat_y = False
        return texture

    def _shadow_map(
        self, slot: int, size: tuple[int, int]
    ) -> tuple[moderngl.Texture, moderngl.Framebuffer]:
        """The depth texture and framebuffer of shadow slot `slot`, reallocated on resize."""
        current = self._shadow_maps.get(slot)
        if current is not None and current[0].size == size:
            return current
        if current is not None:
            current[1].release()
            current[0].release()
        texture = self._new_shadow_texture(size)
        fbo = self.ctx.framebuffer(depth_attachment=texture)
        self._shadow_maps[slot] = (texture, fbo)
        return texture, fbo

    # --- resources ------------------------------------------------------------------------

    def _samples(self, msaa: int) -> int:
        if msaa <= 1:
            return 0
        samples = min(int(msaa), self.ctx.max_samples)
        if samples != msaa:
            log.debug("msaa %d clamped to the driver's %d", msaa, samples)
        return samples if samples > 1 else 0

    def _targets_for(self, width: int, height: int, samples: int) -> _Targets:
        key = (width, height, samples)
        targets = self._targets.get(key)
        if targets is not None:
            return targets
        ctx, size = self.ctx, (width, height)
        # 16-bit ids, as Passes holds them: instance and class ids above 65535 wrap.
        instance = ctx.texture(size, 1, dtype="u2")
        semantic = ctx.texture(size, 1, dtype="u2")
        depth = ctx.texture(size, 1, dtype="f4")
        normals = ctx.texture(size, 4, dtype="f4")
        albedo = ctx.texture(size, 4, dtype="f2")
        surface = ctx.texture(size, 1, dtype="u2")
        defect = ctx.texture(size, 1, dtype="u2")
        shaded = ctx.texture(size, 4, dtype="f2")
        gbuffer_depth = ctx.depth_renderbuffer(size)
        attachments: list[Any] = [
            instance,
            semantic,
            depth,
            normals,
            albedo,
            surface,
            defect,
            shaded,
            gbuffer_depth,
        ]
        for t in (instance, semantic, depth, normals, albedo, surface, defect, shaded):
            t.filter = (moderngl.NEAREST, moderngl.NEAREST)
        msaa = resolve = coverage = msaa_ghosts = defect_fbo = msaa_defects = None
        sample_defect = defect_resolved = None
        if samples:
            coverage = ctx.texture(size, 1, dtype="f4", samples=samples)
            sample_defect = ctx.texture(size, 1, dtype="f4", samples=samples)
            msaa_depth = ctx.depth_renderbuffer(size, samples=samples)
            resolved = ctx.texture(size, 4, dtype="f4")
            defect_resolved = ctx.texture(size, 1, dtype="u2")
            defect_resolved.filter = (moderngl.NEAREST, moderngl.NEAREST)
            attachments += [coverage, sample_defect, msaa_depth, resolved, defect_resolved]
            msaa = ctx.framebuffer(color_attachments=[coverage], depth_attachment=msaa_depth)
            msaa_defects = ctx.framebuffer(
                color_attachments=[coverage, sample_defect], depth_attachment=msaa_depth
            )
            msaa_ghosts = ctx.framebuffer(
                color_attachments=[sample_defect], depth_attachment=msaa_depth
            )
            msaa_ghosts.depth_mask = False
            defect_fbo = ctx.framebuffer(color_attachments=[defect_resolved])
            resolve = ctx.framebuffer(color_attachments=[resolved])
        # Ghosts are tested against the depth, never written into it.
        ghosts = ctx.framebuffer(color_attachments=[defect], depth_attachment=gbuffer_depth)
        ghosts.depth_mask = False
        base = [instance, semantic, depth, normals, albedo, surface]
        gbuffer = ctx.framebuffer(color_attachments=base, depth_attachment=gbuffer_depth)
        targets = _Targets(
            samples=samples,
            gbuffer=gbuffer,
            gbuffers={(False, False): gbuffer},
            base_attachments=base,
            gbuffer_depth=gbuffer_depth,
            msaa_defects=msaa_defects,
            ghosts=ghosts,
            msaa_ghosts=msaa_ghosts,
            defect_resolve=defect_fbo,
            sample_defect=sample_defect,
            defect_resolved=defect_resolved,
            shade=ctx.framebuffer(color_attachments=[shaded]),
            msaa=msaa,
            resolve=resolve,
            occlusion=ctx.framebuffer(depth_attachment=gbuffer_depth),
            instance=instance,
            semantic=semantic,
            depth=depth,
            normals=normals,
            albedo=albedo,
            surface=surface,
            defect=defect,
            shaded=shaded,
            coverage=coverage,
            zeros_u16=bytes(width * height * 2),
            attachments=attachments,
        )
        self._targets.put(key, targets)
        log.debug("render targets %dx%d, %d samples", width, height, samples)
        return targets

    def _mesh(self, mesh: Mesh) -> _GpuMesh:
        entry = self._meshes.get(mesh.key)
        if entry is not None:
            return entry
        data = np.concatenate(
            [
                np.asarray(mesh.vertices, np.float32).reshape(-1, 3),
                np.asarray(mesh.normals, np.float32).reshape(-1, 3),
                np.asarray(mesh.uv, np.float32).reshape(-1, 2),
            ],
            axis=1,
        )
        vbo = self.ctx.buffer(np.ascontiguousarray(data))
        ibo = self.ctx.buffer(np.ascontiguousarray(mesh.faces, dtype=np.uint32))
        vaos = {name: self._vertex_array(prog, vbo, ibo) for name, prog in self._programs.items()}
        entry = _GpuMesh(vbo, ibo, vaos)
        self._meshes.put(mesh.key, entry)
        return entry

    def _vao(self, mesh: Mesh, name: str) -> moderngl.VertexArray:
        """The vertex array of `mesh` for program `name`, or for a variant made on first use so
        that worlds without need never pay for it: the G-buffer's flow variant ("flow") and
        the multisampled ghost program ("ghost_ms")."""
        entry = self._mesh(mesh)
        if name not in entry.vaos:
            made = {
                "gbuffer": lambda: self._gbuffer_program(False, False),
                "flow": lambda: self._gbuffer_program(True, False),
                "gbuffer_defects": lambda: self._gbuffer_program(False, True),
                "flow_defects": lambda: self._gbuffer_program(True, True),
                "coverage": lambda: self._coverage_program(False),
                "coverage_defects": lambda: self._coverage_program(True),
                "ghost_ms": self._sample_ghost_program,
            }
            entry.vaos[name] = self._vertex_array(made[name](), entry.vbo, entry.ibo)
        return entry.vaos[name]

    def _vertex_array(
        self, prog: moderngl.Program, vbo: moderngl.Buffer, ibo: moderngl.Buffer
    ) -> moderngl.VertexArray:
        """`prog` reading the interleaved position, normal, uv buffer; unused ones skipped."""
        fmt, attrs = [], []
        for attr, width in (("a_position", 3), ("a_normal", 3), ("a_uv", 2)):
            if attr in prog:
                fmt.append(f"{width}f")
                attrs.append(attr)
            else:
                fmt.append(f"{4 * width}x")
        return self.ctx.vertex_array(
            prog, [(vbo, " ".join(fmt), *attrs)], index_buffer=ibo, index_element_size=4
        )

    def _set_material(self, prog: moderngl.Program, material: Material) -> None:
        prog["u_base_color"].value = tuple(float(c) for c in material.base_color)
        prog["u_metallic"].value = float(material.metallic)
        prog["u_roughness"].value = float(material.roughness)
        self._texture(material).use(location=_UNIT_BASE_COLOR)

    def _texture(self, material: Material) -> moderngl.Texture:
        image = material.texture
        if image is None:
            return self._white
        # An id() key is safe: the entry holds the array, so its id cannot be reused meanwhile.
        key = material.texture_key or f"id:{id(image)}"
        entry = self._textures.get(key)
        if entry is not None:
            return entry.texture
        image = np.asarray(image)
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        rgba = np.empty(image.shape[:2] + (4,), np.uint8)
        rgba[..., :3] = image[..., :3]
        rgba[..., 3] = 255
        # Row 0 (the image top) goes up first, i.e. at t = 0; gbuffer.frag samples at 1 - v.
        texture = self.ctx.texture(
            (image.shape[1], image.shape[0]), 4, rgba, internal_format=_GL_SRGB8_ALPHA8
        )
        texture.build_mipmaps()
        texture.filter = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
        self._textures.put(key, _GpuTexture(texture, material.texture))
        return texture
