"""Sequences: frames linked by physics on a moving belt, seen by a synchronized rig."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from groundforge.run.batch import generate
from groundforge.world.build import open_scene
from groundforge.world.sequence import SequenceSampler

SCENE = """\
name: seq
seed: 5
classes: [can, carton]
assets:
  can: {class: can, product: can}
  carton: {class: carton, product: box}
sequence: {fps: 10, frames: 8}
environment:
  belt: {length: 2.0, width: 0.5, height: 0.8, speed_mps: 0.3}
objects:
  - {asset: carton, count: 2, region: [-0.6, 0.2, -0.2, 0.2]}
  - asset: {dist: choice, values: [can, carton]}
    count: 3
    spawn: {interval_s: 0.3, lanes: [-0.1, 0.1], drop_height_m: 0.02}
lights:
  - {type: directional, elevation_deg: 55, azimuth_deg: 120, intensity: 2.0}
  - {type: ambient, intensity: 0.3}
cameras:
  - {name: top, resolution: [96, 72], fov_deg: 70, position: [0, 0, 1.8], look_at: [0, 0, 0.8],
     up: [0, 1, 0]}
  - {name: side, resolution: [96, 72], fov_deg: 60, position: [0.2, -1.4, 1.3],
     look_at: [0, 0, 0.85], frame_divisor: 2}
