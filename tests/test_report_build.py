"""The dataset report: every plot has its CSV, and the numbers match the labels."""

import csv
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from report_scenes import small_scene
from typer.testing import CliRunner

from groundforge.cli import app
from groundforge.report.build import ReportWriter, embedding_plots
from groundforge.run.batch import generate

SCENE = small_scene("small", 3)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report")
    (root / "scene.yaml").write_text(SCENE)
    generate(root / "scene.yaml", root / "out", count=4)
    return root / "out"


@pytest.fixture(scope="module")
def report(dataset) -> Path:
    result = CliRunner().invoke(app, ["report", str(dataset)])
    assert result.exit_code == 0, result.output
    return dataset / "report"


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def labelled_objects(dataset: Path) -> list[tuple[str, dict]]:
    out = []
    for path in sorted(dataset.glob("annotations/*/*.json")):
        record = json.loads(path.read_text())
        out += [(record["camera"]["name"], o) for o in record["objects"] if o["pixel_count"] > 0]
    return out


def test_every_plot_in_the_html_has_its_csv_and_png(report):
    page = (report / "report.html").read_text()
    links = re.findall(r"href='csv/([\w-]+)\.csv'", page)
    assert len(links) >= 10
    for name in links:
        assert (report / "csv" / f"{name}.csv").is_file()
        assert (report / "plots" / f"{name}.png").is_file()
    assert page.count("data:image/png;base64,") == len(links)  # plots are embedded


def test_every_section_is_there(report):
    page = (report / "report.html").read_text()
    for title in (
        "Summary",
        "Objects and boxes",
        "Where objects appear",
        "Occlusion, truncation and depth",
        "Sample images",
    ):
        assert f"<h2>{title}</h2>" in page


def test_class_counts_match_the_annotations(dataset, report):
    counted = Counter(o["class_name"] for _, o in labelled_objects(dataset))
    rows = {r["class_name"]: int(r["objects"]) for r in read_csv(report / "csv" / "classes.csv")}
    assert rows == {name: counted.get(name, 0) for name in ("bottle", "can", "carton")}


def test_centre_heatmaps_count_each_cameras_objects(dataset, report):
    per_camera = Counter(camera for camera, _ in labelled_objects(dataset))
    for camera in ("top", "side"):
        rows = read_csv(report / "csv" / f"centres_{camera}.csv")
        assert sum(int(r["count"]) for r in rows) == per_camera[camera]


def test_visible_fraction_histogram_counts_every_object(dataset, report):
    rows = read_csv(report / "csv" / "visible_fraction.csv")
    assert sum(int(r["count"]) for r in rows) == len(labelled_objects(dataset))


def test_report_of_a_folder_that_is_no_dataset_fails_cleanly(tmp_path):
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2
    assert "not a groundforge dataset" in result.output


def test_real_photographs_add_the_fidelity_section(dataset, tmp_path):
    from PIL import Image
    from skimage import data

    real = tmp_path / "real"
    real.mkdir()
    rng = np.random.default_rng(0)
    photos = [data.astronaut(), data.chelsea(), data.coffee()]
    for i in range(12):
        photo = photos[i % 3]
        y, x = rng.integers(0, photo.shape[0] - 96), rng.integers(0, photo.shape[1] - 128)
        Image.fromarray(photo[y : y + 96, x : x + 128]).save(real / f"{i:02d}.png")
    out = tmp_path / "report"
    result = CliRunner().invoke(
        app, ["report", str(dataset), "--out", str(out), "--real", str(real), "--embedder", "none"]
    )
    assert result.exit_code == 0, result.output
    page = (out / "report.html").read_text()
    assert "<h2>Fidelity against real images</h2>" in page
    assert "Deep features" not in page
    assert "fewer than 100 images" in page
    tests = {r["features"]: float(r["auc"]) for r in read_csv(out / "csv" / "two_sample_tests.csv")}
    assert set(tests) == {"all", "colour", "luminance", "sharpness_noise", "spectrum", "texture"}
    assert all(0.0 <= auc <= 1.0 for auc in tests.values())
    assert len(read_csv(out / "csv" / "real_image_statistics.csv")) == 12
    # Every statistic plot now overlays the real images' histogram on the synthetic one.
    rows = read_csv(out / "csv" / "stat_brightness.csv")
    assert sum(int(r["real_count"]) for r in rows) == 12
    assert sum(int(r["count"]) for r in rows) == 8


def test_power_spectrum_without_real_images_is_the_synthetic_ones(report):
    rows = read_csv(report / "csv" / "power_spectrum.csv")
    assert list(rows[0]) == ["frequency_cpp", "synthetic_power"]
    freqs = [float(r["frequency_cpp"]) for r in rows]
    # From one cycle across the images' 96 px shorter side up to Nyquist, increasing.
    assert freqs[0] == pytest.approx(1 / 96) and freqs[-1] == pytest.approx(0.5)
    assert freqs == sorted(freqs)
    assert "<h2>Power spectrum</h2>" in (report / "report.html").read_text()


def _two_clouds(n_synth: int, n_real: int):
    rng = np.random.default_rng(0)
    synth = rng.normal(size=(n_synth, 5))
    real = rng.normal(size=(n_real, 5)) + 10.0
    ids = (
        [{"camera": "top", "shot": i} for i in range(n_synth)],
        [{"image": f"{i}.png"} for i in range(n_real)],
    )
    return synth, real, ids


def test_tsne_map_joins_the_pca_map_from_100_images(tmp_path):
    synth, real, ids = _two_clouds(60, 50)
    plots = embedding_plots(ReportWriter(tmp_path), "embedding", synth, real, ids)
    assert [name for name, _ in plots] == ["embedding_pca", "embedding_tsne"]
    rows = read_csv(tmp_path / "csv" / "embedding_tsne.csv")
    assert [r["side"] for r in rows] == ["synthetic"] * 60 + ["real"] * 50
    # Clouds 10 standard deviations apart: t-SNE keeps every point's nearest neighbour on its side.
    xy = np.array([[float(r["x"]), float(r["y"])] for r in rows])
    distances = np.linalg.norm(xy[:, None] - xy[None], axis=2) + np.eye(len(xy)) * 1e9
    nearest = distances.argmin(axis=1)
    assert all(rows[i]["side"] == rows[j]["side"] for i, j in enumerate(nearest))


def test_fewer_than_100_images_get_the_pca_map_only(tmp_path):
    synth, real, ids = _two_clouds(50, 49)
    plots = embedding_plots(ReportWriter(tmp_path), "embedding", synth, real, ids)
    assert [name for name, _ in plots] == ["embedding_pca"]
    assert not (tmp_path / "csv" / "embedding_tsne.csv").exists()
