"""The fixed class-colour palette of semantic PNGs.

Background (class 0) is white, #ffffff, as Ground Truth and Lookout for Vision expect. Class k >= 1
gets the PASCAL VOC colour of k: the bits of k dealt out in turn to red, green and blue, from the
most significant bit of each channel down (1 -> #800000, 2 -> #008000, 3 -> #808000,
4 -> #000080, ...). That map is one-to-one on 0..2**24 - 1, so colours decode back to class ids
exactly; the only class id whose colour would be white, 2**24 - 1, cannot occur in a uint16 map.
"""

from __future__ import annotations

import numpy as np

BACKGROUND_HEX = "#ffffff"


def class_colors(class_ids: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 RGB colour of each class id (integer array of any shape)."""
    ids = np.asarray(class_ids, dtype=np.int64)
    rgb = np.zeros(ids.shape + (3,), dtype=np.int64)
    bits = ids.copy()
    for level in range(8):
        for channel in range(3):
            rgb[..., channel] |= ((bits >> channel) & 1) << (7 - level)
        bits >>= 3
    rgb[ids == 0] = 255
    return rgb.astype(np.uint8)


def class_hex(class_id: int) -> str:
    """'#rrggbb' colour of one class id."""
    r, g, b = class_colors(np.array(class_id)).tolist()
    return f"#{r:02x}{g:02x}{b:02x}"


def encode_semantic(semantic: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 colour image of an (H, W) class-id map."""
    semantic = np.asarray(semantic)
    lut = class_colors(np.arange(int(semantic.max(initial=0)) + 1))
    return np.take(lut, semantic, axis=0)


def decode_semantic(rgb: np.ndarray) -> np.ndarray:
    """(H, W) uint16 class ids of an (H, W, 3) uint8 palette image; white decodes to 0."""
    rgb = np.asarray(rgb, dtype=np.int64)
    ids = np.zeros(rgb.shape[:2], dtype=np.int64)
    for level in range(8):
        for channel in range(3):
            ids |= ((rgb[..., channel] >> (7 - level)) & 1) << (3 * level + channel)
    ids[(rgb == 255).all(axis=-1)] = 0
    return ids.astype(np.uint16)