"""


@pytest.fixture(scope="module")
def scene_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("seq") / "seq.yaml"
    path.write_text(SCENE)
    return path


@pytest.fixture(scope="module")
def dataset(scene_file, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("seqdata") / "out"
    generate(scene_file, out, count=2)
    return out


def annotations(root: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(root.glob("annotations/*/*.json"))]


def world_pose(annotation: dict, obj: dict) -> np.ndarray:
    camera_to_world = np.linalg.inv(np.array(annotation["camera"]["world_to_camera"]))
    return camera_to_world @ np.array(obj["camera_from_object"])


def test_frames_are_numbered_per_sequence_and_cameras_follow_their_divisor(dataset):
    records = annotations(dataset)
    top = sorted(
        (r["sequence"], r["frame"], r["shot"]) for r in records if r["camera"]["name"] == "top"
    )
    assert top == [(s, f, s * 8 + f) for s in range(2) for f in range(8)]
    side_frames = {r["frame"] for r in records if r["camera"]["name"] == "side"}
    assert side_frames == {0, 2, 4, 6}


def test_every_camera_sees_frame_k_at_one_timestamp_and_one_pose(dataset):
    by_shot: dict[int, list[dict]] = {}
    for r in annotations(dataset):
        by_shot.setdefault(r["shot"], []).append(r)
    compared = 0
    for records in by_shot.values():
        assert len({r["timestamp"] for r in records}) == 1
        assert records[0]["timestamp"] == pytest.approx(records[0]["frame"] / 10)
        poses: dict[int, list[np.ndarray]] = {}
        for r in records:
            for obj in r["objects"]:
                poses.setdefault(obj["instance_id"], []).append(world_pose(r, obj))
        for seen in poses.values():
            for pose in seen[1:]:
                assert np.allclose(pose, seen[0], atol=1e-9)
                compared += 1
    assert compared > 0


def test_projected_centre_lies_in_the_visible_box_of_every_camera_that_sees_it(dataset):
    checked = 0
    for r in annotations(dataset):
        K = np.array(r["camera"]["K"])
        w2c = np.array(r["camera"]["world_to_camera"])
        for obj in r["objects"]:
            if obj["pixel_count"] == 0 or obj["visible_fraction"] < 0.98 or obj["truncated"]:
                continue
            corners_world = (world_pose(r, obj) @ np.c_[local_corners(obj), np.ones(8)].T).T
            centre = corners_world[:, :3].mean(axis=0)
            x = w2c[:3, :3] @ centre + w2c[:3, 3]
            u, v = (K @ x)[:2] / x[2]
            left, top, width, height = obj["bbox_visible"]
            assert left <= u <= left + width and top <= v <= top + height
            checked += 1
    assert checked > 0


def local_corners(obj: dict) -> np.ndarray:
    """The 8 box corners in the object frame, from the camera-frame corners and pose."""
    cam_from_obj = np.array(obj["camera_from_object"])
    corners_cam = np.array(obj["corners_3d"])
    return (np.linalg.inv(cam_from_obj) @ np.c_[corners_cam, np.ones(8)].T).T[:, :3]


def test_products_on_the_running_belt_move_with_it(scene_file):
    scene = open_scene(scene_file).scene
    worlds = SequenceSampler(scene, 5).worlds(0)
    # The cartons placed at the start rest on the belt: between late frames they move 0.3 m/s
    # times 0.1 s along the belt, as long as nothing touches them.
    first = {b.instance_id: b for b in worlds[4].objects}
    later = {b.instance_id: b for b in worlds[5].objects}
    for i in (1, 2):
        step = later[i].object_to_world[:3, 3] - first[i].object_to_world[:3, 3]
        assert step[0] == pytest.approx(0.03, abs=0.001)
        assert abs(step[1]) < 0.001 and abs(step[2]) < 0.001
        assert first[i].velocity[0] == pytest.approx(0.3, abs=0.01)


def test_arrivals_appear_over_time_with_new_ids(scene_file):
    scene = open_scene(scene_file).scene
    worlds = SequenceSampler(scene, 5).worlds(0)
    counts = [len(w.objects) for w in worlds]
    assert counts[0] == 3  # two placed cartons and the first arrival at t = 0
    assert counts == sorted(counts) and counts[-1] == 5
    ids = [{b.instance_id for b in w.objects} for w in worlds]
    assert all(a <= b for a, b in zip(ids, ids[1:], strict=False))


def test_next_pose_is_the_following_frames_pose(scene_file):
    scene = open_scene(scene_file).scene
    worlds = SequenceSampler(scene, 5).worlds(1)
    for now, following in zip(worlds, worlds[1:], strict=False):
        poses = {b.instance_id: b.object_to_world for b in following.objects}
        for body in now.objects:
            if body.instance_id in poses:
                assert np.array_equal(body.next_object_to_world, poses[body.instance_id])
    assert all(b.next_object_to_world is None for b in worlds[-1].objects)


def test_two_workers_give_the_sequences_of_one(dataset, scene_file, tmp_path):
    parallel = tmp_path / "parallel"
    generate(scene_file, parallel, count=2, workers=2)
    for path in sorted(dataset.glob("annotations/*/*.json")):
        assert (parallel / path.relative_to(dataset)).read_bytes() == path.read_bytes()
    for path in sorted(dataset.glob("images/*/*.png")):
        assert (parallel / path.relative_to(dataset)).read_bytes() == path.read_bytes()


def test_flow_files_follow_the_products(dataset):
    from groundforge.export.flow import load_flow

    records = {(r["camera"]["name"], r["shot"]): r for r in annotations(dataset)}
    checked = 0
    for (camera, shot), record in sorted(records.items()):
        following = records.get((camera, shot + 1))
        if record["frame"] == 7:
            assert "flow" not in record  # the last frame has no next frame
            continue
        flow = load_flow(dataset / record["flow"])
        assert flow.shape == (72, 96, 2) and np.isfinite(flow).all()
        if camera != "top" or following is None:
            continue
        instance = np.asarray(Image.open(dataset / "instance" / camera / f"{shot:06d}.png"))
        K = np.array(record["camera"]["K"])
        next_objects = {o["instance_id"]: o for o in following["objects"]}
        for obj in record["objects"]:
            later = next_objects.get(obj["instance_id"])
            if later is None or obj["visible_fraction"] < 0.98 or obj["truncated"]:
                continue
            # The projected motion of the box centre against the mean flow of its pixels.
            now = K @ np.array(obj["center_3d"])
            then = K @ np.array(later["center_3d"])
            expected = then[:2] / then[2] - now[:2] / now[2]
            mean = flow[instance == obj["instance_id"]].mean(axis=0)
            assert np.allclose(mean, expected, atol=0.5)
            checked += 1
    assert checked > 0


def test_video_manifests_name_files_that_exist(dataset):
    for name in ("video-input.jsonl", "video-tracking.jsonl", "video-detection.jsonl"):
        lines = [json.loads(x) for x in (dataset / name).read_text().splitlines()]
        assert len(lines) == 4  # 2 sequences x 2 cameras
        for line in lines:
            for key, value in line.items():
                if key == "source-ref" or key.endswith("-ref"):
                    assert (dataset / value).is_file(), value
    for line in (dataset / "manifest.jsonl").read_text().splitlines():
        record = json.loads(line)
        if "flow-ref" in record:
            assert (dataset / record["flow-ref"]).is_file()
    assert sorted(p.name for p in (dataset / "previews" / "top").iterdir()) == [
        "000000.mp4",
        "000001.mp4",
    ]


def test_dataset_json_records_the_timing_and_the_rig(dataset):
    info = json.loads((dataset / "dataset.json").read_text())
    assert info["sequence"]["fps"] == 10
    assert info["sequence"]["frames_per_sequence"] == 8
    assert info["sequence"]["frame_timestamps"] == [f / 10 for f in range(8)]
    assert info["sequence"]["frame_divisors"] == {"top": 1, "side": 2}
    assert [c["name"] for c in info["cameras"]] == ["top", "side"]
    assert info["counts"]["incomplete_shots"] == []


GUIDED = """\
name: guided
classes: [carton]
assets:
  carton: {class: carton, product: box, params: {width: 0.06, depth: 0.06, height: 0.08}}
sequence: {fps: 10, frames: 40}
environment:
  belt:
    length: 2.4
    width: 0.5
    speed_mps: 0.5
    guides: [{start: [-0.6, -0.22], end: [0.4, 0.02]}]
