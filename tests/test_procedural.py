"""The built-in parametric product library."""

import math

import numpy as np
import pytest
import trimesh

from groundforge.assets.procedural import (
    PRODUCTS,
    build_product,
    default_material,
    gear_teeth,
    product_bounds,
)
from groundforge.world.state import Material

KINDS = sorted(PRODUCTS)


def union_bounds(parts) -> np.ndarray:
    v = np.concatenate([p.mesh.vertices for p in parts]).astype(np.float64)
    return np.stack([v.min(axis=0), v.max(axis=0)])


def radial(v: np.ndarray) -> np.ndarray:
    return np.hypot(v[:, 0], v[:, 1]).astype(np.float64)


def test_registry_lists_the_required_kinds_with_metre_defaults():
    assert {"bottle", "can", "box", "jar", "pouch", "gear", "bracket"} <= set(PRODUCTS)
    for name, d in PRODUCTS.items():
        assert d.name == name and d.slots and d.slots[0] == "body"
        assert all(0 < v < 1 for v in d.params.values())  # metres, product-sized
    assert PRODUCTS["bottle"].slots == ("body", "cap", "label")
    with pytest.raises(TypeError):
        PRODUCTS["bottle"].params["height"] = 1.0  # the registry is read-only


@pytest.mark.parametrize("kind", KINDS)
def test_mesh_bounds_equal_product_bounds_and_rest_on_z0(kind):
    parts = build_product(kind, {}, {})
    b = union_bounds(parts)
    assert np.allclose(b, product_bounds(kind, {}), atol=1e-6)
    assert b[0, 2] == pytest.approx(0.0, abs=1e-7)
    size = b[1] - b[0]
    assert np.all(np.abs(b[0, :2] + b[1, :2]) < 0.01 * size[:2])  # centred on x = y = 0


@pytest.mark.parametrize("kind", KINDS)
def test_meshes_are_well_formed(kind):
    for part in build_product(kind):
        m = part.mesh
        assert m.vertices.dtype == np.float32 and m.faces.dtype == np.uint32
        assert m.faces.min() >= 0 and m.faces.max() < len(m.vertices)
        assert len(np.unique(m.faces)) == len(m.vertices)  # no unused vertices
        assert np.all(np.isfinite(m.normals))
        assert np.allclose(np.linalg.norm(m.normals, axis=1), 1.0, atol=1e-5)
        assert m.uv.shape == (len(m.vertices), 2)
        assert m.uv.min() >= 0.0 and m.uv.max() <= 1.0
        assert len(m.faces) < 5000


@pytest.mark.parametrize("kind", KINDS)
def test_winding_agrees_with_normals_and_faces_have_area(kind):
    for part in build_product(kind):
        m = part.mesh
        tri = m.vertices[m.faces].astype(np.float64)
        cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        assert np.all(np.linalg.norm(cross, axis=1) > 0)
        corner_normals = m.normals[m.faces].astype(np.float64).sum(axis=1)
        assert np.all(np.einsum("ij,ij->i", cross, corner_normals) > 0)


@pytest.mark.parametrize("kind", ["box", "gear", "bracket"])
def test_hard_edged_solids_are_closed_with_positive_volume(kind):
    (part,) = build_product(kind)
    tm = trimesh.Trimesh(part.mesh.vertices, part.mesh.faces)
    tm.merge_vertices()
    assert tm.is_watertight
    assert tm.volume > 0


@pytest.mark.parametrize("kind", KINDS)
def test_changing_a_parameter_changes_the_mesh(kind):
    defaults = PRODUCTS[kind].params
    name = next(iter(defaults))
    before = build_product(kind)
    after = build_product(kind, {name: defaults[name] * 1.2})
    assert before[0].mesh.key != after[0].mesh.key
    assert not np.allclose(union_bounds(before), union_bounds(after))
    same = build_product(kind, dict(defaults))
    assert same[0].mesh is before[0].mesh  # defaults fill in; equal dimensions hit the cache


