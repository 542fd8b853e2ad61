"""The report against real images given as a Ground Truth manifest or a COCO file: their boxes
are read exactly, compared with the synthetic labels, and bad input fails with a message that
names the line and the fix. Also the format-matched mode and the feature-space plots."""

import csv
import html
import io
import json
import sys
import types
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from report_scenes import small_scene
from skimage import data
from typer.testing import CliRunner

from groundforge.cli import app
from groundforge.report.build import build_report
from groundforge.report.diversity import BOX_KEYS, object_rows
from groundforge.report.features import FEATURE_NAMES
from groundforge.report.realset import open_real_set
from groundforge.run.batch import generate

SCENE = small_scene("real-compare", 11, side_camera=False)

REAL_W, REAL_H = 160, 120
N_REAL = 12
# Ground Truth class ids of the manifest; "pallet" has no synthetic counterpart.
CLASS_IDS = {"bottle": 0, "can": 1, "pallet": 2}

# IJG's example quantisation tables (JPEG standard, Annex K), natural row order, quality 50.
IJG_LUMA = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
]  # fmt: skip
IJG_CHROMA = [17, 18, 24, 47] + [99] * 4 + [18, 21, 26, 66] + [99] * 4 + [24, 26, 56] + [99] * 5
IJG_CHROMA += [47, 66] + [99] * 6 + [99] * 32


