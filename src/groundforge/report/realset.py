"""The real images a report compares the synthetic ones with: a folder, a Ground Truth manifest
or a COCO file, with its boxes when it has labels.

    real = open_real_set(Path("photos/train.manifest"))
    real.objects        # one row per box, the keys of diversity.BOX_KEYS among them
    real.images(300)    # the first 300 images, decoded one at a time

A folder holds images only. A SageMaker Ground Truth manifest (.manifest, .jsonl) has one JSON
object per line with `source-ref`; its label attribute is the key whose value holds
`annotations` (object detection), with `<attribute>-metadata` carrying `class-map`. A COCO file
(.json) has `images`, `annotations` and `categories`. Relative image locations are resolved
against the manifest's or COCO file's folder, or against `images_root` when given.

Every problem in the input is a ValueError that names the file, the line or field, and the fix.

`match_format` puts an image of either set into a common format (one shorter side, one JPEG
quality), since PNG renders against JPEG photographs differ in ways that have nothing to do with
what the images show.
"""

from __future__ import annotations

import io
import json
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, JpegImagePlugin, UnidentifiedImageError

from groundforge.report.diversity import box_fields

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
MANIFEST_SUFFIXES = (".manifest", ".jsonl")
COCO_SUFFIXES = (".json",)
BOX_FIELDS = ("class_id", "left", "top", "width", "height")
WHAT_TO_GIVE = (
    "give a folder of images, a SageMaker Ground Truth manifest (.manifest, .jsonl) or a COCO "
    "JSON file (.json)"
)


@dataclass
class RealImage:
    """One real image: where it is, how the input named it, and its size when the labels say."""

    path: Path
    name: str  # as written in the input: source-ref, file_name or path under the folder
    origin: str  # where the input names it, for messages: "line 3", "images[2]", the file
    size: tuple[int, int] | None = None  # (width, height) px from the labels


@dataclass
class RealSet:
    """Real images and, when the input has labels, their boxes."""

    source: Path
    kind: str  # "folder", "manifest" or "coco"
    entries: list[RealImage]
    classes: list[str] | None = None  # class names, None when the input has no labels
    objects: list[dict] = field(default_factory=list)  # one row per box
    skipped_boxes: int = 0  # boxes of zero width or height, left out of `objects`

    @property
    def labelled(self) -> bool:
        """Whether the input has box labels."""
        return self.classes is not None

    def sizes(self, limit: int) -> list[tuple[int, int]]:
        """(width, height) px of the first `limit` images, from the labels or the file headers."""
        return [entry.size or _header_size(entry) for entry in self.entries[:limit]]

    def formats(self, limit: int) -> Counter:
        """How many of the first `limit` images have each file suffix (".jpg": 120, ...)."""
        return Counter(entry.path.suffix.lower() for entry in self.entries[:limit])

    def images(self, limit: int) -> Iterator[np.ndarray]:
        """(H, W, 3) uint8 RGB of the first `limit` images, in input order, decoded lazily."""
        for entry in self.entries[:limit]:
            yield load_rgb(entry)


def load_rgb(entry: RealImage) -> np.ndarray:
    """(H, W, 3) uint8 RGB of one real image."""
    try:
        with Image.open(entry.path) as image:
            return np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError) as err:
        raise _unreadable(entry, err) from err


def _header_size(entry: RealImage) -> tuple[int, int]:
    """(width, height) px read from the image file's header, without decoding it."""
    try:
        with Image.open(entry.path) as image:
            return image.size
    except (UnidentifiedImageError, OSError) as err:
        raise _unreadable(entry, err) from err


def _unreadable(entry: RealImage, err: Exception) -> ValueError:
    return ValueError(
        f"{entry.origin}: {entry.path} is not a readable image ({err}); replace or remove it"
    )