objects:
  - asset: carton
    count: 1
    yaw_deg: 0
    spawn: {lanes: [-0.15]}
lights: [{type: ambient}]
cameras: [{name: cam, resolution: [32, 24], fov_deg: 60, position: [0, 0, 2], look_at: [0, 0, 0.8]}]
"""


def test_an_angled_guide_steers_products_across_the_belt(tmp_path):
    (tmp_path / "guided.yaml").write_text(GUIDED)
    scene = open_scene(tmp_path / "guided.yaml").scene
    worlds = SequenceSampler(scene, 0).worlds(0)
    assert any(b.name == "guide0" for b in worlds[0].bodies)
    start = worlds[0].objects[0].object_to_world[:3, 3]
    assert start[1] == pytest.approx(-0.15, abs=1e-9)
    # Past the guide's end (x = 0.4) the carton rides on the guide's upper side: its centre is
    # at least half its depth and half the guide's thickness above the guide's end, y = 0.02.
    past = [
        w.objects[0].object_to_world[:3, 3]
        for w in worlds
        if w.objects and w.objects[0].object_to_world[0, 3] > 0.45
    ]
    assert past, "the carton reaches the end of the guide"
    assert past[0][1] >= 0.02 + 0.03 + 0.005 - 0.002


def test_scenery_keeps_its_shape_through_a_sequence(scene_file, tmp_path):
    text = scene_file.read_text().replace(
        "environment:\n", "environment:\n  walls: {distance: {dist: uniform, min: 2, max: 4}}\n"
    )
    (tmp_path / "walls.yaml").write_text(text)
    worlds = SequenceSampler(open_scene(tmp_path / "walls.yaml").scene, 5).worlds(0)
    shapes = {
        tuple(np.concatenate([p.mesh.vertices.ravel() for p in b.parts]).round(9))
        for w in worlds
        for b in w.bodies
        if b.name == "walls"
    }
    assert len(shapes) == 1


def test_previews_hold_every_frame_each_camera_rendered(dataset):
    import imageio_ffmpeg

    for camera, frames in (("top", 8), ("side", 4)):
        reader = imageio_ffmpeg.read_frames(str(dataset / "previews" / camera / "000001.mp4"))
        meta = next(reader)
        assert tuple(meta["size"]) == (96, 72)
        assert sum(1 for _ in reader) == frames


PUSHED = (
    GUIDED.replace(
        "    guides: [{start: [-0.6, -0.22], end: [0.4, 0.02]}]",
        "    pushers: [{x: -0.5, side: '-y', times_s: [1.65], stroke_s: 1.6, width: 0.2}]",
    )
    .replace("speed_mps: 0.5", "speed_mps: 0.3")
    .replace("lanes: [-0.15]", "lanes: [0.0]")
)


def test_a_pusher_sweeps_a_product_off_the_far_side(tmp_path):
    (tmp_path / "pushed.yaml").write_text(PUSHED)
    scene = open_scene(tmp_path / "pushed.yaml").scene
    worlds = SequenceSampler(scene, 0).worlds(0)
    paddle = [
        next(b for b in w.bodies if b.name == "pusher0").object_to_world[1, 3] for w in worlds
    ]
    assert paddle[0] == pytest.approx(-(0.5 / 2 - 0.01))  # at rest inside the -y edge
    # Swept across to the +y edge and no further (frames sample the stroke, not its peak).
    assert 0.2 < max(paddle) <= 0.5 / 2 - 0.01 + 1e-9
    assert paddle[-1] == pytest.approx(paddle[0])
    # The carton rides to the pusher (x = -1.15 + 0.3 t reaches -0.5 near t = 2.2 s), is swept
    # across to +y, through the opening in the +y rail, and falls off the belt.
    before = worlds[15].objects[0].object_to_world[:3, 3]
    assert before[1] == pytest.approx(0.0, abs=0.005) and before[2] > 0.79
    after = worlds[-1].objects[0].object_to_world[:3, 3]
    assert after[1] > 0.25 + 0.03 and after[2] < 0.5


def test_physics_takes_each_assets_density(scene_file, tmp_path):
    text = scene_file.read_text().replace(
        "carton: {class: carton, product: box}",
        "carton: {class: carton, product: box, density: 90}",
    )
    (tmp_path / "dense.yaml").write_text(text)
    sampler = SequenceSampler(open_scene(tmp_path / "dense.yaml").scene, 5)
    speed = sampler.speed_profile(0)
    arrivals = sampler.arrivals(0, sample_belt_of(sampler), speed)
    densities = {a.body.name: sampler._spawn(a, None, speed).density for a in arrivals}
    assert densities["carton"] == 90
    assert densities.get("can", 400.0) == 400.0


def sample_belt_of(sampler):
    from groundforge.sampling.seeds import rng_for
    from groundforge.world.scenery import sample_belt

    return sample_belt(sampler.scene.environment.belt, rng_for(sampler.seed, 0, "scenery"))