def ijg_table(base: list[int], quality: int) -> list[int]:
    """A base table scaled to a JPEG quality as libjpeg does (jpeg_quality_scaling)."""
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return [min(255, max(1, (v * scale + 50) // 100)) for v in base]


def known_boxes(i: int) -> list[tuple[str, int, int, int, int]]:
    """(class name, left, top, width, height) px of the boxes of real image i."""
    boxes = [("bottle", 3 + 7 * i, 10 + 5 * i, 13 + 2 * i, 31 + 2 * i)]
    if i % 2 == 0:
        boxes.append(("can", 81, 41 + i, 24, 25))
    if i % 3 == 0:
        boxes.append(("pallet", 0, 89, 160, 31))
    return boxes


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def luma_mean(rgb: np.ndarray) -> float:
    x = rgb.astype(np.float64) / 255.0
    return float((0.2126 * x[..., 0] + 0.7152 * x[..., 1] + 0.0722 * x[..., 2]).mean())


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """A 6-image synthetic dataset (out/) and 12 real 160 x 120 photo crops (photos/)."""
    root = tmp_path_factory.mktemp("real")
    (root / "scene.yaml").write_text(SCENE)
    generate(root / "scene.yaml", root / "out", count=6)
    photos = root / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    sources = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket()]
    for i in range(N_REAL):
        photo = sources[i % len(sources)]
        y = rng.integers(0, photo.shape[0] - REAL_H)
        x = rng.integers(0, photo.shape[1] - REAL_W)
        Image.fromarray(photo[y : y + REAL_H, x : x + REAL_W]).save(photos / f"{i:02d}.png")
    return root


def manifest_line(root: Path, i: int) -> dict:
    # Even images by absolute path, odd ones relative to the manifest's folder.
    ref = str(root / "photos" / f"{i:02d}.png") if i % 2 == 0 else f"photos/{i:02d}.png"
    annotations = [
        {"class_id": CLASS_IDS[name], "left": x, "top": y, "width": w, "height": h}
        for name, x, y, w, h in known_boxes(i)
    ]
    return {
        "source-ref": ref,
        "crates": {
            "image_size": [{"width": REAL_W, "height": REAL_H, "depth": 3}],
            "annotations": annotations,
        },
        "crates-metadata": {
            "objects": [{"confidence": 1.0} for _ in annotations],
            "class-map": {str(v): k for k, v in CLASS_IDS.items()},
            "type": "groundtruth/object-detection",
            "human-annotated": "yes",
            "creation-date": "2024-05-01T10:00:00.000000",
            "job-name": "labeling-job/crates",
        },
    }


def write_manifest(path: Path, lines: list) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


@pytest.fixture(scope="module")
def manifest(root) -> Path:
    return write_manifest(root / "photos.manifest", [manifest_line(root, i) for i in range(N_REAL)])


@pytest.fixture(scope="module")
def coco(root) -> Path:
    """COCO file in its own folder, image file names relative to photos/."""
    categories = [{"id": v + 1, "name": k, "supercategory": "thing"} for k, v in CLASS_IDS.items()]
    images, annotations = [], []
    for i in range(N_REAL):
        images.append({"id": 100 + i, "file_name": f"{i:02d}.png", "width": 160, "height": 120})
        for name, x, y, w, h in known_boxes(i):
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": 100 + i,
                    "category_id": CLASS_IDS[name] + 1,
                    "bbox": [x, y, w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
    # A crowd region is no object's box and must not be counted.
    annotations.append(
        {"id": 999, "image_id": 100, "category_id": 1, "bbox": [0, 0, 50, 50], "iscrowd": 1}
    )
    folder = root / "coco"
    folder.mkdir(exist_ok=True)
    path = folder / "instances.json"
    coco = {"images": images, "annotations": annotations, "categories": categories}
    path.write_text(json.dumps(coco))
    return path


def synthetic_objects(dataset: Path) -> list[dict]:
    """Visible objects of the synthetic set, read from the annotation JSON files."""
    out = []
    for path in sorted(dataset.glob("annotations/*/*.json")):
        record = json.loads(path.read_text())
        camera = record["camera"]
        for o in record["objects"]:
            if o["pixel_count"] > 0:
                out.append({"class_name": o["class_name"], "box": o["bbox_visible"], **camera})
    return out


def all_known_boxes() -> list[tuple[str, int, int, int, int]]:
    return [box for i in range(N_REAL) for box in known_boxes(i)]


# Reading the inputs.


def test_manifest_boxes_become_object_rows(manifest):
    real = open_real_set(manifest)
    assert real.kind == "manifest" and real.labelled
    assert real.classes == ["bottle", "can", "pallet"]
    expected = [
        (name, w / REAL_W, h / REAL_H, (x + w / 2) / REAL_W, (y + h / 2) / REAL_H)
        for name, x, y, w, h in all_known_boxes()
    ]
    rows = [
        (
            r["class_name"],
            r["box_width_fraction"],
            r["box_height_fraction"],
            r["centre_x"],
            r["centre_y"],
        )
        for r in real.objects
    ]
    assert rows == expected


def test_real_box_rows_share_the_synthetic_rows_keys(root, manifest):
    from groundforge.export.reader import DatasetReader

    records = [record for record, _ in DatasetReader(root / "out").records()]
    synthetic = object_rows(records)[0]
    real = open_real_set(manifest).objects[0]
    assert set(BOX_KEYS) <= set(synthetic) and set(BOX_KEYS) <= set(real)


def test_manifest_source_refs_resolve_absolute_and_relative(root, manifest):
    real = open_real_set(manifest)
    assert [e.path.resolve() for e in real.entries] == [
        (root / "photos" / f"{i:02d}.png").resolve() for i in range(N_REAL)
    ]
    first = next(real.images(1))
    assert first.shape == (REAL_H, REAL_W, 3) and first.dtype == np.uint8


def test_manifest_without_a_label_attribute_is_an_unlabelled_image_list(root, tmp_path):
    path = write_manifest(tmp_path / "plain.jsonl", [{"source-ref": str(root / "photos/00.png")}])
    real = open_real_set(path)
    assert not real.labelled and len(real.entries) == 1 and real.objects == []


def test_s3_source_ref_is_refused_with_the_line_and_the_fix(root, tmp_path):
    lines = [manifest_line(root, 0), {"source-ref": "s3://bucket/photos/01.png"}]
    path = write_manifest(tmp_path / "s3.manifest", lines)
    with pytest.raises(ValueError) as err:
        open_real_set(path)
    message = str(err.value)
    assert f"{path}: line 2" in message
    assert "s3://bucket/photos/01.png" in message
    assert "download the images" in message and "rewrite source-ref to local paths" in message


def test_a_line_that_is_not_json_is_named(root, tmp_path):
    path = write_manifest(tmp_path / "bad.manifest", [manifest_line(root, 0), '{"source-ref": '])
    with pytest.raises(ValueError, match=r"bad\.manifest: line 2 is not valid JSON"):
        open_real_set(path)


def test_a_line_without_source_ref_is_named(root, tmp_path):
    line = manifest_line(root, 2)
    del line["source-ref"]
    path = write_manifest(tmp_path / "nosrc.manifest", [manifest_line(root, 0), line])
    with pytest.raises(ValueError, match=r"nosrc\.manifest: line 2: no source-ref"):
        open_real_set(path)


def test_a_missing_image_is_named_with_the_folder_it_was_looked_for_in(root, tmp_path):
    path = write_manifest(tmp_path / "gone.manifest", [{"source-ref": "photos/99.png"}])
    with pytest.raises(ValueError) as err:
        open_real_set(path)
    assert "line 1" in str(err.value)
    assert str(tmp_path / "photos" / "99.png") in str(err.value)
    assert "--real-images" in str(err.value)


def test_a_box_without_width_is_named_by_its_field_path(root, tmp_path):
    line = manifest_line(root, 0)
    del line["crates"]["annotations"][1]["width"]
    path = write_manifest(tmp_path / "box.manifest", [line])
    with pytest.raises(ValueError, match=r"line 1: crates\.annotations\[1\] lacks width"):
        open_real_set(path)


def test_coco_boxes_become_object_rows_without_crowds(root, coco):
    real = open_real_set(coco, images_root=root / "photos")
    assert real.kind == "coco"
    assert Counter(r["class_name"] for r in real.objects) == Counter(
        name for name, *_ in all_known_boxes()
    )
    assert [r["box_area_fraction"] for r in real.objects] == [
        w * h / (REAL_W * REAL_H) for _, _, _, w, h in all_known_boxes()
    ]


def test_coco_file_names_resolve_against_the_files_folder_by_default(coco):
    with pytest.raises(ValueError, match=r"images\[0\]: file_name '00.png': no image at"):
        open_real_set(coco)


def test_coco_annotation_of_an_unknown_image_is_named(root, coco, tmp_path):
    content = json.loads(coco.read_text())
    content["annotations"][3]["image_id"] = 7
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(content))
    with pytest.raises(ValueError, match=r"annotations\[3\]: image_id 7 is the id of no entry"):
        open_real_set(path, images_root=root / "photos")


def test_an_input_of_unknown_kind_is_refused(tmp_path):
    (tmp_path / "list.txt").write_text("a.png\n")
    with pytest.raises(ValueError, match="no known input; give a folder of images"):
        open_real_set(tmp_path / "list.txt")


def test_cli_turns_bad_real_input_into_exit_code_2_without_traceback(root, tmp_path):
    bad = write_manifest(tmp_path / "s3.manifest", [{"source-ref": "s3://bucket/a.png"}])
    result = CliRunner().invoke(app, ["report", str(root / "out"), "--real", str(bad)])
    assert result.exit_code == 2
    assert "line 1" in result.output and "rewrite source-ref" in result.output
    assert "Traceback" not in result.output


# The report against the manifest, images as stored.


def unavailable_embed_module() -> types.ModuleType:
    """A stand-in for groundforge.report.embed on a machine without torch."""
    module = types.ModuleType("groundforge.report.embed")

    class EmbedderUnavailable(RuntimeError):
        pass

    def load_embedder(spec=None):
        raise EmbedderUnavailable("the built-in EfficientNet-Lite0 embedder needs torch")

    module.EmbedderUnavailable = EmbedderUnavailable
    module.load_embedder = load_embedder
    return module


@pytest.fixture(scope="module")
def stored(root, manifest) -> Path:
    """The CLI's report against the manifest, with its default (built-in) embedder, on a
    machine where the deep-feature packages are missing."""
    out = root / "report-stored"
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "groundforge.report.embed", unavailable_embed_module())
        args = ["report", str(root / "out"), "--out", str(out), "--real", str(manifest)]
        result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return out


def test_missing_deep_feature_packages_leave_a_note(stored):
    page = html.unescape((stored / "report.html").read_text())
    assert "<h2>Deep features</h2>" in page
    assert "needs torch" in page
    assert "pip install 'groundforge[embed]'" in page


def test_class_comparison_counts_both_sets_by_name(root, stored):
    rows = {r["class_name"]: r for r in read_csv(stored / "csv" / "label_classes.csv")}
    real = Counter(name for name, *_ in all_known_boxes())
    synthetic = Counter(o["class_name"] for o in synthetic_objects(root / "out"))
    assert list(rows) == ["bottle", "can", "carton", "pallet"]
    for name, row in rows.items():
        assert int(row["real_objects"]) == real.get(name, 0)
        assert int(row["synthetic_objects"]) == synthetic.get(name, 0)
    page = (stored / "report.html").read_text()
    assert "Real classes with no synthetic object: pallet." in page


def box_size(key: str, w: float, h: float, width: int, height: int) -> float:
    """One box's size as the comparison plots measure it, from its definition."""
    return {
        "box_area_fraction": w * h / (width * height),
        "box_width_fraction": w / width,
        "box_height_fraction": h / height,
    }[key]


@pytest.mark.parametrize("key", ["box_area_fraction", "box_width_fraction", "box_height_fraction"])
def test_box_size_histograms_count_both_sets(root, stored, key):
    rows = read_csv(stored / "csv" / f"label_{key}.csv")
    edges = [float(r[f"{key}_from"]) for r in rows] + [float(rows[-1][f"{key}_to"])]
    real = [box_size(key, w, h, REAL_W, REAL_H) for _, _, _, w, h in all_known_boxes()]
    synthetic = [
        box_size(key, o["box"][2], o["box"][3], o["width"], o["height"])
        for o in synthetic_objects(root / "out")
    ]
    assert [int(r["real_count"]) for r in rows] == list(np.histogram(real, bins=edges)[0])
    assert [int(r["synthetic_count"]) for r in rows] == list(np.histogram(synthetic, bins=edges)[0])
    assert sum(int(r["real_count"]) for r in rows) == len(real)


def test_box_centre_grid_counts_the_real_boxes(stored):
    expected = Counter()
    for _, x, y, w, h in all_known_boxes():
        row = min(15, int((y + h / 2) / REAL_H * 16))
        column = min(15, int((x + w / 2) / REAL_W * 16))
        expected[row, column] += 1
    rows = read_csv(stored / "csv" / "label_centres.csv")
    assert len(rows) == 256
    counted = {(int(r["row"]), int(r["column"])): int(r["real_count"]) for r in rows}
    assert counted == {cell: expected.get(cell, 0) for cell in counted}


def test_every_plot_of_the_comparison_has_its_csv(stored):
    page = (stored / "report.html").read_text()
    for name in (
        "label_classes",
        "label_box_area_fraction",
        "label_centres",
        "embedding_pca",
        "neighbours",
        "power_spectrum",
    ):
        assert f"href='csv/{name}.csv'" in page
        assert (stored / "csv" / f"{name}.csv").is_file()
        assert (stored / "plots" / f"{name}.png").is_file()
    for title in ("Labels against the real set", "Feature space", "Power spectrum"):
        assert f"<h2>{title}</h2>" in page


def standardised_features(report: Path) -> tuple[list[dict], list[dict], np.ndarray, np.ndarray]:
    """Rows and (n, 18) matrices of both sets' statistics, scaled by the real set's mean, std."""
    synth_rows = read_csv(report / "csv" / "image_statistics.csv")
    real_rows = read_csv(report / "csv" / "real_image_statistics.csv")
    synth = np.array([[float(r[k]) for k in FEATURE_NAMES] for r in synth_rows])
    real = np.array([[float(r[k]) for k in FEATURE_NAMES] for r in real_rows])
    std = real.std(axis=0)
    std[std == 0] = 1.0
    return synth_rows, real_rows, (synth - real.mean(0)) / std, (real - real.mean(0)) / std


def test_pca_map_holds_the_first_two_principal_components(stored):
    _, real_rows, synth, real = standardised_features(stored)
    X = np.concatenate([synth, real])
    u, s, _ = np.linalg.svd(X - X.mean(axis=0), full_matrices=False)
    scores = u[:, :2] * s[:2]
    rows = read_csv(stored / "csv" / "embedding_pca.csv")
    assert [r["side"] for r in rows] == ["synthetic"] * len(synth) + ["real"] * len(real)
    assert [r["image"] for r in rows[len(synth) :]] == [r["image"] for r in real_rows]
    xy = np.array([[float(r["x"]), float(r["y"])] for r in rows])
    # A principal axis is defined up to its sign.
    np.testing.assert_allclose(np.abs(xy), np.abs(scores), rtol=1e-6, atol=1e-9)


def test_neighbours_are_the_nearest_real_images_in_standardised_features(stored):
    synth_rows, real_rows, synth, real = standardised_features(stored)
    rows = read_csv(stored / "csv" / "neighbours.csv")
    queried = {(r["synthetic_camera"], r["synthetic_shot"]) for r in rows}
    assert len(queried) == 6  # six synthetic images, all of the set here
    for row in rows:
        i = next(
            j
            for j, s in enumerate(synth_rows)
            if (s["camera"], s["shot"]) == (row["synthetic_camera"], row["synthetic_shot"])
        )
        distances = np.sqrt(((real - synth[i]) ** 2).sum(axis=1))
        nearest = np.argsort(distances, kind="stable")[int(row["rank"]) - 1]
        assert row["real_image"] == real_rows[nearest]["image"]
        assert float(row["distance"]) == pytest.approx(distances[nearest], rel=1e-9)
    assert sorted(Counter(r["rank"] for r in rows).items()) == [("1", 6), ("2", 6), ("3", 6)]


def test_power_spectrum_has_both_sets_on_one_frequency_grid(stored):
    rows = read_csv(stored / "csv" / "power_spectrum.csv")
    freqs = [float(r["frequency_cpp"]) for r in rows]
    # One cycle across the shortest side (96 px) up to Nyquist.
    assert freqs[0] == pytest.approx(1 / 96) and freqs[-1] == pytest.approx(0.5)
    assert all(float(r["synthetic_power"]) > 0 and float(r["real_power"]) > 0 for r in rows)


def test_report_says_images_were_compared_as_stored(stored):
    mode = read_csv(stored / "csv" / "comparison_mode.csv")
    assert mode[0]["mode"] == "as stored"
    assert mode[0]["real_formats"] == "png: 12"
    assert "Images compared as stored" in (stored / "report.html").read_text()


# The report against the COCO file, format-matched.


class RecordingEmbedder:
    """An embedder that remembers the images it was given: 3 colour means each."""

    name = "recorder"
    dim = 3

    def __init__(self):
        self.seen = []

    def __call__(self, images):
        self.seen += [im.copy() for im in images]
        return np.array([im.reshape(-1, 3).mean(axis=0) for im in images], dtype=np.float64)


@pytest.fixture(scope="module")
def matched(root, coco):
    embedder = RecordingEmbedder()
    out = root / "report-matched"
    build_report(
        root / "out",
        out,
        real=coco,
        real_images_root=root / "photos",
        match_format=True,
        jpeg_quality=90,
        embedder=embedder,
    )
    return out, embedder


def reencoded(rgb: np.ndarray, size: tuple[int, int], quality: int = 90) -> np.ndarray:
    """rgb resized to size (Lanczos, when it differs), written as JPEG 4:2:0 and read back."""
    image = Image.fromarray(rgb)
    if image.size != size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, subsampling="4:2:0")
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def test_both_sides_are_reencoded_at_the_smaller_median_size_and_one_quality(matched):
    out, _ = matched
    rows = read_csv(out / "csv" / "format_matching.csv")
    assert Counter(r["side"] for r in rows) == {"synthetic": 6, "real": N_REAL}
    luma, chroma = ijg_table(IJG_LUMA, 90), ijg_table(IJG_CHROMA, 90)
    for row in rows:
        # Synthetic 128 x 96 against real 160 x 120: both end up with a 96 px shorter side.
        assert (int(row["width"]), int(row["height"])) == (128, 96)
        assert row["subsampling"] == "4:2:0"
        assert [int(v) for v in row["luma_qtable"].split()] == luma
        assert [int(v) for v in row["chroma_qtable"].split()] == chroma


