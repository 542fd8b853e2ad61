"""Loading user mesh files."""

import os

import numpy as np
import pytest
import trimesh
from PIL import Image
from trimesh.visual.material import PBRMaterial

from groundforge.assets.errors import AssetError
from groundforge.assets.loader import load_mesh_file

EXTENTS = np.array([0.1, 0.2, 0.3])
OFFSET = np.array([1.0, 2.0, 3.0])


def offset_box() -> trimesh.Trimesh:
    box = trimesh.creation.box(extents=EXTENTS)
    box.apply_translation(OFFSET)
    return box


def bounds_of(parts) -> np.ndarray:
    v = np.concatenate([p.mesh.vertices for p in parts]).astype(np.float64)
    return np.stack([v.min(axis=0), v.max(axis=0)])


def expected(corners: np.ndarray, scale: float, recenter: bool) -> np.ndarray:
    """Bounds of the scaled corners, moved to rest on z = 0 centred on x = y = 0 if asked."""
    c = corners * scale
    lo, hi = c.min(axis=0), c.max(axis=0)
    if recenter:
        shift = np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, lo[2]])
        lo, hi = lo - shift, hi - shift
    return np.stack([lo, hi])


@pytest.mark.parametrize("ext", ["obj", "stl", "ply"])
@pytest.mark.parametrize("scale,recenter", [(1.0, True), (2.5, True), (0.5, False)])
def test_z_up_formats_keep_their_axes(tmp_path, ext, scale, recenter):
    path = tmp_path / f"box.{ext}"
    offset_box().export(path)
    parts = load_mesh_file(path, scale=scale, recenter=recenter)
    assert len(parts) == 1
    corners = OFFSET + EXTENTS / 2 * np.array([[-1, -1, -1], [1, 1, 1]])
    assert np.allclose(bounds_of(parts), expected(corners, scale, recenter), atol=1e-6)


@pytest.mark.parametrize("scale,recenter", [(1.0, True), (3.0, False)])
def test_glb_is_turned_from_y_up_to_z_up(tmp_path, scale, recenter):
    path = tmp_path / "box.glb"
    offset_box().export(path)
    corners = OFFSET + EXTENTS / 2 * np.array([[-1, -1, -1], [1, 1, 1]])
    # glTF's +Y is up: (x, y, z) in the file is (x, -z, y) in a Z-up frame.
    turned = np.stack([corners[:, 0], -corners[:, 2], corners[:, 1]], axis=1)
    parts = load_mesh_file(path, scale=scale, recenter=recenter)
    assert np.allclose(bounds_of(parts), expected(turned, scale, recenter), atol=1e-6)
    as_z_up = load_mesh_file(path, scale=scale, recenter=recenter, up_axis="z")
    assert np.allclose(bounds_of(as_z_up), expected(corners, scale, recenter), atol=1e-6)


def test_scene_graph_transforms_give_one_part_per_geometry(tmp_path):
    scene = trimesh.Scene()
    scene.add_geometry(trimesh.creation.box(extents=(1, 1, 1)), node_name="a", geom_name="a")
    moved = np.eye(4)
    moved[:3, 3] = (4.0, 0.0, 0.0)
    scene.add_geometry(
        trimesh.creation.box(extents=(1, 2, 1)), node_name="b", geom_name="b", transform=moved
    )
    path = tmp_path / "two.glb"
    scene.export(path)
    parts = load_mesh_file(path, recenter=False, up_axis="z")
    assert len(parts) == 2
    boxes = sorted((bounds_of([p]) for p in parts), key=lambda b: b[0, 0])
    assert np.allclose(boxes[0], [[-0.5, -0.5, -0.5], [0.5, 0.5, 0.5]], atol=1e-6)
    assert np.allclose(boxes[1], [[3.5, -1.0, -0.5], [4.5, 1.0, 0.5]], atol=1e-6)


def textured_box(material) -> tuple[trimesh.Trimesh, np.ndarray]:
    box = trimesh.creation.box(extents=(1, 1, 1))
    uv = np.stack([box.vertices[:, 0] + 0.5, 0.25 + 0.5 * (box.vertices[:, 2] + 0.5)], axis=1)
    box.visual = trimesh.visual.TextureVisuals(uv=uv, material=material)
    return box, uv


def picture() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (8, 16, 3), dtype=np.uint8)


def test_glb_texture_and_pbr_factors_come_back(tmp_path):
    pixels = picture()
    material = PBRMaterial(
        baseColorTexture=Image.fromarray(pixels),
        baseColorFactor=[1.0, 0.5, 0.25, 1.0],
        metallicFactor=0.3,
        roughnessFactor=0.7,
    )
    box, uv = textured_box(material)
    path = tmp_path / "tex.glb"
    box.export(path)
    (part,) = load_mesh_file(path, recenter=False, up_axis="z")
    m = part.material
    assert m.texture is not None and np.array_equal(m.texture, pixels)
    assert m.texture_key is not None
    assert m.metallic == pytest.approx(0.3) and m.roughness == pytest.approx(0.7)
    assert np.allclose(m.base_color, (1.0, 0.5, 0.25), atol=1 / 255)  # glTF factors are linear
    # uv come back v up, vertex by vertex (matched by position).
    got = part.mesh
    for vertex, want in zip(box.vertices, uv, strict=True):
        at = np.flatnonzero(np.all(np.isclose(got.vertices, vertex, atol=1e-6), axis=1))
        assert len(at) and np.allclose(got.uv[at], want, atol=1e-6)


