"""Instance masks as COCO run-length encodings, all instances from one pass over the image."""

from __future__ import annotations

import numpy as np
from pycocotools import mask as mask_utils


def uncompressed_runs(instance: np.ndarray) -> dict[int, list[int]]:
    """Instance id -> COCO uncompressed RLE counts of its mask, for every id > 0 present.

    instance: (H, W) integer ids. Counts run over the image in column-major order and alternate
    background, foreground, starting with background (so a mask at pixel 0 starts with a 0).
    """
    flat = np.asarray(instance).ravel(order="F")
    n = flat.size
    if n == 0:
        return {}

    # Maximal runs of equal id in the column-major sequence.
    starts = np.concatenate([[0], np.flatnonzero(flat[1:] != flat[:-1]) + 1])
    ends = np.concatenate([starts[1:], [n]])
    ids = flat[starts]
    keep = ids > 0
    starts, ends, ids = starts[keep], ends[keep], ids[keep]
    if len(ids) == 0:
        return {}

    # Group runs by id; the stable sort keeps each id's runs in image order.
    order = np.argsort(ids, kind="stable")
    starts, ends, ids = starts[order], ends[order], ids[order]
    first = np.concatenate([[True], ids[1:] != ids[:-1]])
    previous_end = np.concatenate([[0], ends[:-1]])
    previous_end[first] = 0
    gaps = starts - previous_end
    lengths = ends - starts

    # Interleave gap, length per run; each group ends with the gap to the end of the image.
    counts = np.stack([gaps, lengths], axis=1).ravel()
    group_starts = np.flatnonzero(first)
    group_stops = np.concatenate([group_starts[1:], [len(ids)]])
    runs: dict[int, list[int]] = {}
    for g0, g1 in zip(group_starts, group_stops, strict=True):
        tail = n - int(ends[g1 - 1])
        group = counts[2 * g0 : 2 * g1].tolist()
        # pycocotools ends the counts at the last foreground run when it touches the end.
        if tail:
            group.append(tail)
        runs[int(ids[g0])] = group
    return runs


def encode_instances(instance: np.ndarray) -> dict[int, dict]:
    """Instance id -> compressed COCO RLE {size: [H, W], counts: str} for every id > 0 present.

    Equal to pycocotools.mask.encode(np.asfortranarray(instance == id)) with counts decoded.
    """
    height, width = np.asarray(instance).shape
    runs = uncompressed_runs(instance)
    if not runs:
        return {}
    ids = list(runs)
    objs = [{"size": [height, width], "counts": runs[i]} for i in ids]
    encoded = mask_utils.frPyObjects(objs, height, width)
    return {
        i: {"size": [height, width], "counts": rle["counts"].decode("ascii")}
        for i, rle in zip(ids, encoded, strict=True)
    }