def test_format_matched_statistics_are_of_the_reencoded_images(root, matched):
    out, _ = matched
    synth_rows = read_csv(out / "csv" / "image_statistics.csv")
    for row in synth_rows:
        path = root / "out" / "images" / row["camera"] / f"{int(row['shot']):06d}.png"
        expected = luma_mean(reencoded(np.asarray(Image.open(path).convert("RGB")), (128, 96)))
        assert float(row["brightness"]) == pytest.approx(expected, rel=1e-12)
    real_rows = read_csv(out / "csv" / "real_image_statistics.csv")
    for row in real_rows:
        photo = np.asarray(Image.open(root / "photos" / row["image"]).convert("RGB"))
        expected = luma_mean(reencoded(photo, (128, 96)))
        assert float(row["brightness"]) == pytest.approx(expected, rel=1e-12)


def test_the_embedder_sees_the_format_matched_images(root, matched):
    _, embedder = matched
    assert len(embedder.seen) == 6 + N_REAL
    assert {im.shape for im in embedder.seen} == {(96, 128, 3)}
    photo = np.asarray(Image.open(root / "photos" / "00.png").convert("RGB"))
    np.testing.assert_array_equal(embedder.seen[6], reencoded(photo, (128, 96)))


def test_report_says_images_were_format_matched(matched):
    out, _ = matched
    mode = read_csv(out / "csv" / "comparison_mode.csv")[0]
    assert (mode["mode"], mode["short_side_px"], mode["jpeg_quality"]) == (
        "format-matched",
        "96",
        "90",
    )
    page = (out / "report.html").read_text()
    assert "Images compared format-matched" in page
    assert "re-encoded as JPEG of quality 90" in page


