"""Scene-file values that are fixed or drawn from a distribution, and colours.

Every numeric field of a scene file takes either a plain value or a mapping with a `dist` key:

    scale: 1.0
    scale: {dist: uniform, min: 0.9, max: 1.1}
    scale: {dist: normal, mean: 1.0, std: 0.05}
    scale: {dist: truncnormal, mean: 1.0, std: 0.05, min: 0.8, max: 1.2}
    scale: {dist: choice, values: [0.9, 1.0, 1.1], weights: [1, 2, 1]}
    count: {dist: randint, min: 2, max: 8}
"""

from __future__ import annotations

import functools
import re
from typing import Annotated, Any, Literal, Union

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from groundforge.sampling import distributions as draw

DIST_NAMES = frozenset({"constant", "uniform", "normal", "truncnormal", "choice", "randint"})


class Strict(BaseModel):
    """A scene-file model: immutable, and unknown fields are errors that list the known ones."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, validate_default=True
    )

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, data: Any) -> Any:
        if isinstance(data, dict):
            shown = {info.alias or name for name, info in cls.model_fields.items()}
            known = shown | set(cls.model_fields)
            unknown = [k for k in data if k not in known]
            if unknown:
                raise PydanticCustomError(
                    "unknown_field",
                    "unknown field; allowed fields here are: {allowed}",
                    {"field": str(unknown[0]), "allowed": ", ".join(sorted(shown))},
                )
        return data


class Ranged(Strict):
    """A distribution over [min, max]; subclasses declare the two fields."""

    @model_validator(mode="after")
    def _ordered(self):
        if self.max < self.min:
            raise PydanticCustomError(
                "bad_range",
                "max ({max}) is below min ({min}); give min <= max",
                {"min": self.min, "max": self.max},
            )
        return self


class Weighted(Strict):
    """A choice among `values` with optional relative `weights`; subclasses declare both."""

    @model_validator(mode="after")
    def _weights_match(self):
        _check_weights(self.values, self.weights)
        return self


def _as_constant(value: Any) -> Any:
    if isinstance(value, dict) or isinstance(value, BaseModel):
        return value
    return {"dist": "constant", "value": value}


@functools.cache
def _scalar_union(integer: bool, ge: float | None, gt: float | None, le: float | None):
    """The distribution models for one kind of scalar with optional bounds."""
    base = int if integer else float
    bounded = Annotated[base, Field(ge=ge, gt=gt, le=le)]
    suffix = f"{'I' if integer else 'F'}{ge}_{gt}_{le}".replace(".", "p").replace("-", "m")

    class Constant(Strict):
        dist: Literal["constant"]
        value: bounded

        def sample(self, rng: np.random.Generator):
            return self.value

        def support(self) -> tuple[float, float]:
            return (self.value, self.value)

    class Uniform(Ranged):
        dist: Literal["uniform"]
        min: bounded
        max: bounded

        def sample(self, rng):
            value = draw.uniform(rng, self.min, self.max)
            return int(round(value)) if integer else value

        def support(self):
            return (self.min, self.max)

    class TruncNormal(Ranged):
        dist: Literal["truncnormal"]
        mean: float
        std: Annotated[float, Field(ge=0)]
        min: bounded
        max: bounded

        def sample(self, rng):
            value = draw.truncated_normal(rng, self.mean, self.std, self.min, self.max)
            return int(round(value)) if integer else value

        def support(self):
            return (self.min, self.max)

    class Choice(Weighted):
        dist: Literal["choice"]
        values: Annotated[list[bounded], Field(min_length=1)]
        weights: list[Annotated[float, Field(ge=0)]] | None = None

        def sample(self, rng):
            return self.values[draw.weighted_index(rng, self.weights, len(self.values))]

        def support(self):
            return (min(self.values), max(self.values))

    members: list[type] = [Constant, Uniform, TruncNormal, Choice]
    if integer:

        class RandInt(Ranged):
            dist: Literal["randint"]
            min: bounded
            max: bounded

            def sample(self, rng):
                return draw.integer(rng, self.min, self.max)

            def support(self):
                return (self.min, self.max)

        members.append(RandInt)
    elif ge is None and gt is None and le is None:
        # An unbounded normal only fits a field without bounds; bounded ones take truncnormal.
        class Normal(Strict):
            dist: Literal["normal"]
            mean: float
            std: Annotated[float, Field(ge=0)]

            def sample(self, rng):
                return draw.normal(rng, self.mean, self.std)

            def support(self):
                return (-np.inf, np.inf)

        members.append(Normal)
    for m in members:
        m.__name__ = f"{m.__name__}_{suffix}"
    return Annotated[
        Union[tuple(members)],  # noqa: UP007 - a runtime-built union
        Field(discriminator="dist"),
        BeforeValidator(_as_constant),
    ]


def _check_weights(values: list, weights: list[float] | None) -> None:
    if weights is None:
        return
    if len(weights) != len(values):
        raise PydanticCustomError(
            "bad_weights",
            "weights has {n} entries but values has {m}; give one weight per value",
            {"n": len(weights), "m": len(values)},
        )
    if sum(weights) <= 0:
        raise PydanticCustomError("bad_weights", "weights sum to 0; give at least one positive")


def Real(ge: float | None = None, gt: float | None = None, le: float | None = None):  # noqa: N802
    """A float field: a plain value or a distribution, within the given bounds."""
    return _scalar_union(False, ge, gt, le)


def Integer(ge: int | None = None, gt: int | None = None, le: int | None = None):  # noqa: N802
    """An integer field: a plain value or a distribution (randint among them)."""
    return _scalar_union(True, ge, gt, le)


_HEX = re.compile(r"^#?([0-9a-fA-F]{6})$")


def _parse_color(value: Any) -> tuple[float, float, float]:
    if isinstance(value, str):
        m = _HEX.match(value.strip())
        if not m:
            raise PydanticCustomError(
                "bad_color",
                "{value} is not a colour; give '#rrggbb' or three numbers in 0-1",
                {"value": value},
            )
        h = m.group(1)
        return tuple(int(h[i : i + 2], 16) / 255.0 for i in (0, 2, 4))
    if isinstance(value, list | tuple) and len(value) == 3:
        try:
            rgb = tuple(float(c) for c in value)
        except (TypeError, ValueError):
            rgb = None
        if rgb is not None and all(0.0 <= c <= 1.0 for c in rgb):
            return rgb
    raise PydanticCustomError(
        "bad_color",
        "{value} is not a colour; give '#rrggbb' or three numbers in 0-1",
        {"value": value},
    )


SRGB = Annotated[tuple[float, float, float], BeforeValidator(_parse_color)]
"""A colour as written in a scene file: sRGB, '#rrggbb' or a 0-1 triple."""


class ColorConstant(Strict):
    dist: Literal["constant"]
    value: SRGB

    def sample(self, rng: np.random.Generator) -> tuple[float, float, float]:
        return self.value


class ColorChoice(Weighted):
    dist: Literal["choice"]
    values: Annotated[list[SRGB], Field(min_length=1)]
    weights: list[Annotated[float, Field(ge=0)]] | None = None

    def sample(self, rng):
        return self.values[draw.weighted_index(rng, self.weights, len(self.values))]


class ColorUniform(Strict):
    """Each channel drawn uniformly between the channels of `min` and `max` (sRGB)."""

    dist: Literal["uniform"]
    min: SRGB
    max: SRGB

    def sample(self, rng):
        return tuple(draw.uniform(rng, lo, hi) for lo, hi in zip(self.min, self.max, strict=True))


Color = Annotated[
    ColorConstant | ColorChoice | ColorUniform,
    Field(discriminator="dist"),
    BeforeValidator(_as_constant),
]
"""A colour field: a colour, or a choice among colours, or a uniform box between two."""


def _as_str_constant(value: Any) -> Any:
    return value if isinstance(value, dict) else {"dist": "constant", "value": value}


class NameConstant(Strict):
    dist: Literal["constant"]
    value: str

    def sample(self, rng: np.random.Generator) -> str:
        return self.value

    def names(self) -> list[str]:
        return [self.value]


class NameChoice(Weighted):
    dist: Literal["choice"]
    values: Annotated[list[str], Field(min_length=1)]
    weights: list[Annotated[float, Field(ge=0)]] | None = None

    def sample(self, rng):
        return self.values[draw.weighted_index(rng, self.weights, len(self.values))]

    def names(self) -> list[str]:
        return list(self.values)


Name = Annotated[
    NameConstant | NameChoice, Field(discriminator="dist"), BeforeValidator(_as_str_constant)
]
"""A name field: one name, or a weighted choice among names."""


def Vec3(ge: float | None = None, gt: float | None = None):  # noqa: N802
    """Three float fields, each fixed or a distribution."""
    r = Real(ge=ge, gt=gt)
    return tuple[r, r, r]