@pytest.mark.parametrize("kind", KINDS)
def test_scaled_builds_equal_direct_builds(kind):
    # build_product reuses one unit-size build for every uniform scale; that is only right if
    # the builder itself is exact under scaling, so compare with building directly.
    params = {k: 1.7 * v for k, v in PRODUCTS[kind].params.items()}
    direct = PRODUCTS[kind].builder(params)
    parts = build_product(kind, params)
    assert len(parts) == len(direct)
    for part, mesh in zip(parts, direct.values(), strict=True):
        assert np.array_equal(part.mesh.faces, mesh.faces)
        assert np.allclose(part.mesh.vertices, mesh.vertices, atol=1e-6)
        assert np.allclose(part.mesh.normals, mesh.normals, atol=1e-5)
        assert np.allclose(part.mesh.uv, mesh.uv, atol=1e-6)


def test_bottle_dimensions():
    p = {
        "height": 0.3,
        "radius": 0.04,
        "neck_radius": 0.014,
        "neck_height": 0.03,
        "shoulder_height": 0.06,
        "cap_height": 0.025,
        "label_height": 0.1,
    }
    body, cap, label = build_product("bottle", p)
    assert union_bounds([body, cap, label])[1, 2] == pytest.approx(0.3, abs=1e-6)
    assert radial(body.mesh.vertices).max() == pytest.approx(0.04, abs=1e-6)
    # Above the shoulder the body is the neck (and the disc closing it under the cap).
    z_cap = 0.3 - 0.025
    z, r = body.mesh.vertices[:, 2], radial(body.mesh.vertices)
    neck = z > z_cap - 0.03 - 1e-6
    assert np.all(np.isclose(r[neck], 0.014, atol=1e-6) | np.isclose(r[neck], 0.0, atol=1e-6))
    assert np.isclose(r[neck], 0.014, atol=1e-6).sum() >= 2 * 64
    assert np.all(r[~neck & (z > 0.01)] > 0.014 - 1e-6)  # the shoulder narrows to the neck
    cz = cap.mesh.vertices[:, 2]
    assert cz.min() == pytest.approx(z_cap, abs=1e-6) and cz.max() == pytest.approx(0.3, abs=1e-6)
    assert radial(cap.mesh.vertices).max() == pytest.approx(1.15 * 0.014, abs=1e-6)
    lz = label.mesh.vertices[:, 2]
    assert lz.max() - lz.min() == pytest.approx(0.1, abs=1e-6)
    assert radial(label.mesh.vertices).max() > 0.04  # just outside the body


def test_bottle_label_uv_wraps_by_angle_and_height():
    _, _, label = build_product("bottle")
    m = label.mesh
    v = m.vertices.astype(np.float64)
    outer = radial(v) > radial(v).max() - 1e-6
    angle = np.mod(np.arctan2(v[outer, 1], v[outer, 0]), 2 * np.pi) / (2 * np.pi)
    u = m.uv[outer, 0]
    # u = angle / 2 pi, except the seam column which carries u = 1 at angle 0.
    assert np.all(np.isclose(u, angle, atol=1e-5) | (np.isclose(u, 1.0) & np.isclose(angle, 0.0)))
    z = v[outer, 2]
    assert np.allclose(m.uv[outer, 1], (z - z.min()) / (z.max() - z.min()), atol=1e-5)
    assert np.isclose(u, 1.0).any() and np.isclose(u, 0.0).any()


def test_revolved_sides_are_smooth_and_cap_edges_sharp():
    body, cap, _ = build_product("bottle")
    v, n = body.mesh.vertices.astype(np.float64), body.mesh.normals
    mid = np.abs(v[:, 2] - 0.06) < 0.03
    radial_dir = v[mid, :2] / radial(v[mid])[:, None]
    assert np.allclose(np.einsum("ij,ij->i", radial_dir, n[mid, :2]), 1.0, atol=1e-5)
    # At the cap's bottom rim the same point carries a downward and a sideways normal.
    cv, cn = cap.mesh.vertices, cap.mesh.normals
    rim = np.isclose(cv[:, 2], cv[:, 2].min()) & np.isclose(radial(cv), radial(cv).max())
    assert np.any(cn[rim, 2] < -0.99) and np.any(np.abs(cn[rim, 2]) < 1e-6)


