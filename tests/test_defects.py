"""Defects on demand: each changes only the pixels its mask claims, quotas come out exact and
independent of the number of workers, and placement faults show in the labels."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from groundforge.render.raster.engine import RasterEngine
from groundforge.run.batch import batch_plan, generate
from groundforge.spec.load import LoadedScene, parse_scene
from groundforge.world.build import SceneSampler

# Two labelled bottles under a shadow-casting light, close up from the front and from above.
SCENE = """\
name: defects
seed: 4
classes: [bottle]
materials:
  label:
    base_color: "#ffffff"
    texture: {kind: label, text: "TEST", barcode: true, color_a: "#f0eee6",
              color_b: "#203080", size: 256}
assets:
  bottle:
    class: bottle
    product: bottle
    materials: {body: {base_color: "#3a7040", roughness: 0.15}, label: label,
                cap: {base_color: "#a02020", metallic: 0.8, roughness: 0.3}}
environment:
  belt: {length: 1.0, width: 0.3, height: 0.8, rails: false, frame: false}
objects:
  - asset: bottle
    count: 2
    region: [-0.14, 0.14, -0.1, 0.1]
    yaw_deg: {dist: uniform, min: -40, max: 40}
lights:
  - {type: directional, intensity: 2.5, azimuth_deg: -110, elevation_deg: 50}
  - {type: spot, position: [0.3, -0.4, 1.4], look_at: [0, 0, 0.9], intensity: 0.8}
  - {type: ambient, intensity: 0.3}
cameras:
  - {name: front, resolution: [200, 150], fov_deg: 40, position: [0.0, -0.5, 1.0],
     look_at: [0, 0, 0.9]}
  - {name: top, resolution: [160, 120], fov_deg: 50, position: [0.0, -0.05, 1.45],
     look_at: [0, 0, 0.8], up: [0, 1, 0]}
"""

# Radiance is shaded into a half-float target: re-rendering the same surface from a refined
# mesh moves values by an ulp (2^-11 relative), far below one step of an 8-bit image.
CHANGED = 2e-3

SURFACE_KINDS = [
    "scratch",
    "crack",
    "stain",
    "dent",
    "hole",
    "missing_part",
    "misprint",
    "contamination",
]


def scene_with(defects: str = "") -> str:
    return SCENE + defects


@pytest.fixture(scope="module")
def engine():
    with RasterEngine(shadow_map_size=1024) as e:
        yield e


def worlds(text: str, shots: range):
    sampler = SceneSampler(parse_scene(text), seed=4)
    return [sampler.world(s) for s in shots]


@pytest.mark.parametrize("kind", SURFACE_KINDS)
def test_a_defect_changes_only_the_pixels_its_mask_claims(engine, kind):
    """Rendered with and without the defect from the same seed: every changed pixel lies in
    the defect pass dilated by one pixel, and the pass is empty only where nothing changed."""
    shots = range(6)
    defective = scene_with(f"defects:\n  bottle:\n    types: {{{kind}: 1.0}}\n")
    clean_worlds, defect_worlds = worlds(SCENE, shots), worlds(defective, shots)
    seen = 0
    for clean, broken in zip(clean_worlds, defect_worlds, strict=True):
        assert all(len(b.defects) == 1 for b in broken.objects)
        assert all(b.defects[0].kind == kind for b in broken.objects)
        for camera in clean.cameras:
            before = engine.render(clean, camera)
            after = engine.render(broken, camera)
            changed = np.abs(after.radiance - before.radiance).max(axis=2) > CHANGED
            mask = after.defect > 0
            grown = ndimage.binary_dilation(mask, structure=np.ones((3, 3), bool))
            assert not (changed & ~grown).any(), (
                f"{kind}, shot {clean.shot}, camera {camera.name}: "
                f"{int((changed & ~grown).sum())} changed pixels outside the mask"
            )
            if not mask.any():
                assert not changed.any()
            seen += bool(mask.any())
            assert before.defect.max() == 0
    assert seen > 0, f"no {kind} was ever in view"


def test_defect_ids_name_the_defects_of_the_world(engine):
    text = scene_with("defects:\n  bottle:\n    types: {stain: 1.0, scratch: 1.0}\n")
    world = worlds(text, range(1))[0]
    ids = [d.defect_id for b in world.objects for d in b.defects]
    assert sorted(ids) == list(range(1, 2 * len(world.objects) + 1))
    seen = set()
    for camera in world.cameras:
        seen |= set(np.unique(engine.render(world, camera).defect)) - {0}
    assert seen <= set(ids)


# --- quotas ----------------------------------------------------------------------------------

QUOTA = """\
defects:
  bottle:
    quota: 0.3
    types: {scratch: 0.4, dent: 0.4, missing_cap: {rate: 0.2, kind: missing_part, part: cap}}
