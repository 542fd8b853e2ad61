"""The scene-file reference, generated from the schema and the product library so that it
cannot drift from either."""

from __future__ import annotations

import json
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from groundforge.assets.procedural import PRODUCTS
from groundforge.spec import fields
from groundforge.spec.scene import Scene

INTRO = """# Scene-file reference

Generated from the schema by `groundforge schema`; a test checks that this file matches it.

A scene file is YAML. Any field marked *number or distribution* takes a plain value or a
mapping with a `dist` key, drawn anew for every object or shot:

| form | meaning |
| --- | --- |
| `1.0` | always 1.0 |
| `{dist: uniform, min: 0.9, max: 1.1}` | uniform between min and max |
| `{dist: normal, mean: 1.0, std: 0.05}` | normal (only for fields without bounds) |
| `{dist: truncnormal, mean: 1.0, std: 0.05, min: 0.8, max: 1.2}` | normal, kept within bounds |
| `{dist: choice, values: [a, b, c], weights: [1, 2, 1]}` | one of the values, weighted |
| `{dist: randint, min: 2, max: 8}` | integer from min to max inclusive (integer fields) |

Colours are sRGB: `'#rrggbb'` or three numbers in 0-1; a colour field also takes
`{dist: choice, values: [...]}` or `{dist: uniform, min: colour, max: colour}`.
Lengths are metres, angles degrees.
"""


def scene_reference() -> str:
    """Markdown describing every model and field of a scene file."""
    sections: list[str] = [INTRO]
    seen: set[type] = set()
    queue: list[tuple[str, type[BaseModel]]] = [("scene file (top level)", Scene)]
    while queue:
        title, model = queue.pop(0)
        if model in seen:
            continue
        seen.add(model)
        rows = ["| field | type | default | description |", "| --- | --- | --- | --- |"]
        for name, info in model.model_fields.items():
            key = info.alias or name
            nested = _models(info.annotation)
            queue += [(f"`{key}`: {m.__name__}", m) for m in nested if m not in seen]
            rows.append(
                f"| `{key}` | {_type(info.annotation)} | {_default(info)} | "
                f"{(info.description or '').replace('|', '/')} |"
            )
        doc = (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        sections.append(f"## {title}\n\n" + (f"{doc}\n\n" if doc else "") + "\n".join(rows) + "\n")
    sections.append(_products())
    return "\n".join(sections)


def _products() -> str:
    """The built-in products: parameters with defaults, and material slots."""
    rows = ["| product | parameters (default, metres) | material slots |", "| --- | --- | --- |"]
    for name, kind in PRODUCTS.items():
        params = ", ".join(f"`{k}` {v:g}" for k, v in kind.params.items())
        rows.append(f"| `{name}` | {params} | {', '.join(f'`{s}`' for s in kind.slots)} |")
    return (
        "## Built-in products\n\n"
        "An asset with `product: NAME` is built from these parameters; `params` overrides any of\n"
        "them and `scale` multiplies them all.\n\n" + "\n".join(rows) + "\n"
    )


def _members(tp: Any) -> tuple:
    """The types a union (or an annotated union) admits; () for anything else."""
    if get_origin(tp) is typing.Annotated:
        return _members(get_args(tp)[0])
    if get_origin(tp) in (Union, types.UnionType):
        return get_args(tp)
    return ()


def _is_distribution(tp: Any) -> bool:
    return any(
        isinstance(m, type) and issubclass(m, fields.Strict) and "dist" in m.model_fields
        for m in _members(tp)
    )


def _type(tp: Any) -> str:
    origin = get_origin(tp)
    if _is_distribution(tp):
        names = [getattr(m, "__name__", "") for m in _members(tp)]
        if any(n.startswith("Color") for n in names):
            return "colour or distribution"
        if any(n.startswith("Name") for n in names):
            return "name or choice"
        if any(n.startswith("RandInt") for n in names):
            return "integer or distribution"
        return "number or distribution"
    if origin is typing.Annotated:
        return _type(get_args(tp)[0])
    if origin in (Union, types.UnionType):
        if any(_is_distribution(a) for a in get_args(tp)):
            inner = [a for a in get_args(tp) if a is not type(None)]
            return _type(inner[0]) + " (optional)" if len(inner) == 1 else "see schema"
        return " or ".join(_type(a) for a in get_args(tp) if a is not type(None)) + (
            " (optional)" if type(None) in get_args(tp) else ""
        )
    if origin is Literal:
        return " / ".join(f"`{a}`" for a in get_args(tp))
    if origin in (list, tuple):
        args = [a for a in get_args(tp) if a is not Ellipsis]
        inner = ", ".join(_type(a) for a in args)
        return f"[{inner}]" if origin is tuple else f"list of {inner}"
    if origin is dict:
        return f"mapping of name to {_type(get_args(tp)[1])}"
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp.__name__
    if tp is type(None):
        return "null"
    return {str: "text", float: "number", int: "integer", bool: "true / false"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def _models(tp: Any) -> list[type[BaseModel]]:
    if _is_distribution(tp) or _type(tp).endswith("distribution (optional)"):
        return []
    out = []
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        out.append(tp)
    for a in get_args(tp):
        out += _models(a)
    return out


def _default(info) -> str:
    if info.default is PydanticUndefined and info.default_factory is None:
        return "required"
    value = info.default_factory() if info.default_factory is not None else info.default
    if isinstance(value, BaseModel):
        return "see below"
    text = json.dumps(value, default=str)
    return f"`{text}`" if len(text) < 40 else "see schema"
