"""The report's deep features with the built-in network (EfficientNet-Lite0): the CLI computes
them by default, names every measure after the network, and finds neighbours in its embedding."""

import csv
import html
import inspect
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from report_scenes import small_scene
from skimage import data
from typer.testing import CliRunner

from groundforge.cli import app
from groundforge.report.build import build_report
from groundforge.run.batch import generate

pytest.importorskip("torch", reason="the built-in embedder needs groundforge[embed]")

SCENE = small_scene("deep", 19, side_camera=False)
N_REAL = 12


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """A 10-image synthetic dataset (out/) and a folder of 12 real 96 x 128 crops (photos/)."""
    root = tmp_path_factory.mktemp("deep")
    (root / "scene.yaml").write_text(SCENE)
    generate(root / "scene.yaml", root / "out", count=10)
    photos = root / "photos"
    photos.mkdir()
    rng = np.random.default_rng(1)
    sources = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket()]
    for i in range(N_REAL):
        photo = sources[i % len(sources)]
        y, x = rng.integers(0, photo.shape[0] - 96), rng.integers(0, photo.shape[1] - 128)
        Image.fromarray(photo[y : y + 96, x : x + 128]).save(photos / f"{i:02d}.png")
    return root


@pytest.fixture(scope="module")
def report(root) -> Path:
    """The CLI's report against the photos, with its default embedder."""
    out = root / "report"
    args = ["report", str(root / "out"), "--out", str(out), "--real", str(root / "photos")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return out


def test_cli_default_adds_the_deep_features_of_efficientnet_lite0(report):
    page = html.unescape((report / "report.html").read_text())
    assert "<h2>Deep features (efficientnet_lite0)</h2>" in page
    text = re.sub(r"data:image/png;base64,[^']*", "", page)
    assert "FID" not in text and "Fréchet" not in text
    for name in ("efficientnet_lite0_embedding_pca", "efficientnet_lite0_neighbours"):
        assert f"href='csv/{name}.csv'" in page
        assert (report / "plots" / f"{name}.png").is_file()


def test_deep_measures_are_named_after_the_network(report):
    measures = read_csv(report / "csv" / "efficientnet_lite0_measures.csv")
    columns = set(measures[0])
    assert {"precision", "recall", "density", "coverage", "efficientnet_lite0_kid"} <= columns
    assert not any("fid" in c.lower() or "inception" in c.lower() for c in columns)
    # KID's unbiased estimate may fall slightly below 0 where the sets match; never far.
    assert float(measures[0]["efficientnet_lite0_kid"]) > -1.0
    test = read_csv(report / "csv" / "efficientnet_lite0_two_sample_test.csv")[0]
    assert 0.0 <= float(test["auc"]) <= 1.0 and 0.0 < float(test["p_value"]) <= 1.0


def test_deep_neighbours_are_nearest_in_the_networks_embedding(root, report):
    from groundforge.report.embed import load_embedder

    embedder = load_embedder("efficientnet-lite0")
    names = [f"{i:02d}.png" for i in range(N_REAL)]
    real = embedder([np.asarray(Image.open(root / "photos" / n).convert("RGB")) for n in names])
    rows = read_csv(report / "csv" / "efficientnet_lite0_neighbours.csv")
    shots = sorted({int(r["synthetic_shot"]) for r in rows})
    assert len(shots) == 6
    paths = [root / "out" / "images" / "top" / f"{shot:06d}.png" for shot in shots]
    vectors = embedder([np.asarray(Image.open(p).convert("RGB")) for p in paths])
    synth = dict(zip(shots, vectors, strict=True))
    for row in rows:
        distances = np.linalg.norm(real - synth[int(row["synthetic_shot"])], axis=1)
        nearest = np.argsort(distances, kind="stable")[int(row["rank"]) - 1]
        assert row["real_image"] == names[nearest]
        # Batches of different sizes may round the network's arithmetic differently.
        assert float(row["distance"]) == pytest.approx(distances[nearest], rel=1e-4)


def test_a_bad_onnx_file_fails_cleanly(root, tmp_path):
    (tmp_path / "net.onnx").write_bytes(b"not a model")
    args = ["report", str(root / "out"), "--out", str(tmp_path / "r")]
    args += ["--real", str(root / "photos"), "--embedder", str(tmp_path / "net.onnx")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "net.onnx" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "r" / "report.html").exists()


def test_build_report_computes_no_deep_features_unless_asked():
    # generate's quick report calls build_report without an embedder and must stay quick.
    assert inspect.signature(build_report).parameters["embedder"].default is None