def open_real_set(path: Path, images_root: Path | None = None) -> RealSet:
    """The real set at `path`: a folder of images, a Ground Truth manifest or a COCO file.

    images_root: folder that relative image locations are resolved against (default: the
    folder of the manifest or COCO file).
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"--real {path} does not exist; {WHAT_TO_GIVE}")
    if images_root is not None and not Path(images_root).is_dir():
        raise ValueError(f"--real-images {images_root} is not a folder; give the images' folder")
    if path.is_dir():
        return _folder(path)
    suffix = path.suffix.lower()
    base = Path(images_root) if images_root is not None else path.parent
    if suffix in MANIFEST_SUFFIXES:
        return _manifest(path, base)
    if suffix in COCO_SUFFIXES:
        return _coco(path, base)
    raise ValueError(f"--real {path}: {suffix or 'no suffix'} is no known input; {WHAT_TO_GIVE}")


def _folder(folder: Path) -> RealSet:
    """Every image under `folder` (searched recursively), in path order."""
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(
            f"--real {folder} holds no images ({', '.join(IMAGE_SUFFIXES)}); {WHAT_TO_GIVE}"
        )
    entries = [RealImage(p, p.relative_to(folder).as_posix(), f"--real {folder}") for p in files]
    return RealSet(folder, "folder", entries)


def _resolve(location: str, base: Path, where: str, field_name: str) -> Path:
    """The local file that an image location of the input names; ValueError where there is none."""
    if "://" in location:
        raise ValueError(
            f"{where}: {field_name} {location!r} is a URI, which the report cannot read offline; "
            "download the images (for s3://, `aws s3 sync`) and rewrite "
            f"{field_name} to local paths, absolute or relative to {base}"
        )
    path = Path(location).expanduser()
    path = path if path.is_absolute() else base / path
    if not path.is_file():
        raise ValueError(
            f"{where}: {field_name} {location!r}: no image at {path}; relative locations are "
            f"resolved against {base} (give --real-images DIR if the images are elsewhere)"
        )
    return path


def _manifest(path: Path, base: Path) -> RealSet:
    """A Ground Truth manifest: one image a line, boxes when a label attribute holds them."""
    entries, lines = [], []
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not text.strip():
            continue
        where = f"{path}: line {number}"
        line = _json_line(text, where)
        if not isinstance(line.get("source-ref"), str):
            raise ValueError(
                f'{where}: no source-ref; every line needs "source-ref": the image\'s location'
            )
        ref = line["source-ref"]
        entries.append(RealImage(_resolve(ref, base, where, "source-ref"), ref, where))
        lines.append((where, line))
    if not entries:
        raise ValueError(f"{path} has no lines; give a manifest with one JSON object per line")

    attribute = _label_attribute(lines)
    if attribute is None:
        return RealSet(path, "manifest", entries)
    class_map: dict[int, str] = {}
    boxes = []
    for image, (where, line) in zip(entries, lines, strict=True):
        if attribute not in line:
            continue
        label = line[attribute]
        image.size = _manifest_size(label, where, attribute)
        class_map.update(_class_map(line, attribute, where, class_map))
        boxes += [(image, where, box) for box in _manifest_boxes(label, where, attribute)]
    return _with_boxes(RealSet(path, "manifest", entries), class_map, boxes)


def _json_line(text: str, where: str) -> dict:
    try:
        line = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{where} is not valid JSON ({err.msg} at column {err.colno}); each line of a "
            "manifest must be one complete JSON object"
        ) from err
    if not isinstance(line, dict):
        raise ValueError(f"{where} is a JSON {type(line).__name__}, not an object")
    return line


def _label_attribute(lines: list[tuple[str, dict]]) -> str | None:
    """The key whose value holds `annotations`, the same on every line that has one."""
    found: tuple[str, str] | None = None
    for where, line in lines:
        keys = [k for k, v in line.items() if isinstance(v, dict) and "annotations" in v]
        if not keys:
            continue
        if found is None:
            found = (keys[0], where)
        elif found[0] not in keys:
            raise ValueError(
                f"{where}: boxes are under {keys[0]!r}, but {found[1]} has them under "
                f"{found[0]!r}; one manifest must use one label attribute"
            )
    return found[0] if found else None


def _manifest_size(label: dict, where: str, attribute: str) -> tuple[int, int] | None:
    """(width, height) from the label's image_size, None when it has none."""
    sizes = label.get("image_size")
    if not sizes:
        return None
    size = sizes[0] if isinstance(sizes, list) else sizes
    try:
        return int(size["width"]), int(size["height"])
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(
            f'{where}: {attribute}.image_size must be [{{"width": W, "height": H, '
            f'"depth": 3}}], got {sizes!r}'
        ) from err


