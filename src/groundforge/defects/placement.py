"""Faulty placement: a product tipped over, turned out of tolerance, off its lane, or doubled
(a second one touching it or stacked on it). Each returns the body moved, with the fault
recorded in its `defects` (defect id 0: a fault has no pixels of its own)."""

from __future__ import annotations

import dataclasses

import numpy as np

from groundforge.world.geometry import axis_angle
from groundforge.world.state import Body, Defect


def _world_corners(body: Body, pose: np.ndarray | None = None) -> np.ndarray:
    pose = body.object_to_world if pose is None else pose
    return body.corners() @ pose[:3, :3].T + pose[:3, 3]


def _turned(body: Body, rotation: np.ndarray) -> np.ndarray:
    """The pose of `body` turned by `rotation` (world frame) about its box centre, set back
    down so its lowest corner is as low as before."""
    pose = np.asarray(body.object_to_world, np.float64)
    corners = _world_corners(body)
    centre = corners.mean(axis=0)
    turned = np.eye(4)
    turned[:3, :3] = rotation @ pose[:3, :3]
    turned[:3, 3] = rotation @ (pose[:3, 3] - centre) + centre
    lift = corners[:, 2].min() - _world_corners(body, turned)[:, 2].min()
    turned[2, 3] += lift
    return turned


def _with_fault(body: Body, pose: np.ndarray, name: str, kind: str, severity, params) -> Body:
    fault = Defect(0, name, kind, round(float(severity), 6), params)
    return dataclasses.replace(body, object_to_world=pose, defects=body.defects + (fault,))


def up_axis_deg(object_to_world: np.ndarray) -> float:
    """Angle between the object's z axis and world up, degrees."""
    z = np.asarray(object_to_world, np.float64)[:3, 2]
    return float(np.degrees(np.arccos(np.clip(z[2] / np.linalg.norm(z), -1.0, 1.0))))


def tipped(body, name, severity, angle_deg, rng) -> Body:
    """Fallen over: turned about a horizontal axis by `angle_deg` (default 90)."""
    angle = np.radians(90.0 if angle_deg is None else angle_deg)
    heading = rng.uniform(0, 2 * np.pi)
    axis = np.array([np.cos(heading), np.sin(heading), 0.0])
    pose = _turned(body, axis_angle(axis, angle))
    params = {"up_axis_deg": round(up_axis_deg(pose), 3)}
    return _with_fault(body, pose, name, "tipped", severity, params)


def rotated(body, name, severity, angle_deg, rng) -> Body:
    """Turned about the vertical beyond tolerance: by `angle_deg` (default 20-90 degrees,
    either way)."""
    angle = rng.uniform(20.0, 90.0) * rng.choice((-1, 1)) if angle_deg is None else angle_deg
    pose = _turned(body, axis_angle(np.array([0.0, 0.0, 1.0]), np.radians(angle)))
    return _with_fault(body, pose, name, "rotated", severity, {"yaw_error_deg": round(angle, 3)})


def off_centre(body, name, severity, offset_m, lateral: np.ndarray, rng) -> Body:
    """Shifted sideways (along the unit world vector `lateral`) by `offset_m` (default
    3-8 cm either way)."""
    offset = rng.uniform(0.03, 0.08) * rng.choice((-1, 1)) if offset_m is None else offset_m
    pose = np.asarray(body.object_to_world, np.float64).copy()
    pose[:3, 3] += offset * np.asarray(lateral, np.float64)
    return _with_fault(body, pose, name, "off_centre", severity, {"offset_m": round(offset, 6)})


def missing(body, name, severity) -> Body:
    """Left out of its place (a gap in a row, tray or pack): the body keeps its pose and its
    parts as `clean_parts`, so labels can say where it should be, but has nothing to draw."""
    fault = Defect(0, name, "missing", round(float(severity), 6), {})
    return dataclasses.replace(
        body, parts=(), clean_parts=body.shadow_parts, defects=body.defects + (fault,)
    )


def doubled(body, name, severity, partner_id: int, rng) -> tuple[Body, Body]:
    """A second product of the same kind touching this one side by side, or stacked on it."""
    pose = np.asarray(body.object_to_world, np.float64)
    corners = _world_corners(body)
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    twin = pose.copy()
    how = "stacked" if rng.random() < 0.5 else "touching"
    if how == "stacked":
        twin[2, 3] += hi[2] - lo[2]
    else:
        heading = rng.uniform(0, 2 * np.pi)
        direction = np.array([np.cos(heading), np.sin(heading), 0.0])
        # Far enough along `direction` for the boxes to meet: their support in that direction.
        reach = np.abs((corners - corners.mean(axis=0)) @ direction).max()
        twin[:3, 3] += direction * 2 * reach
    params = {"arrangement": how, "partner": int(partner_id)}
    first = _with_fault(body, pose, name, "doubled", severity, params)
    second = dataclasses.replace(body, instance_id=int(partner_id), object_to_world=twin)
    second = _with_fault(
        second, twin, name, "doubled", severity, {**params, "partner": int(body.instance_id)}
    )
    return first, second
