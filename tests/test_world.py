"""Sampling worlds from the built-in conveyor scene: reproducible, resting, not interpenetrating."""

import numpy as np
import pytest
from scipy.spatial import Delaunay

from groundforge.world.build import SceneSampler, open_scene


@pytest.fixture(scope="module")
def conveyor():
    return open_scene("conveyor").scene


def world_vertices(body):
    pts = np.concatenate([p.mesh.vertices for p in body.parts]).astype(np.float64)
    return pts @ body.object_to_world[:3, :3].T + body.object_to_world[:3, 3]


def test_same_seed_and_shot_give_the_same_world(conveyor):
    a = SceneSampler(conveyor, 5).world(12)
    sampler = SceneSampler(conveyor, 5)
    for shot in range(5):  # other shots first: shot 12 must not change
        sampler.world(shot)
    b = sampler.world(12)
    assert [o.name for o in a.objects] == [o.name for o in b.objects]
    for x, y in zip(a.objects, b.objects, strict=True):
        assert np.array_equal(x.object_to_world, y.object_to_world)
        assert np.array_equal(world_vertices(x), world_vertices(y))
    for ca, cb in zip(a.cameras, b.cameras, strict=True):
        assert np.array_equal(ca.world_to_camera, cb.world_to_camera)
        assert ca.sensor == cb.sensor


def test_different_shots_differ(conveyor):
    sampler = SceneSampler(conveyor, 5)
    a, b = sampler.world(1), sampler.world(2)
    assert [o.object_to_world.tobytes() for o in a.objects] != [
        o.object_to_world.tobytes() for o in b.objects
    ]


def test_products_rest_on_the_belt_inside_their_region(conveyor):
    belt = conveyor.environment.belt
    for shot in range(10):
        world = SceneSampler(conveyor, 3).world(shot)
        assert world.objects, "every shot has products"
        assert [o.instance_id for o in world.objects] == list(range(1, len(world.objects) + 1))
        for body in world.objects:
            v = world_vertices(body)
            assert v[:, 2].min() == pytest.approx(belt.height.support()[0], abs=1e-5)
            assert v[:, 0].min() >= -0.75 - 1e-6 and v[:, 0].max() <= 0.75 + 1e-6
            assert v[:, 1].min() >= -0.26 - 1e-6 and v[:, 1].max() <= 0.26 + 1e-6


def test_footprints_never_overlap(conveyor):
    # Rasterise every footprint (convex hull of the projected vertices) on a 2 mm grid.
    xs, ys = np.meshgrid(np.arange(-0.8, 0.8, 0.002), np.arange(-0.3, 0.3, 0.002))
    grid = np.stack([xs.ravel(), ys.ravel()], axis=1)
    for shot in range(8):
        world = SceneSampler(conveyor, 11).world(shot)
        covered = np.zeros(len(grid), dtype=int)
        for body in world.objects:
            covered += Delaunay(world_vertices(body)[:, :2]).find_simplex(grid) >= 0
        assert covered.max() <= 1, f"shot {shot}: two products share floor space"


def test_class_ids_follow_the_class_list(conveyor):
    world = SceneSampler(conveyor, 0).world(0)
    for body in world.objects:
        assert body.class_id == conveyor.classes.index(body.class_name) + 1


MESH_SCENE = """\
name: parts
classes: [bracket]
assets:
  part: {class: bracket, mesh: meshes/part.stl, scale: 0.001}
objects:
  - {asset: part, count: 3, surface: floor, region: [-0.5, 0.5, -0.5, 0.5]}
lights: [{type: ambient}]
cameras: [{name: cam, resolution: [64, 48], fov_deg: 60, position: [0, -2, 2], look_at: [0, 0, 0]}]
"""