def _class_map(line: dict, attribute: str, where: str, known: dict[int, str]) -> dict[int, str]:
    """{class id: name} from `<attribute>-metadata`.class-map ({} when the line has none)."""
    metadata = line.get(f"{attribute}-metadata") or {}
    class_map = metadata.get("class-map") or {}
    try:
        return {int(k): str(v) for k, v in class_map.items() if int(k) not in known}
    except (AttributeError, ValueError) as err:
        raise ValueError(
            f'{where}: {attribute}-metadata.class-map must map class ids ("0", "1", ...) to '
            f"names, got {class_map!r}"
        ) from err


def _manifest_boxes(label: dict, where: str, attribute: str) -> list[tuple]:
    """(class_id, left, top, width, height) of each annotation of one line."""
    if not isinstance(label["annotations"], list):
        raise ValueError(f"{where}: {attribute}.annotations must be a list of boxes")
    boxes = []
    for i, annotation in enumerate(label["annotations"]):
        field_path = f"{attribute}.annotations[{i}]"
        missing = [k for k in BOX_FIELDS if not isinstance(annotation, dict) or k not in annotation]
        if missing:
            raise ValueError(
                f"{where}: {field_path} lacks {', '.join(missing)}; each annotation needs "
                "class_id, left, top, width and height (pixels)"
            )
        try:
            boxes.append(tuple(float(annotation[k]) for k in BOX_FIELDS))
        except (TypeError, ValueError) as err:
            raise ValueError(f"{where}: {field_path} has a value that is not a number") from err
    return boxes


def _coco(path: Path, base: Path) -> RealSet:
    """A COCO instances file: images, and boxes when it has annotations and categories."""
    try:
        coco = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{path} is not valid JSON ({err.msg} at line {err.lineno}, column {err.colno}); give "
            "a COCO file with images, annotations and categories"
        ) from err
    if not isinstance(coco, dict) or not isinstance(coco.get("images"), list):
        raise ValueError(f"{path} has no `images` list; a COCO file needs images (id, file_name)")

    entries, by_id = [], {}
    for i, item in enumerate(coco["images"]):
        where = f"{path}: images[{i}]"
        if not isinstance(item, dict) or "id" not in item or "file_name" not in item:
            raise ValueError(f"{where} needs id and file_name")
        name = str(item["file_name"])
        image = RealImage(_resolve(name, base, where, "file_name"), name, where)
        if "width" in item and "height" in item:
            image.size = (int(item["width"]), int(item["height"]))
        entries.append(image)
        by_id[item["id"]] = image
    if not entries:
        raise ValueError(f"{path} has an empty `images` list")
    if "annotations" not in coco:
        return RealSet(path, "coco", entries)

    class_map = _coco_categories(coco, path)
    return _with_boxes(RealSet(path, "coco", entries), class_map, _coco_boxes(coco, path, by_id))


def _coco_categories(coco: dict, path: Path) -> dict[int, str]:
    categories = coco.get("categories")
    if not isinstance(categories, list):
        raise ValueError(f"{path} has annotations but no `categories` list (id, name)")
    try:
        return {int(c["id"]): str(c["name"]) for c in categories}
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: every entry of `categories` needs an id and a name") from err