def test_can_dimensions_and_metal_lid():
    p = {"height": 0.15, "radius": 0.03, "rim_inset": 0.004}
    body, lid = build_product("can", p)
    assert radial(body.mesh.vertices).max() == pytest.approx(0.03, abs=1e-6)
    assert radial(lid.mesh.vertices).max() == pytest.approx(0.026, abs=1e-6)
    b = union_bounds([body, lid])
    assert b[0, 2] == pytest.approx(0.0, abs=1e-7) and b[1, 2] == pytest.approx(0.15, abs=1e-6)
    assert default_material("can", "lid").metallic == 1.0
    # The printed wall maps v from its bottom to its top.
    z = body.mesh.vertices[:, 2]
    assert np.allclose(body.mesh.uv[:, 1], (z - z.min()) / (z.max() - z.min()), atol=1e-5)


def test_box_faces_each_map_the_whole_texture_upright():
    (part,) = build_product("box", {"width": 0.2, "depth": 0.1, "height": 0.3})
    m = part.mesh
    assert np.allclose(union_bounds([part]), [[-0.1, -0.05, 0], [0.1, 0.05, 0.3]], atol=1e-6)
    assert len(m.faces) == 12
    v, uv, n = m.vertices.astype(np.float64), m.uv, m.normals
    front = n[:, 1] < -0.99  # the -y face, seen from -y: u runs along +x, v up
    assert np.allclose(uv[front, 0], (v[front, 0] + 0.1) / 0.2, atol=1e-6)
    assert np.allclose(uv[front, 1], v[front, 2] / 0.3, atol=1e-6)
    for axis in range(3):
        for sign in (-1, 1):
            face = np.isclose(n[:, axis], sign)
            assert {tuple(x) for x in np.round(uv[face])} == {(0, 0), (0, 1), (1, 0), (1, 1)}


def test_jar_has_a_wider_lid_and_label():
    body, lid, label = build_product("jar", {"height": 0.12, "mouth_radius": 0.035})
    assert radial(lid.mesh.vertices).max() == pytest.approx(1.06 * 0.035, abs=1e-6)
    assert lid.mesh.vertices[:, 2].max() == pytest.approx(0.12, abs=1e-6)
    assert radial(body.mesh.vertices).max() == pytest.approx(PRODUCTS["jar"].params["radius"])
    no_label = build_product("jar", {"label_height": 0.0})
    assert len(no_label) == 2


def test_pouch_is_a_pillow_sealed_at_its_edges():
    p = {"width": 0.12, "height": 0.18, "thickness": 0.03, "seal_width": 0.01}
    (part,) = build_product("pouch", p)
    v = part.mesh.vertices.astype(np.float64)
    assert np.allclose(union_bounds([part]), [[-0.06, -0.015, 0], [0.06, 0.015, 0.18]], atol=1e-6)
    rim = np.isclose(np.abs(v[:, 0]), 0.06) | np.isclose(v[:, 2], 0) | np.isclose(v[:, 2], 0.18)
    assert np.allclose(v[rim, 1], 0.0, atol=1e-7)  # front and back meet at the edge
    seal = v[:, 2] < 0.01 - 1e-6
    assert np.abs(v[seal, 1]).max() < 0.1 * 0.015  # the seal is flat
    front = part.mesh.normals[:, 1] < -0.9
    assert np.allclose(part.mesh.uv[front, 0], v[front, 0] / 0.12 + 0.5, atol=1e-5)


def test_gear_teeth_radii_and_bore():
    p = {
        "outer_radius": 0.05,
        "root_radius": 0.043,
        "thickness": 0.012,
        "bore_radius": 0.01,
        "module": 0.004,
    }
    (part,) = build_product("gear", p)
    v = part.mesh.vertices.astype(np.float64)
    r = radial(v)
    assert r.max() == pytest.approx(0.05, abs=1e-6) and r.min() == pytest.approx(0.01, abs=1e-6)
    assert v[:, 2].min() == pytest.approx(0.0) and v[:, 2].max() == pytest.approx(0.012)
    assert np.isclose(r, 0.043, atol=1e-6).any()
    # Count teeth as runs of tip vertices around the circle.
    tips = np.sort(
        np.unique(np.round(np.arctan2(v[np.isclose(r, 0.05), 1], v[np.isclose(r, 0.05), 0]), 6))
    )
    gaps = np.diff(np.r_[tips, tips[0] + 2 * np.pi])
    expected = round(2 * 0.05 / 0.004) - 2
    assert (gaps > 0.25 * 2 * np.pi / expected).sum() == expected == gear_teeth(0.05, 0.004)
    solid = build_product("gear", {**p, "bore_radius": 0.0})[0]
    assert radial(solid.mesh.vertices.astype(np.float64)).min() == pytest.approx(0.0)