def test_mesh_file_asset_is_found_next_to_the_scene_scaled_and_resting(tmp_path):
    import trimesh

    (tmp_path / "meshes").mkdir()
    box = trimesh.creation.box(extents=(40.0, 20.0, 10.0))  # millimetres, centred on 0
    box.export(tmp_path / "meshes" / "part.stl")
    (tmp_path / "scene.yaml").write_text(MESH_SCENE)
    scene = open_scene(tmp_path / "scene.yaml").scene
    world = SceneSampler(scene, 0).world(0)
    assert len(world.objects) == 3
    for body in world.objects:
        v = world_vertices(body)
        assert v[:, 2].min() == pytest.approx(0.0, abs=1e-6)
        assert v[:, 2].max() == pytest.approx(0.010, abs=1e-6)
        # Turned about z by its yaw only: the footprint spans what a 40 x 20 mm box turned so
        # spans.
        rotation = body.object_to_world[:3, :3]
        yaw = np.arctan2(rotation[1, 0], rotation[0, 0])
        c, s = abs(np.cos(yaw)), abs(np.sin(yaw))
        span = v[:, :2].max(axis=0) - v[:, :2].min(axis=0)
        assert np.allclose(span, [0.04 * c + 0.02 * s, 0.04 * s + 0.02 * c], atol=1e-6)
        assert np.allclose(rotation[2], [0, 0, 1], atol=1e-9)
        assert body.class_name == "bracket" and body.class_id == 1


def test_unreadable_mesh_file_is_a_scene_error_naming_the_asset(tmp_path):
    from groundforge.spec.errors import SceneError

    (tmp_path / "meshes").mkdir()
    (tmp_path / "meshes" / "part.stl").write_bytes(b"not a mesh at all")
    (tmp_path / "scene.yaml").write_text(MESH_SCENE)
    with pytest.raises(SceneError) as info:
        open_scene(tmp_path / "scene.yaml")
    assert info.value.problems[0].path == "assets.part.mesh"
    assert "part.stl" in info.value.problems[0].message


def test_products_rest_on_a_belt_whose_height_varies(tmp_path):
    text = (
        MESH_SCENE.replace("mesh: meshes/part.stl, scale: 0.001", "product: box").replace(
            "surface: floor, region: [-0.5, 0.5, -0.5, 0.5]", "surface: belt"
        )
        + "environment:\n  belt: {height: {dist: uniform, min: 0.6, max: 1.0}, length: 2}\n"
    )
    (tmp_path / "scene.yaml").write_text(text)
    scene = open_scene(tmp_path / "scene.yaml").scene
    tops = set()
    for shot in range(5):
        world = SceneSampler(scene, 4).world(shot)
        belt = next(b for b in world.bodies if b.name == "belt")
        top = float(belt.parts[0].mesh.vertices[:, 2].max())  # the belt surface's top face
        tops.add(round(top, 6))
        assert 0.6 <= top <= 1.0
        for body in world.objects:
            assert world_vertices(body)[:, 2].min() == pytest.approx(top, abs=1e-5)
    assert len(tops) == 5


BIN_SCENE = """\
name: bin
classes: [can, carton]
assets:
  can: {class: can, product: can}
  carton: {class: carton, product: box, params: {width: 0.08, depth: 0.05, height: 0.1}}
environment:
  bins: [{position: [0.3, -0.2], yaw_deg: 30, size: [0.5, 0.35, 0.2], settle_s: 2.0}]
objects:
  - {asset: {dist: choice, values: [can, carton]}, count: 6, surface: bin}
lights: [{type: ambient}]
cameras:
  - {name: cam, resolution: [32, 24], fov_deg: 60, position: [0, -1, 1.5], look_at: [0, 0, 0]}
"""


def test_products_dropped_into_a_bin_settle_inside_it(tmp_path):
    (tmp_path / "bin.yaml").write_text(BIN_SCENE)
    scene = open_scene(tmp_path / "bin.yaml").scene
    world = SceneSampler(scene, 2).world(0)
    assert len(world.objects) == 6
    bin_body = next(b for b in world.bodies if b.name == "bin0")
    world_to_bin = np.linalg.inv(bin_body.object_to_world)
    inner = np.array([0.25 - 0.01, 0.175 - 0.01])
    for body in world.objects:
        v = world_vertices(body) @ world_to_bin[:3, :3].T + world_to_bin[:3, 3]
        assert np.all(np.abs(v[:, :2]) <= inner + 0.002), body.name
        assert v[:, 2].min() >= 0.01 - 0.002  # on the bin's bottom or on other products
        assert v[:, 2].max() <= 0.2 + 0.15  # a pile, not a tower
    again = SceneSampler(scene, 2).world(0)
    for a, b in zip(world.objects, again.objects, strict=True):
        assert np.array_equal(a.object_to_world, b.object_to_world)
