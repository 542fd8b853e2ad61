"""Invalid scene files: every one gets a message naming the file and field, exit status 2, and
no output at all."""

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from groundforge.cli import app
from groundforge.spec.errors import SceneError
from groundforge.spec.load import format_path, parse_scene

VALID = """\
name: t
classes: [box]
assets:
  crate: {class: box, product: box}
objects:
  - {asset: crate, count: 2, surface: floor}
lights:
  - {type: directional}
cameras:
  - {name: cam, resolution: [64, 48], fov_deg: 60, position: [0, -2, 1.5], look_at: [0, 0, 0]}
"""


def scene_text(**replace: str) -> str:
    text = VALID
    for old, new in replace.items():
        text = text.replace(old.replace("_", " "), new)
    return text


def run_generate(tmp_path: Path, text: str | None, scene_arg: str | None = None):
    scene = tmp_path / "scene.yaml"
    if text is not None:
        scene.write_text(text)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["generate", "--scene", scene_arg or str(scene), "--out", str(out), "--count", "1"]
    )
    return result, out


CASES = {
    "unknown field": (
        VALID.replace("count: 2", "count: 2, colour: red"),
        "objects[0].colour",
        "unknown field",
    ),
    "wrong type": (VALID.replace("count: 2", "count: many"), "objects[0].count", "integer"),
    "negative size": (
        VALID.replace("product: box}", "product: box, params: {width: -0.2}}"),
        "assets.crate.params.width",
        "greater than or equal to 0",
    ),
    "negative size in a distribution": (
        VALID.replace("product: box}", "product: box, scale: {dist: uniform, min: -1, max: 2}}"),
        "assets.crate.scale.min",
        "greater than 0",
    ),
    "missing mesh file": (
        VALID.replace("product: box}", "mesh: parts/crate.stl}"),
        "assets.crate.mesh",
        "does not exist",
    ),
    "empty class list": (VALID.replace("[box]", "[]"), "classes", "at least 1"),
    "class not declared": (
        VALID.replace("class: box", "class: bin"),
        "assets.crate.class",
        "not in `classes`",
    ),
    "broken YAML": (VALID.replace("[box]", "[box"), "", "not valid YAML"),
    "unknown product parameter": (
        VALID.replace("product: box}", "product: box, params: {girth: 0.2}}"),
        "assets.crate.params.girth",
        "no parameter",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_invalid_scene_is_refused_with_its_field_path(tmp_path, case):
    text, path, words = CASES[case]
    result, out = run_generate(tmp_path, text)
    assert result.exit_code == 2, result.output
    assert str(tmp_path / "scene.yaml") in result.output
    if path:
        assert f"{path}:" in result.output
    assert words in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_scene_path_that_does_not_exist(tmp_path):
    result, out = run_generate(tmp_path, None, scene_arg=str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2
    assert "nope.yaml" in result.output and "no such file" in result.output
    assert "conveyor" in result.output  # the built-ins are offered instead
    assert not out.exists()


def test_process_exits_2_without_traceback(tmp_path):
    scene = tmp_path / "scene.yaml"
    scene.write_text(VALID.replace("count: 2", "count: -3"))
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "groundforge.cli",
            "generate",
            "--scene",
            str(scene),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "objects[0].count" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not out.exists()


def test_existing_folder_of_other_files_is_left_alone(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    scene = tmp_path / "scene.yaml"
    scene.write_text(VALID)
    result = CliRunner().invoke(app, ["generate", "--scene", str(scene), "--out", str(out)])
    assert result.exit_code == 2
    assert "not empty" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    assert (out / "keep.txt").read_text() == "precious"


def test_every_problem_is_reported_at_once():
    text = VALID.replace("count: 2", "count: -1").replace("fov_deg: 60", "fov_deg: 500")
    with pytest.raises(SceneError) as info:
        parse_scene(text, "scene.yaml")
    paths = {p.path for p in info.value.problems}
    assert {"objects[0].count", "cameras[0].fov_deg"} <= paths


def test_normal_distribution_is_refused_for_a_bounded_field():
    text = VALID.replace("product: box}", "product: box, scale: {dist: normal, mean: 1, std: 0.1}}")
    with pytest.raises(SceneError) as info:
        parse_scene(text, "scene.yaml")
    assert info.value.problems[0].path == "assets.crate.scale"
    assert "truncnormal" in info.value.problems[0].message


def test_reversed_range_and_mismatched_weights_are_named():
    text = VALID.replace(
        "product: box}", "product: box, scale: {dist: uniform, min: 2, max: 1}}"
    ).replace("asset: crate,", "asset: {dist: choice, values: [crate], weights: [1, 2]},")
    with pytest.raises(SceneError) as info:
        parse_scene(text, "scene.yaml")
    problems = {p.path: p.message for p in info.value.problems}
    assert "below min" in problems["assets.crate.scale"]
    assert "one weight per value" in problems["objects[0].asset"]


def test_field_path_drops_union_tags():
    assert format_path(("objects", 2, "scale", "uniform", "min")) == "objects[2].scale.min"
    assert format_path(("cameras", 0, "fov_deg", "constant", "value")) == "cameras[0].fov_deg"


def test_valid_scene_parses_with_distributions():
    text = VALID.replace("count: 2", "count: {dist: randint, min: 1, max: 4}")
    scene = parse_scene(text, "scene.yaml")
    assert scene.class_id("box") == 1
    assert scene.objects[0].count.support() == (1, 4)


def test_scenes_lists_the_built_ins():
    result = CliRunner().invoke(app, ["scenes"])
    assert result.exit_code == 0
    names = [line.split()[0] for line in result.output.splitlines()]
    assert names == ["bin-picking", "bottle-inspection", "conveyor", "conveyor-sequence"]


def test_validate_reports_a_valid_scene_and_writes_nothing(tmp_path):
    scene = tmp_path / "scene.yaml"
    scene.write_text(VALID)
    result = CliRunner().invoke(app, ["validate", str(scene)])
    assert result.exit_code == 0
    assert "valid (1 classes, 1 assets, 1 cameras)" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene.yaml"]


def test_validate_reports_every_problem_with_status_2(tmp_path):
    scene = tmp_path / "scene.yaml"
    scene.write_text(VALID.replace("count: 2", "count: -2").replace("[64, 48]", "[64]"))
    result = CliRunner().invoke(app, ["validate", str(scene)])
    assert result.exit_code == 2
    assert "objects[0].count:" in result.output and "cameras[0].resolution" in result.output


def test_shutter_time_needs_a_sequence_and_at_most_a_frame():
    still = VALID.replace("look_at: [0, 0, 0]}", "look_at: [0, 0, 0], shutter_s: 0.01}")
    with pytest.raises(SceneError) as info:
        parse_scene(still, "scene.yaml")
    assert info.value.problems[0].path == "cameras[0].shutter_s"
    video = still.replace("shutter_s: 0.01", "shutter_s: 0.2") + "sequence: {fps: 10, frames: 3}\n"
    with pytest.raises(SceneError) as info:
        parse_scene(video, "scene.yaml")
    assert "at most one frame" in info.value.problems[0].message
    parse_scene(video.replace("shutter_s: 0.2", "shutter_s: 0.05"), "scene.yaml")
