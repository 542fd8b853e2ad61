"""Contact sheets: a grid of dataset images with their boxes, class names and mask outlines."""

from __future__ import annotations

import colorsys
import logging
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from groundforge.export.files import atomic_open
from groundforge.export.reader import DatasetReader

logger = logging.getLogger(__name__)

TILE_BACKGROUND = (40, 40, 40)


def label_color(class_id: int) -> tuple[int, int, int]:
    """A bright RGB colour to draw class `class_id` in; hues spread by the golden ratio."""
    hue = (class_id * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.9, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


def mask_outlines(instance: np.ndarray) -> np.ndarray:
    """(H, W) bool: object pixels with a 4-neighbour of a different instance id."""
    edge = np.zeros(instance.shape, dtype=bool)
    horizontal = instance[:, 1:] != instance[:, :-1]
    vertical = instance[1:, :] != instance[:-1, :]
    edge[:, 1:] |= horizontal
    edge[:, :-1] |= horizontal
    edge[1:, :] |= vertical
    edge[:-1, :] |= vertical
    return edge & (instance > 0)


DEFECT_COLOR = (255, 0, 0)


def draw_labels(
    rgb: np.ndarray, instance: np.ndarray, annotation: dict, defects: np.ndarray | None = None
) -> Image.Image:
    """The image with each visible object's mask outline, box and class name drawn on it, and
    with `defects` (the (H, W) defect-id pass), every defect outlined in red and named."""
    objects = [o for o in annotation["objects"] if o["pixel_count"] > 0]
    lut = np.zeros((int(instance.max(initial=0)) + 1, 3), dtype=np.uint8)
    for obj in objects:
        if obj["instance_id"] < len(lut):
            lut[obj["instance_id"]] = label_color(obj["class_id"])
    pixels = np.array(rgb, dtype=np.uint8)
    edge = mask_outlines(instance)
    pixels[edge] = lut[instance[edge]]

    image = Image.fromarray(pixels)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    for obj in objects:
        left, top, width, height = obj["bbox_visible"]
        color = label_color(obj["class_id"])
        # The box spans whole pixels: its last column is left + width - 1.
        draw.rectangle([left, top, left + width - 1, top + height - 1], outline=color)
        text = f"{obj['class_name']} {obj['instance_id']}"
        _, _, text_w, text_h = draw.textbbox((0, 0), text, font=font)
        # Above the box where there is room, else just inside its top edge.
        y = top - text_h - 2 if top >= text_h + 2 else top
        draw.rectangle([left, y, left + text_w + 2, y + text_h + 2], fill=color)
        draw.text((left + 1, y + 1), text, fill=(0, 0, 0), font=font)
    if defects is not None:
        _draw_defects(image, defects, objects)
    return image


def _draw_defects(image: Image.Image, defects: np.ndarray, objects: list[dict]) -> None:
    pixels = np.asarray(image).copy()
    pixels[mask_outlines(defects)] = DEFECT_COLOR
    image.paste(Image.fromarray(pixels))
    draw = ImageDraw.Draw(image)
    for obj in objects:
        for d in obj.get("defects", []):
            if d["bbox"] is not None:
                left, top, width, _ = d["bbox"]
                draw.text((left + width + 2, top), d["name"], fill=DEFECT_COLOR)


def contact_sheet(
    root: Path, out_png: Path, count: int = 8, columns: int = 4, tile_width: int = 320
) -> Path:
    """Write a PNG grid of `count` images spread evenly over the dataset, labels drawn on them.

    Tiles are tile_width wide and as tall as the tallest chosen image scaled to that width;
    images keep their aspect ratio, centred on a dark tile. Returns out_png.
    """
    reader = DatasetReader(root)
    keys = reader.keys()
    if not keys:
        raise ValueError(f"{root}: the dataset has no complete images to preview")
    picks = np.linspace(0, len(keys) - 1, min(count, len(keys))).round().astype(int)
    chosen = [keys[i] for i in sorted(set(picks.tolist()))]

    tiles = []
    for shot, camera in chosen:
        annotation = reader.load_annotation(camera, shot)
        defects = None
        if "defect_mask" in annotation:
            with Image.open(reader.root / annotation["defect_mask"]) as im:
                defects = np.asarray(im)
        image = draw_labels(
            reader.load_image(camera, shot), reader.load_instance(camera, shot), annotation, defects
        )
        ImageDraw.Draw(image).text((4, 4), f"{camera} {shot:06d}", fill=(255, 255, 255))
        height = max(1, round(tile_width * image.height / image.width))
        tiles.append(image.resize((tile_width, height), Image.Resampling.LANCZOS))

    tile_height = max(t.height for t in tiles)
    rows = math.ceil(len(tiles) / columns)
    sheet = Image.new("RGB", (columns * tile_width, rows * tile_height), TILE_BACKGROUND)
    for i, tile in enumerate(tiles):
        x = (i % columns) * tile_width
        y = (i // columns) * tile_height + (tile_height - tile.height) // 2
        sheet.paste(tile, (x, y))

    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(out_png, "wb") as f:
        sheet.save(f, format="PNG")
    logger.info("contact sheet of %d images written to %s", len(tiles), out_png)
    return out_png