"""
# One small top camera that sees the whole belt, so every product is in the annotations.
QUOTA_SCENE = (
    SCENE.replace("count: 2\n", "count: {dist: randint, min: 1, max: 4}\n")
    .replace("region: [-0.14, 0.14, -0.1, 0.1]", "region: [-0.4, 0.4, -0.12, 0.12]")
    .split("cameras:")[0]
    + """cameras:
  - {name: top, resolution: [32, 16], fov_deg: 80, position: [0.0, 0.0, 1.6],
     look_at: [0, 0, 0.8], up: [0, 1, 0], msaa: 1, sensor: {blur_sigma_px: 0}}
"""
    + QUOTA
)


def largest_remainder(total: int, shares: list[float]) -> list[int]:
    exact = [total * s / sum(shares) for s in shares]
    counts = [int(e) for e in exact]
    by_remainder = sorted(range(len(shares)), key=lambda i: (counts[i] - exact[i], i))
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def expected_split(products: int) -> dict[str, int]:
    total = int(np.floor(0.3 * products + 0.5))
    counts = largest_remainder(total, [0.4, 0.4, 0.2])
    return dict(zip(["scratch", "dent", "missing_cap"], counts, strict=True))


@pytest.fixture(scope="module")
def quota_scene(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("quota") / "scene.yaml"
    path.write_text(QUOTA_SCENE)
    return path


@pytest.mark.parametrize("units", [7, 50, 1000])
def test_quota_plan_is_exact_for_any_batch_size(quota_scene, units):
    from groundforge.spec.load import load_scene

    loaded: LoadedScene = load_scene(quota_scene)
    plan = batch_plan(loaded, 4, list(range(units)))
    sampler = SceneSampler(loaded.scene, 4)
    products = sum(len(sampler.roster(u)) for u in range(units))
    assert Counter(plan.values()) == {k: v for k, v in expected_split(products).items() if v}
    assert plan == batch_plan(loaded, 4, list(range(units)))  # reproducible from the seed


def labelled_defects(root: Path) -> tuple[int, set[tuple[int, int, str]]]:
    """(products in the annotations, {(shot, instance id, defect name)})."""
    products, defects = set(), set()
    for path in root.glob("annotations/top/*.json"):
        record = json.loads(path.read_text())
        for obj in record["objects"]:
            products.add((record["shot"], obj["instance_id"]))
            for d in obj["defects"] + obj["faults"]:
                defects.add((record["shot"], obj["instance_id"], d["name"]))
    return len(products), defects


@pytest.mark.parametrize("units", [7, 50, 1000])
def test_quotas_come_out_exactly_with_one_and_two_workers(quota_scene, tmp_path, units):
    found = {}
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        generate(quota_scene, out, count=units, workers=workers)
        products, defects = labelled_defects(out)
        counts = Counter(name for _, _, name in defects)
        assert counts == {k: v for k, v in expected_split(products).items() if v}
        found[workers] = defects
    assert found[1] == found[2]


def test_probabilities_without_a_quota_are_drawn_per_product(tmp_path):
    text = scene_with("defects:\n  bottle:\n    types: {stain: 0.5}\n")
    sampler = SceneSampler(parse_scene(text), seed=4)
    has = [bool(b.defects) for s in range(60) for b in sampler.world(s).objects]
    # 120 products at p = 0.5: outside 35-85 happens with probability below 1e-5.
    assert 35 <= sum(has) <= 85


# --- placement faults ------------------------------------------------------------------------


def up_axis_deg(object_to_world) -> float:
    z_axis = np.asarray(object_to_world)[:3, 2]
    return float(np.degrees(np.arccos(z_axis[2] / np.linalg.norm(z_axis))))


def test_a_tipped_product_is_told_by_its_pose(tmp_path):
    text = scene_with("defects:\n  bottle:\n    types: {tipped: 0.5}\n")
    (tmp_path / "scene.yaml").write_text(text)
    generate(tmp_path / "scene.yaml", tmp_path / "out", count=6)
    tipped = upright = 0
    for path in (tmp_path / "out").glob("annotations/top/*.json"):
        record = json.loads(path.read_text())
        for obj in record["objects"]:
            angle = up_axis_deg(obj["object_to_world"])
            if any(f["kind"] == "tipped" for f in obj["faults"]):
                assert angle > 45
                assert record["anomaly"] or obj["pixel_count"] == 0
                tipped += 1
            else:
                assert angle < 45
                upright += 1
    assert tipped and upright


def test_doubled_products_touch_or_stack(tmp_path):
    text = scene_with("defects:\n  bottle:\n    types: {doubled: 1.0}\n")
    world = worlds(text, range(1))[0]
    bodies = {b.instance_id: b for b in world.objects}
    assert len(bodies) == 4
    for body in bodies.values():
        (fault,) = body.defects
        partner = bodies[fault.params["partner"]]
        gap = np.linalg.norm(
            np.asarray(body.object_to_world)[:3, 3] - np.asarray(partner.object_to_world)[:3, 3]
        )
        size = np.linalg.norm(body.bounds[1] - body.bounds[0])
        assert 0 < gap <= size  # side by side or one on the other, never apart


def test_defect_sheet_has_a_tile_per_defect_type(tmp_path):
    from PIL import Image
    from typer.testing import CliRunner

    from groundforge.cli import app

    text = scene_with("defects:\n  bottle:\n    quota: 0.5\n    types: {stain: 1, tipped: 1}\n")
    (tmp_path / "scene.yaml").write_text(text)
    out = tmp_path / "sheet.png"
    result = CliRunner().invoke(
        app, ["defect-sheet", str(tmp_path / "scene.yaml"), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    with Image.open(out) as sheet:
        assert sheet.size == (4 * 192, 192)  # two tiles fill the first row of four
        tiles = np.asarray(sheet.convert("RGB"))
    assert tiles[:, :384].std() > 10 and tiles[:, 384:].std() == 0  # two tiles, then empty

    (tmp_path / "plain.yaml").write_text(SCENE)
    result = CliRunner().invoke(app, ["defect-sheet", str(tmp_path / "plain.yaml")])
    assert result.exit_code == 2 and "declares no `defects`" in result.output


SEQUENCE = """\
name: seq-defects
seed: 5
classes: [can, carton]
assets:
  can: {class: can, product: can}
  carton: {class: carton, product: box}