def _coco_boxes(coco: dict, path: Path, by_id: dict) -> list[tuple]:
    """(image, where, (category_id, x, y, w, h)) of every annotation that is not a crowd."""
    boxes = []
    for i, annotation in enumerate(coco["annotations"]):
        where = f"{path}: annotations[{i}]"
        if not isinstance(annotation, dict):
            raise ValueError(f"{where} is not an object")
        image = by_id.get(annotation.get("image_id"))
        if image is None:
            raise ValueError(
                f"{where}: image_id {annotation.get('image_id')!r} is the id of no entry of "
                "`images`"
            )
        bbox = annotation.get("bbox")
        if not isinstance(bbox, list) or len(bbox) != 4 or "category_id" not in annotation:
            raise ValueError(f"{where} needs category_id and bbox [x, y, width, height] (pixels)")
        # A crowd annotation marks a region of many objects, not one object's box.
        if annotation.get("iscrowd", 0):
            continue
        boxes.append((image, where, (float(annotation["category_id"]), *map(float, bbox))))
    return boxes


def _with_boxes(real: RealSet, class_map: dict[int, str], boxes: list[tuple]) -> RealSet:
    """real with its classes and one object row per box of non-zero size."""
    names = dict(sorted(class_map.items()))
    for image, where, (class_id, left, top, w, h) in boxes:
        if w <= 0 or h <= 0:
            real.skipped_boxes += 1
            continue
        if int(class_id) not in names:
            # Without a name the class cannot be matched with a synthetic one; its id stands in.
            log.warning("%s: class %d has no name in the class map", where, class_id)
            names[int(class_id)] = str(int(class_id))
        width, height = image.size or _header_size(image)
        image.size = (width, height)
        real.objects.append(
            {
                "image": image.name,
                "class_name": names[int(class_id)],
                **box_fields(left, top, w, h, width, height),
            }
        )
    if real.skipped_boxes:
        log.warning(
            "%s: %d boxes of zero width or height left out", real.source, real.skipped_boxes
        )
    real.classes = list(names.values())
    return real


# Chroma subsampling of the format-matched JPEGs, the common default of cameras and libraries.
JPEG_SUBSAMPLING = "4:2:0"
SUBSAMPLING_NAMES = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}


def common_short_side(*sizes: list[tuple[int, int]]) -> int:
    """The smaller of the sets' median shorter sides, pixels; sizes are (width, height) lists."""
    return int(round(min(float(np.median([min(w, h) for w, h in group])) for group in sizes)))


def match_format(rgb: np.ndarray, short_side_px: int, quality: int) -> tuple[np.ndarray, dict]:
    """(image, encoding): (h, w, 3) uint8 rgb resized (Lanczos) so that its shorter side is
    short_side_px, encoded as JPEG of `quality` with JPEG_SUBSAMPLING chroma, decoded again.

    encoding records what the encoder wrote, read back from the JPEG bytes: size, byte count,
    subsampling and the quantisation tables (64 values each, in natural row order).
    """
    image = Image.fromarray(rgb)
    width, height = image.size
    scale = short_side_px / min(width, height)
    size = (
        (max(1, round(width * scale)), short_side_px)
        if height <= width
        else (short_side_px, max(1, round(height * scale)))
    )
    if size != image.size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, subsampling=JPEG_SUBSAMPLING)
    data = buffer.getvalue()

    with Image.open(io.BytesIO(data)) as decoded:
        tables = decoded.quantization
        sampling = JpegImagePlugin.get_sampling(decoded)
        out = np.asarray(decoded.convert("RGB"))
    encoding = {
        "width": out.shape[1],
        "height": out.shape[0],
        "jpeg_quality": quality,
        "jpeg_bytes": len(data),
        "subsampling": SUBSAMPLING_NAMES.get(sampling, str(sampling)),
        "luma_qtable": " ".join(str(v) for v in tables[0]),
        "chroma_qtable": " ".join(str(v) for v in tables.get(1, [])),
    }
    return out, encoding
