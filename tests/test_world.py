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
            assert v[:, 2].min() == pytest.approx(belt.height, abs=1e-5)
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
