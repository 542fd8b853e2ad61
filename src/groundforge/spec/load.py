"""Reading scene files: YAML to a validated `Scene`, or a `SceneError` naming every bad field."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from groundforge.spec.errors import Problem, SceneError
from groundforge.spec.fields import DIST_NAMES
from groundforge.spec.scene import ReferenceProblems, Scene


@dataclass(frozen=True)
class LoadedScene:
    """A validated scene with where it came from and a hash of its text."""

    scene: Scene
    source: str
    text_hash: str
    base_dir: Path


def builtin_scenes() -> dict[str, str]:
    """Built-in scene name -> the first line of its description."""
    out = {}
    for entry in sorted(resources.files("groundforge.scenes").iterdir(), key=lambda e: e.stem):
        if entry.name.endswith(".yaml"):
            first = entry.read_text(encoding="utf-8").splitlines()[0]
            out[entry.name[: -len(".yaml")]] = first.lstrip("# ").strip()
    return out


def load_scene(source: str | Path) -> LoadedScene:
    """Load a scene by built-in name or file path, validated; raises SceneError."""
    path = Path(source)
    if not path.suffix and str(source) in builtin_scenes():
        entry = resources.files("groundforge.scenes") / f"{source}.yaml"
        with resources.as_file(entry) as real:
            return _load_text(real.read_text(encoding="utf-8"), f"{source} (built-in)", real.parent)
    if not path.exists():
        names = ", ".join(builtin_scenes())
        message = f"no such file, and not a built-in scene; give a YAML file or one of: {names}"
        raise SceneError(str(source), [Problem("", message)])
    if not path.is_file():
        raise SceneError(str(source), [Problem("", "is a folder; give a YAML scene file")])
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise SceneError(str(path), [Problem("", f"cannot be read as UTF-8 text: {err}")]) from None
    return _load_text(text, str(path), path.resolve().parent)


def parse_scene(text: str, source: str = "<scene>", base_dir: Path | None = None) -> Scene:
    """Validate scene-file text; raises SceneError."""
    return _load_text(text, source, base_dir or Path.cwd()).scene


def _load_text(text: str, source: str, base_dir: Path) -> LoadedScene:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        what = getattr(err, "problem", None) or str(err)
        raise SceneError(source, [Problem("", f"is not valid YAML: {where}{what}")]) from None
    if not isinstance(data, dict):
        raise SceneError(
            source,
            [
                Problem(
                    "",
                    "must be a YAML mapping with fields such as "
                    "name, classes, assets, objects, lights, cameras",
                )
            ],
        )
    try:
        scene = Scene.model_validate(data, context={"base_dir": str(base_dir)})
    except ValidationError as err:
        raise SceneError(source, _problems(err)) from None
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return LoadedScene(scene, source, digest, base_dir)


def _problems(err: ValidationError) -> list[Problem]:
    problems = []
    for e in err.errors(include_url=False):
        original = e.get("ctx", {}).get("error")
        if isinstance(original, ReferenceProblems):
            problems += [Problem(format_path(loc), msg) for loc, msg in original.problems]
            continue
        loc = list(e["loc"])
        message = e["msg"]
        if e["type"] == "unknown_field":
            loc.append(e["ctx"]["field"])
        elif e["type"] == "missing":
            message = "required field is missing"
        if e["type"] not in ("missing", "unknown_field") and _shown(e.get("input")):
            message += f" (got {e['input']!r})"
        problems.append(Problem(format_path(loc), message))
    return problems


def _shown(value) -> bool:
    return isinstance(value, int | float | str | bool) and len(repr(value)) < 60


def format_path(loc) -> str:
    """`objects[2].scale.min` from pydantic's location tuple, without union-member tags."""
    parts: list[str] = []
    items = list(loc)
    i = 0
    while i < len(items):
        item = items[i]
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item in DIST_NAMES:
            # A distribution's tag; a constant's own `value` is the field itself.
            if item == "constant" and i + 1 < len(items) and items[i + 1] == "value":
                i += 1
        elif "[" in str(item) and "]" in str(item) or str(item) in ("str", "float", "int"):
            pass  # pydantic's name for a union member
        elif str(item) == "MaterialSpec":
            pass
        else:
            parts.append(("." if parts else "") + str(item))
        i += 1
    return "".join(parts)
