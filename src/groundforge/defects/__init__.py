"""Defects on demand: generators that change a product's geometry or surface, and the plan
that decides which products get which defect (exact quotas or probabilities per class)."""

from __future__ import annotations

import dataclasses

import numpy as np

from groundforge.defects.generators import GENERATORS, DefectNotApplicable, Options
from groundforge.world.state import Body, Defect

__all__ = ["GENERATORS", "DefectNotApplicable", "Options", "Wanted", "apply_defects"]


@dataclasses.dataclass(frozen=True)
class Wanted:
    """One defect to make: the scene's name for it, its generator, severity and options."""

    name: str
    kind: str
    severity: float
    options: Options


def apply_defects(
    body: Body, wanted: list[Wanted], first_id: int, rng: np.random.Generator
) -> Body:
    """`body` with the defects made, numbered from `first_id` (ids are unique in a world).

    Its clean parts are kept for shadows; raises DefectNotApplicable when the product cannot
    have one of them.
    """
    if not wanted:
        return body
    parts = body.parts
    marks, ghosts, records = list(body.marks), list(body.ghosts), list(body.defects)
    for i, w in enumerate(wanted):
        defect_id = first_id + i
        result = GENERATORS[w.kind](parts, defect_id, w.severity, w.options, rng)
        parts = result.parts
        marks += result.marks
        ghosts += result.ghosts
        records.append(
            Defect(defect_id, w.name, w.kind, round(float(w.severity), 6), result.params)
        )
    return dataclasses.replace(
        body,
        parts=parts,
        marks=tuple(marks),
        ghosts=tuple(ghosts),
        defects=tuple(records),
        clean_parts=body.shadow_parts,
    )