def test_obj_map_kd_texture_comes_back(tmp_path):
    pixels = picture()
    material = trimesh.visual.material.SimpleMaterial(image=Image.fromarray(pixels))
    box, _ = textured_box(material)
    path = tmp_path / "tex.obj"
    box.export(path)
    assert any(f.suffix == ".mtl" for f in tmp_path.iterdir())
    (part,) = load_mesh_file(path)
    assert np.array_equal(part.material.texture, pixels)
    assert part.material.metallic == 0.0


def test_ply_vertex_colours_average_to_a_linear_base_colour(tmp_path):
    sphere = trimesh.creation.icosphere(subdivisions=1)
    colours = np.tile([255, 128, 0, 255], (len(sphere.vertices), 1)).astype(np.uint8)
    colours[::2] = [255, 0, 0, 255]
    sphere.visual.vertex_colors = colours
    path = tmp_path / "c.ply"
    sphere.export(path)
    (part,) = load_mesh_file(path)
    half = ((128 / 255 + 0.055) / 1.055) ** 2.4  # sRGB 128 in linear
    green = half * (len(sphere.vertices) // 2) / len(sphere.vertices)
    assert np.allclose(part.material.base_color, (1.0, green, 0.0), atol=1e-6)


def test_stl_box_keeps_hard_edges_and_sphere_is_smooth(tmp_path):
    trimesh.creation.box(extents=(1, 1, 1)).export(tmp_path / "b.stl")
    (box,) = load_mesh_file(tmp_path / "b.stl")
    n = box.mesh.normals
    assert np.allclose(np.abs(n).max(axis=1), 1.0, atol=1e-6)  # every normal along an axis
    trimesh.creation.icosphere(subdivisions=3).export(tmp_path / "s.stl")
    (sphere,) = load_mesh_file(tmp_path / "s.stl", recenter=False)
    v = sphere.mesh.vertices.astype(np.float64)
    radial = v / np.linalg.norm(v, axis=1, keepdims=True)
    assert np.einsum("ij,ij->i", radial, sphere.mesh.normals).min() > 0.999
    assert len(sphere.mesh.vertices) < 3 * len(sphere.mesh.faces) / 2  # corners were joined


@pytest.mark.parametrize("ext,up", [("glb", (0.0, -1.0, 0.0)), ("obj", (0.0, 0.0, 1.0))])
def test_normals_in_the_file_are_kept_and_turned_with_it(tmp_path, ext, up):
    sphere = trimesh.creation.icosphere(subdivisions=1)
    odd = np.tile([0.0, 0.0, 1.0], (len(sphere.vertices), 1))  # not what a sphere would get
    mesh = trimesh.Trimesh(sphere.vertices, sphere.faces, vertex_normals=odd, process=False)
    mesh.export(tmp_path / f"n.{ext}", include_normals=True)
    (part,) = load_mesh_file(tmp_path / f"n.{ext}")
    assert np.allclose(part.mesh.normals, up, atol=1e-6)


def test_mirroring_transform_keeps_faces_outward(tmp_path):
    scene = trimesh.Scene()
    mirror = np.diag([-1.0, 1.0, 1.0, 1.0])
    scene.add_geometry(trimesh.creation.box(extents=(1, 2, 3)), transform=mirror)
    scene.export(tmp_path / "m.glb")
    (part,) = load_mesh_file(tmp_path / "m.glb")
    tm = trimesh.Trimesh(part.mesh.vertices, part.mesh.faces)
    tm.merge_vertices()
    assert tm.volume == pytest.approx(6.0, rel=1e-5)


def test_loads_are_cached_until_the_file_changes(tmp_path):
    path = tmp_path / "box.stl"
    trimesh.creation.box(extents=(1, 1, 1)).export(path)
    first = load_mesh_file(path)
    assert load_mesh_file(path) is first
    trimesh.creation.box(extents=(2, 1, 1)).export(path)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    second = load_mesh_file(path)
    assert second is not first
    assert bounds_of(second)[1, 0] == pytest.approx(1.0)


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nothing.obj"
    with pytest.raises(AssetError, match="not found") as err:
        load_mesh_file(path)
    assert err.value.path == path and str(path) in str(err.value)


def test_unsupported_extension_lists_the_supported_ones(tmp_path):
    path = tmp_path / "model.fbx"
    path.write_bytes(b"whatever")
    with pytest.raises(AssetError, match=r"\.obj.*\.glb.*\.stl.*\.ply") as err:
        load_mesh_file(path)
    assert err.value.path == path


@pytest.mark.parametrize("ext", ["glb", "ply", "stl", "obj", "gltf"])
def test_garbage_bytes_raise_asset_error_naming_the_path(tmp_path, ext):
    path = tmp_path / f"junk.{ext}"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(AssetError) as err:
        load_mesh_file(path)
    assert err.value.path.name == path.name and path.name in str(err.value)


def test_file_without_triangles_says_so(tmp_path):
    path = tmp_path / "points.obj"
    path.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\n")
    with pytest.raises(AssetError, match="no triangles"):
        load_mesh_file(path)
