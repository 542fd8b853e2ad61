"""A contact sheet of every defect type a scene declares: each rendered on a product of its
class, cropped around the defect, with its mask outlined.

    groundforge defect-sheet bottle-inspection --out docs/defect-types.png
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from groundforge.export.files import atomic_open
from groundforge.export.preview import TILE_BACKGROUND, mask_outlines
from groundforge.render.raster.engine import RasterEngine
from groundforge.render.sensor import apply_sensor
from groundforge.sampling.seeds import rng_for
from groundforge.spec.load import LoadedScene
from groundforge.spec.scene import PLACEMENT_FAULTS, ClassDefectsSpec
from groundforge.world.build import SceneSampler

log = logging.getLogger(__name__)

OUTLINE = (255, 40, 40)


def _only(loaded: LoadedScene, class_name: str, name: str) -> SceneSampler:
    """A sampler of the scene where every product of `class_name` has defect `name`."""
    scene = loaded.scene
    spec = scene.defects[class_name]
    forced = ClassDefectsSpec(
        types={name: spec.types[name].model_copy(update={"rate": 1.0})}, quota=None
    )
    defects = {class_name: forced}
    return SceneSampler(scene.model_copy(update={"defects": defects}), scene.seed)


def _crop_box(mask: np.ndarray, margin: float, smallest: int) -> tuple[int, int, int, int]:
    """A square (left, top, right, bottom) around the mask's pixels, grown by `margin`."""
    rows, cols = np.nonzero(mask)
    height, width = mask.shape
    cx, cy = (cols.min() + cols.max() + 1) / 2, (rows.min() + rows.max() + 1) / 2
    side = max(cols.max() + 1 - cols.min(), rows.max() + 1 - rows.min()) * (1 + 2 * margin)
    side = int(min(max(side, smallest), width, height))
    left = int(np.clip(round(cx - side / 2), 0, width - side))
    top = int(np.clip(round(cy - side / 2), 0, height - side))
    return left, top, left + side, top + side


def defect_tile(
    sampler: SceneSampler, engine: RasterEngine, name: str, tile: int, tries: int = 12
) -> Image.Image | None:
    """The first shot that shows defect `name`, cropped around it, mask outlined."""
    for shot in range(tries):
        world = sampler.world(shot)
        camera = world.cameras[0]
        passes = engine.render(world, camera)
        rgb = apply_sensor(passes.radiance, camera.sensor, rng_for(sampler.seed, shot, "sheet"))
        faulty = [b for b in world.objects if any(d.name == name for d in b.defects)]
        if not faulty:
            continue
        # The product (or defect) most in view.
        if faulty[0].defects[-1].kind in PLACEMENT_FAULTS:
            masks = [passes.instance == b.instance_id for b in faulty]
        else:
            ids = [d.defect_id for b in faulty for d in b.defects if d.name == name]
            masks = [passes.defect == i for i in ids]
        mask = max(masks, key=lambda m: int(m.sum()))
        if mask.sum() < 4:
            continue
        left, top, right, bottom = _crop_box(mask, 0.6, smallest=48)
        # Outlined two pixels out, so thin scratches and cracks stay visible inside.
        grown = ndimage.binary_dilation(mask, iterations=2)
        pixels = rgb.copy()
        pixels[mask_outlines(grown.astype(np.uint16))] = OUTLINE
        image = Image.fromarray(pixels[top:bottom, left:right]).resize(
            (tile, tile), Image.Resampling.NEAREST
        )
        draw = ImageDraw.Draw(image)
        draw.rectangle((0, 0, tile, 14), fill=(0, 0, 0))
        draw.text((4, 2), name, fill=(255, 255, 255))
        return image
    log.warning("defect %s was not seen in %d shots; left off the sheet", name, tries)
    return None


def defect_sheet(loaded: LoadedScene, out_png: Path, tile: int = 192, columns: int = 4) -> Path:
    """Write a sheet with one tile per defect type of the scene; returns its path."""
    scene = loaded.scene
    if not scene.defects:
        raise ValueError(f"{loaded.source} declares no `defects`")
    tiles = []
    with RasterEngine() as engine:
        for class_name, spec in scene.defects.items():
            for name in spec.types:
                image = defect_tile(_only(loaded, class_name, name), engine, name, tile)
                if image is not None:
                    tiles.append(image)
    rows = max(1, math.ceil(len(tiles) / columns))
    sheet = Image.new("RGB", (columns * tile, rows * tile), TILE_BACKGROUND)
    for i, image in enumerate(tiles):
        sheet.paste(image, ((i % columns) * tile, (i // columns) * tile))
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(out_png, "wb") as f:
        sheet.save(f, format="PNG")
    return out_png
