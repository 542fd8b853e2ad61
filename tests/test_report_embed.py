"""Image embedders: the built-in EfficientNet-Lite0 and the ONNX convention."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from PIL import Image
from skimage import data

from groundforge.report.embed import (
    Embedder,
    EmbedderUnavailable,
    OnnxEmbedder,
    centre_crop_resize,
    load_embedder,
)

# ILSVRC-2012 class indices.
DOMESTIC_CATS = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
ESPRESSO, CUP = 967, 968

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406])
IMAGENET_STD = np.array([0.229, 0.224, 0.225])


@pytest.fixture(scope="module")
def lite0() -> Embedder:
    return load_embedder()


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    return {"chelsea": data.chelsea(), "coffee": data.coffee(), "astronaut": data.astronaut()}


def _top5(logits: np.ndarray) -> list[int]:
    return [int(i) for i in np.argsort(-logits)[:5]]


def _half_size(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    return np.asarray(Image.fromarray(image).resize((w // 2, h // 2), Image.Resampling.BILINEAR))


def _imagenet_normalised(image: np.ndarray, h: int, w: int) -> np.ndarray:
    """(3, h, w) float64: image resized with PIL bilinear, in [0, 1], ImageNet-normalised."""
    resized = np.asarray(Image.fromarray(image).resize((w, h), Image.Resampling.BILINEAR))
    return ((resized / 255.0 - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1)


def _save_onnx(path, nodes, input_shape, output_shape) -> str:
    graph = helper.make_graph(
        nodes,
        "test_model",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, input_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, output_shape)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # old enough for any onnxruntime the project supports
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return str(path)


def _pool_model(path, batch="N", hw=(32, 32)) -> str:
    """Global average pool then flatten: the embedding is the per-channel mean of the input."""
    nodes = [
        helper.make_node("GlobalAveragePool", ["x"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["y"]),
    ]
    return _save_onnx(path, nodes, [batch, 3, *hw], [batch, 3])


def test_centre_crop_is_shorter_side_to_256_then_central_224(photos):
    # coffee is 400 x 600: scaled by 256 / 400 it is 256 x 384, and its central 224 x 224 starts at
    # whole pixels (16, 80), so the two-step crop involves no rounding.
    coffee = photos["coffee"]
    resized = Image.fromarray(coffee).resize((384, 256), Image.Resampling.BILINEAR)
    two_step = np.asarray(resized.crop((80, 16, 304, 240))).astype(int)

    one_step = centre_crop_resize(coffee, 224, 256).astype(int)

    assert one_step.shape == (224, 224, 3)
    assert np.abs(one_step - two_step).max() <= 1


def test_lite0_classifies_chelsea_as_a_domestic_cat(lite0, photos):
    logits = lite0.classify([photos["chelsea"]])

    assert logits.shape == (1, 1000)
    assert _top5(logits[0])[0] in DOMESTIC_CATS


def test_lite0_classifies_coffee_as_espresso_in_a_cup(lite0, photos):
    top5 = _top5(lite0.classify([photos["coffee"]])[0])

    # The photo is an espresso in a cup on its saucer: espresso must win, cup be in the top 5.
    assert top5[0] == ESPRESSO
    assert CUP in top5


def test_lite0_embedding_is_1280_pooled_relu6_values(lite0, photos):
    embeddings = lite0(list(photos.values()))

    assert lite0.name == "efficientnet_lite0"
    assert lite0.dim == 1280
    assert embeddings.shape == (3, 1280)
    assert embeddings.dtype == np.float64
    # Averages of ReLU6 outputs lie in [0, 6].
    assert np.all(np.isfinite(embeddings))
    assert embeddings.min() >= 0.0 and embeddings.max() <= 6.0


def test_lite0_embedding_is_deterministic_and_batch_independent(lite0, photos):
    images = list(photos.values())

    batch = lite0(images)
    again = lite0(images)
    alone = lite0([photos["coffee"]])

    np.testing.assert_array_equal(batch, again)
    np.testing.assert_allclose(alone[0], batch[1], rtol=1e-4, atol=1e-5)


def test_lite0_same_photo_at_two_sizes_is_closer_than_another_photo(lite0, photos):
    cat, small_cat, coffee = lite0(
        [photos["chelsea"], _half_size(photos["chelsea"]), photos["coffee"]]
    )

    assert np.linalg.norm(cat - small_cat) < 0.5 * np.linalg.norm(cat - coffee)


def test_lite0_embeds_an_empty_list_as_zero_rows(lite0):
    assert lite0([]).shape == (0, 1280)


def test_lite0_rejects_a_greyscale_image(lite0):
    with pytest.raises(ValueError, match=r"image 1 must be an \(H, W, 3\) uint8"):
        lite0([data.chelsea(), data.camera()])


def test_builtin_without_torch_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError

    with pytest.raises(EmbedderUnavailable, match=r"pip install 'groundforge\[embed\]'"):
        load_embedder("efficientnet-lite0")


def test_module_imports_without_torch():
    # With sys.modules["torch"] = None any `import torch` raises ImportError.
    code = "import sys; sys.modules['torch'] = None; import groundforge.report.embed"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_onnx_embedding_is_the_imagenet_normalised_channel_mean(tmp_path, photos):
    embedder = load_embedder(_pool_model(tmp_path / "pool.onnx"))
    images = [photos["chelsea"], photos["coffee"]]

    embeddings = embedder(images)

    expected = [_imagenet_normalised(image, 32, 32).mean(axis=(1, 2)) for image in images]
    assert isinstance(embedder, OnnxEmbedder)
    assert embedder.name == "onnx_pool"
    assert embedder.dim == 3
    assert embeddings.dtype == np.float64
    np.testing.assert_allclose(embeddings, expected, rtol=1e-5, atol=1e-5)


def test_onnx_with_dynamic_size_gets_224_by_224(tmp_path, photos):
    path = _save_onnx(
        tmp_path / "flat.onnx",
        [helper.make_node("Flatten", ["x"], ["y"])],
        ["N", 3, "H", "W"],
        ["N", "D"],
    )
    embedder = load_embedder(path)

    embedding = embedder([photos["coffee"]])

    assert embedder.dim == 3 * 224 * 224
    expected = _imagenet_normalised(photos["coffee"], 224, 224).reshape(1, -1)
    np.testing.assert_allclose(embedding, expected, rtol=1e-5, atol=1e-5)


def test_onnx_with_fixed_non_square_size_gets_that_height_and_width(tmp_path, photos):
    path = _save_onnx(
        tmp_path / "wide.onnx",
        [helper.make_node("Flatten", ["x"], ["y"])],
        ["N", 3, 16, 24],
        ["N", 3 * 16 * 24],
    )
    embedder = load_embedder(path)

    embedding = embedder([photos["astronaut"]])

    assert embedder.input_hw == (16, 24)
    expected = _imagenet_normalised(photos["astronaut"], 16, 24).reshape(1, -1)
    np.testing.assert_allclose(embedding, expected, rtol=1e-5, atol=1e-5)


def test_onnx_with_fixed_batch_of_one_embeds_several_images(tmp_path, photos):
    embedder = load_embedder(_pool_model(tmp_path / "single.onnx", batch=1))
    images = list(photos.values())

    embeddings = embedder(images)

    expected = [_imagenet_normalised(image, 32, 32).mean(axis=(1, 2)) for image in images]
    np.testing.assert_allclose(embeddings, expected, rtol=1e-5, atol=1e-5)


def test_missing_onnx_file_is_named(tmp_path):
    path = tmp_path / "absent.onnx"

    with pytest.raises(ValueError, match="absent.onnx does not exist"):
        load_embedder(path)


def test_file_onnxruntime_cannot_load_is_named(tmp_path):
    path = tmp_path / "garbage.onnx"
    path.write_bytes(b"this is not a protobuf")

    with pytest.raises(ValueError, match="cannot load .*garbage.onnx"):
        load_embedder(path)


def test_onnx_with_one_channel_input_is_rejected(tmp_path):
    path = _save_onnx(
        tmp_path / "grey.onnx",
        [helper.make_node("GlobalAveragePool", ["x"], ["y"])],
        ["N", 1, 32, 32],
        ["N", 1, 1, 1],
    )

    with pytest.raises(ValueError, match=r"grey.onnx input has 1 channels, not 3"):
        load_embedder(path)


def test_onnx_with_rank_2_input_is_rejected(tmp_path):
    path = _save_onnx(
        tmp_path / "vector.onnx", [helper.make_node("Identity", ["x"], ["y"])], ["N", 3], ["N", 3]
    )

    with pytest.raises(ValueError, match=r"vector.onnx input has shape .* not \(N, C, H, W\)"):
        load_embedder(path)


def test_unknown_spec_is_rejected_with_the_choices():
    with pytest.raises(ValueError, match="unknown embedder 'resnet50.pt'.*efficientnet-lite0"):
        load_embedder("resnet50.pt")