sequence: {fps: 10, frames: 4}
environment:
  belt: {length: 2.0, width: 0.5, height: 0.8, speed_mps: 0.3}
objects:
  - {asset: carton, count: 2, region: [-0.6, 0.2, -0.2, 0.2]}
  - asset: {dist: choice, values: [can, carton]}
    count: 3
    spawn: {interval_s: 0.1, lanes: [-0.1, 0.1], drop_height_m: 0.02}
lights:
  - {type: directional, elevation_deg: 55, azimuth_deg: 120, intensity: 2.0}
cameras:
  - {name: top, resolution: [64, 48], fov_deg: 90, position: [0, 0, 1.8], look_at: [0, 0, 0.8],
     up: [0, 1, 0], msaa: 1}
defects:
  carton:
    quota: 0.5
    types: {stain: 1, tipped: 1}
"""


def test_sequences_keep_each_products_defects_through_the_frames(tmp_path):
    (tmp_path / "scene.yaml").write_text(SEQUENCE)
    generate(tmp_path / "scene.yaml", tmp_path / "out", count=3)
    per_object: dict[tuple[int, int], set] = {}
    for path in (tmp_path / "out").glob("annotations/top/*.json"):
        record = json.loads(path.read_text())
        for obj in record["objects"]:
            if obj["class_name"] != "carton":
                continue
            names = tuple(sorted(d["name"] for d in obj["defects"] + obj["faults"]))
            per_object.setdefault((record["sequence"], obj["instance_id"]), set()).add(names)
    assert all(len(v) == 1 for v in per_object.values())  # the same in every frame
    defective = sum(1 for v in per_object.values() if next(iter(v)))
    from groundforge.spec.load import load_scene
    from groundforge.world.sequence import SequenceSampler

    sampler = SequenceSampler(load_scene(tmp_path / "scene.yaml").scene, 5)
    cartons = sum(c == "carton" for s in range(3) for _, c in sampler.roster(s))
    seen_cartons = len(per_object)
    assert seen_cartons == cartons  # the wide top camera sees every carton
    assert defective == int(np.floor(0.5 * cartons + 0.5))


def test_a_missing_product_is_labelled_where_it_should_be(engine):
    text = scene_with("defects:\n  bottle:\n    types: {missing: 0.5}\n")
    clean_worlds, gap_worlds = worlds(SCENE, range(8)), worlds(text, range(8))
    missing = 0
    for clean, gapped in zip(clean_worlds, gap_worlds, strict=True):
        camera = clean.cameras[1]
        gone = [b.instance_id for b in gapped.objects if b.defects]
        passes = engine.render(gapped, camera)
        before = engine.render(clean, camera)
        for instance_id in gone:
            assert not (passes.instance == instance_id).any()
            assert (before.instance == instance_id).any()  # it was there, in view
        from groundforge.labels.annotate import annotate

        record = annotate(gapped, camera, passes)
        listed = {o["instance_id"]: o for o in record["objects"]}
        for instance_id in gone:
            obj = listed[instance_id]
            assert obj["pixel_count"] == 0 and obj["bbox_amodal"] is not None
            assert [f["kind"] for f in obj["faults"]] == ["missing"]
        assert record["anomaly"] == bool(gone)
        missing += len(gone)
    assert missing > 0


def test_the_report_counts_defects_by_type(quota_scene, tmp_path):
    import csv

    from groundforge.report.build import build_report

    generate(quota_scene, tmp_path / "out", count=12)
    build_report(tmp_path / "out", tmp_path / "report")
    _, defects = labelled_defects(tmp_path / "out")
    expected = Counter(name for _, _, name in defects)
    with (tmp_path / "report" / "csv" / "defects_by_type.csv").open() as f:
        rows = {r["name"]: int(r["products"]) for r in csv.DictReader(f)}
    assert rows == dict(expected)
    anomalies = sum(
        json.loads(p.read_text())["anomaly"]
        for p in (tmp_path / "out").glob("annotations/*/*.json")
    )
    with (tmp_path / "report" / "csv" / "image_condition.csv").open() as f:
        conditions = {r["condition"]: int(r["images"]) for r in csv.DictReader(f)}
    assert conditions["anomaly"] == anomalies
    assert "Defects" in (tmp_path / "report" / "report.html").read_text()


def test_ground_truth_lines_carry_defects_as_object_attributes(quota_scene, tmp_path):
    generate(quota_scene, tmp_path / "out", count=10)
    lines = [json.loads(x) for x in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()]
    shown = 0
    for line in lines:
        record = json.loads((tmp_path / "out" / line["annotations-ref"]).read_text())
        assert line["anomaly"] == ("anomaly" if record["anomaly"] else "normal")
        assert (tmp_path / "out" / line["defect-ref"]).is_file()
        visible = [o for o in record["objects"] if o["pixel_count"] > 0]
        boxes = line["boxes"]["annotations"]
        assert len(boxes) == len(visible)
        for box, obj in zip(boxes, visible, strict=True):
            attributes = box["label-category-attributes"]
            seen = [d["name"] for d in obj["defects"] if d["pixel_count"] > 0]
            faults = [f["name"] for f in obj["faults"]]
            assert attributes["defects"] == ",".join(seen)
            assert attributes["faults"] == ",".join(faults)
            assert attributes["condition"] == ("defective" if seen or faults else "good")
            shown += bool(seen)
    assert shown > 0


@pytest.mark.parametrize(
    ("types", "message"),
    [
        ("{missing_lid: {rate: 1, kind: missing_part, part: lid}}", "has no part lid"),
        ("{misprint: 1}", "no printed part 'label'"),
    ],
)
def test_a_defect_the_product_cannot_have_is_a_scene_error(tmp_path, types, message):
    from typer.testing import CliRunner

    from groundforge.cli import app

    plain = SCENE.replace("label: label,", 'label: {base_color: "#ffffff"},')
    text = plain + f"defects:\n  bottle:\n    types: {types}\n"
    (tmp_path / "scene.yaml").write_text(text)
    result = CliRunner().invoke(app, ["validate", str(tmp_path / "scene.yaml")])
    assert result.exit_code == 2
    assert "defects.bottle.types." in result.output and message in result.output


def test_previews_outline_defects_in_red():
    from groundforge.export.preview import DEFECT_COLOR, draw_labels

    rgb = np.full((20, 30, 3), 128, np.uint8)
    instance = np.zeros((20, 30), np.uint16)
    instance[2:18, 3:25] = 1
    defects = np.zeros((20, 30), np.uint16)
    defects[5:9, 6:12] = 1
    annotation = {
        "objects": [
            {
                "instance_id": 1,
                "class_id": 1,
                "class_name": "bottle",
                "pixel_count": int((instance == 1).sum()),
                "bbox_visible": [3, 2, 22, 16],
                "defects": [],
            }
        ]
    }
    drawn = np.asarray(draw_labels(rgb, instance, annotation, defects))
    ring = np.zeros_like(defects, bool)
    ring[5:9, 6:12] = True
    ring[6:8, 7:11] = False  # the 4x6 patch's border: every pixel with an outside neighbour
    assert (drawn[ring] == DEFECT_COLOR).all()
    assert not (drawn[6:8, 7:11] == DEFECT_COLOR).all(axis=-1).any()