def test_coco_labels_are_compared_without_the_crowd_region(matched):
    out, _ = matched
    rows = {
        r["class_name"]: int(r["real_objects"]) for r in read_csv(out / "csv" / "label_classes.csv")
    }
    expected = Counter(name for name, *_ in all_known_boxes())
    assert rows == {name: expected.get(name, 0) for name in rows}
    assert sum(rows.values()) == len(all_known_boxes())


def test_deep_section_is_named_after_the_network(matched):
    out, _ = matched
    page = (out / "report.html").read_text()
    assert "<h2>Deep features (recorder)</h2>" in page
    measures = read_csv(out / "csv" / "recorder_measures.csv")
    assert {"precision", "recall", "density", "coverage", "recorder_kid"} <= set(measures[0])
    tests = read_csv(out / "csv" / "recorder_two_sample_test.csv")
    assert 0.0 <= float(tests[0]["auc"]) <= 1.0
    for name in ("recorder_embedding_pca", "recorder_neighbours"):
        assert f"href='csv/{name}.csv'" in page


def test_deep_neighbours_are_nearest_in_the_embedding(root, matched):
    out, _ = matched
    # The recorder's embedding is the mean colour; recomputed here from the test's own
    # re-encoding of the files.
    real_names = [f"{i:02d}.png" for i in range(N_REAL)]
    real = np.array(
        [
            reencoded(np.asarray(Image.open(root / "photos" / n).convert("RGB")), (128, 96))
            .reshape(-1, 3)
            .mean(axis=0)
            for n in real_names
        ]
    )
    for row in read_csv(out / "csv" / "recorder_neighbours.csv"):
        path = (
            root
            / "out"
            / "images"
            / row["synthetic_camera"]
            / f"{int(row['synthetic_shot']):06d}.png"
        )
        synth = reencoded(np.asarray(Image.open(path).convert("RGB")), (128, 96))
        distances = np.linalg.norm(real - synth.reshape(-1, 3).mean(axis=0), axis=1)
        nearest = np.argsort(distances, kind="stable")[int(row["rank"]) - 1]
        assert row["real_image"] == real_names[nearest]
        assert float(row["distance"]) == pytest.approx(distances[nearest], rel=1e-9)


def test_a_file_that_is_no_image_is_named_when_read(tmp_path):
    (tmp_path / "notes.png").write_text("not an image")
    path = write_manifest(tmp_path / "text.manifest", [{"source-ref": "notes.png"}])
    real = open_real_set(path)
    with pytest.raises(ValueError, match=r"text\.manifest: line 1: .*notes\.png is not a readable"):
        next(real.images(1))
