"""Atomic file writes: a temporary name beside the target, then a rename onto it.

Renames are not fsynced, so the guarantee holds against a killed process, not a power cut.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image

from groundforge.export.png import write_png

# Temporary files are hidden (leading dot) and end in this, so finalize can sweep up leftovers.
TEMP_SUFFIX = ".tmp"


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary name beside `path` to write to, renamed onto `path` when the block ends.

    For writers that need a path rather than a file object. On an exception the temporary file
    is removed and `path` is left as it was; a killed process leaves a temporary file that
    DatasetWriter.finalize sweeps up.
    """
    path = Path(path)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}")
    try:
        yield temp
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


@contextlib.contextmanager
def atomic_open(path: Path, mode: str = "wb") -> Iterator[IO]:
    """A file object on a temporary name beside `path`, renamed onto `path` when the block ends.

    On an exception the temporary file is removed and `path` is left as it was.
    """
    # Exclusive create with the default mode, so the final file gets the umask's permissions.
    encoding = None if "b" in mode else "utf-8"
    with atomic_path(path) as temp, open(temp, mode.replace("w", "x"), encoding=encoding) as f:
        yield f


def write_json(path: Path, data: object) -> None:
    """Write `data` as compact UTF-8 JSON, atomically; NaN and infinity are refused."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    with atomic_open(path, "w") as f:
        f.write(text)


def save_image(
    path: Path,
    pixels: np.ndarray,
    image_format: str = "png",
    quality: int = 95,
    smooth: bool = False,
) -> None:
    """Write (H, W, 3) uint8 or (H, W) uint16 pixels as PNG (or JPEG), atomically.

    smooth: the image is a smooth field such as depth, which another zlib strategy packs better.
    """
    with atomic_open(path, "wb") as f:
        if image_format == "jpg":
            Image.fromarray(np.ascontiguousarray(pixels)).save(f, format="JPEG", quality=quality)
        else:
            write_png(f, pixels, zlib.Z_DEFAULT_STRATEGY if smooth else zlib.Z_RLE)