def inside_triangles(point_xy, tri_xy) -> bool:
    a, b, c = tri_xy[:, 0], tri_xy[:, 1], tri_xy[:, 2]

    def side(p, q, r):
        return (q[:, 0] - p[:, 0]) * (r[1] - p[:, 1]) - (q[:, 1] - p[:, 1]) * (r[0] - p[:, 0])

    s1, s2, s3 = side(a, b, point_xy), side(b, c, point_xy), side(c, a, point_xy)
    return bool(np.any(((s1 >= 0) & (s2 >= 0) & (s3 >= 0)) | ((s1 <= 0) & (s2 <= 0) & (s3 <= 0))))


def test_bracket_plates_and_holes():
    p = {"length": 0.1, "width": 0.05, "height": 0.07, "thickness": 0.005, "hole_radius": 0.004}
    (part,) = build_product("bracket", p)
    m = part.mesh
    v = m.vertices.astype(np.float64)
    assert np.allclose(union_bounds([part]), [[-0.05, -0.025, 0], [0.05, 0.025, 0.07]], atol=1e-6)
    # The base's top face (z = thickness, facing up) leaves holes: round(0.05 / 0.02) = 2 of
    # them centred across the width, at the middle of the base beyond the upright.
    tri = v[m.faces]
    top = np.all(np.isclose(tri[:, :, 2], 0.005), axis=1) & (m.normals[m.faces[:, 0], 2] > 0.99)
    hole_x = (-0.05 + 0.005 + 0.05) / 2
    for y in (-0.0125, 0.0125):
        assert not inside_triangles((hole_x, y), tri[top][:, :, :2])
    assert inside_triangles((hole_x, 0.0), tri[top][:, :, :2])
    assert inside_triangles((hole_x + 0.006, 0.0125), tri[top][:, :, :2])
    # The upright stands at the -x end, `thickness` thick.
    tall = v[:, 2] > 0.01
    assert v[tall, 0].min() == pytest.approx(-0.05) and v[tall, 0].max() == pytest.approx(-0.045)


def test_unknown_kind_param_and_slot_name_the_allowed_ones():
    with pytest.raises(ValueError, match="bottle.*bracket|bracket.*bottle"):
        build_product("teapot", {}, {})
    with pytest.raises(ValueError, match="neck_radius"):
        build_product("bottle", {"neck_radus": 0.01}, {})
    with pytest.raises(ValueError, match="neck_radus"):
        product_bounds("bottle", {"neck_radus": 0.01})
    with pytest.raises(ValueError, match="cap"):
        build_product("bottle", {}, {"lid": Material()})


def test_impossible_dimensions_raise():
    with pytest.raises(ValueError, match="neck"):
        build_product("bottle", {"neck_radius": 0.05, "radius": 0.03})
    with pytest.raises(ValueError, match="height"):
        product_bounds("bottle", {"height": 0.05})
    with pytest.raises(ValueError):
        build_product("gear", {"root_radius": 0.05, "outer_radius": 0.04})


def test_given_materials_are_used_and_missing_slots_get_defaults():
    mine = Material(base_color=(0.1, 0.2, 0.3))
    body, cap, label = build_product("bottle", {}, {"cap": mine})
    assert cap.material is mine
    assert body.material is default_material("bottle", "body")
    tex = label.material.texture
    assert tex is not None and tex.dtype == np.uint8 and tex.ndim == 3 and tex.shape[2] == 3
    assert label.material.texture_key is not None
    assert not math.isclose(body.material.base_color[0], 0.1)
