"""Camera poses and placement geometry."""

import numpy as np

from groundforge.world.geometry import look_at, rects_overlap, rotation_z


def test_look_at_puts_target_on_the_optical_axis():
    w2c = look_at((1.0, -2.0, 1.5), (0.2, 0.3, 0.8))
    target = w2c @ np.array([0.2, 0.3, 0.8, 1.0])
    distance = np.linalg.norm(np.subtract((1.0, -2.0, 1.5), (0.2, 0.3, 0.8)))
    assert np.allclose(target[:3], (0.0, 0.0, distance))


def test_look_at_is_opencv_x_right_y_down():
    # Looking along +Y with Z up: world +X is image right, world +Z is image up (-y).
    w2c = look_at((0, 0, 0), (0, 1, 0))
    assert np.allclose(w2c[:3, :3] @ [1, 0, 0], [1, 0, 0])
    assert np.allclose(w2c[:3, :3] @ [0, 0, 1], [0, -1, 0])
    assert np.isclose(np.linalg.det(w2c[:3, :3]), 1.0)


def test_look_at_straight_down_is_well_defined():
    w2c = look_at((0, 0, 2), (0, 0, 0))
    assert np.allclose(w2c[:3, :3] @ [0, 0, -1], [0, 0, 1])
    assert np.isclose(np.linalg.det(w2c[:3, :3]), 1.0)


def square(cx, cy, half, angle=0.0):
    corners = np.array([[-half, -half], [half, -half], [half, half], [-half, half]])
    return corners @ rotation_z(angle)[:2, :2].T + (cx, cy)


def test_rects_overlap_separated_and_touching_diamond():
    assert rects_overlap(square(0, 0, 1), square(1.5, 0, 1))
    assert not rects_overlap(square(0, 0, 1), square(2.5, 0, 1))
    # A diamond whose tip is 0.1 from the square's edge: boxes overlap, shapes do not.
    diamond = square(1 + np.sqrt(2) + 0.1, 0, 1, np.pi / 4)
    assert not rects_overlap(square(0, 0, 1), diamond)
