"""Which product gets which defect.

With a class `quota`, a batch gets exactly round(quota * n) defective products of that class
among its n, split between the types by largest remainder, chosen by a permutation drawn from
the batch seed: the plan depends on the scene, the seed and the batch's units only, never on
how many workers render it. Without a quota, each product draws each type independently.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np

from groundforge.assets.textures import srgb_to_linear
from groundforge.defects.generators import Options
from groundforge.sampling.seeds import rng_for
from groundforge.spec.scene import ClassDefectsSpec, DefectTypeSpec, Scene

# (unit, instance id) -> defect name; a unit is a shot for stills, a sequence for video.
Plan = dict[tuple[int, int], str]


def round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def largest_remainder(total: int, weights: list[float]) -> list[int]:
    """Integers summing to `total`, proportional to `weights`; ties go to the earlier."""
    w = np.asarray(weights, dtype=np.float64)
    exact = total * w / w.sum()
    counts = np.floor(exact).astype(int)
    short = total - int(counts.sum())
    order = sorted(range(len(w)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[:short]:
        counts[i] += 1
    return [int(c) for c in counts]


def quota_plan(scene: Scene, seed: int, roster: Mapping[int, Iterable[tuple[int, str]]]) -> Plan:
    """The defects of a batch: `roster` maps each unit to its products' (instance id, class)."""
    plan: Plan = {}
    products: dict[str, list[tuple[int, int]]] = {}
    for unit in sorted(roster):
        for instance_id, class_name in roster[unit]:
            products.setdefault(class_name, []).append((unit, instance_id))
    for class_name, spec in scene.defects.items():
        if spec.quota is None:
            continue
        items = products.get(class_name, [])
        total = round_half_up(spec.quota * len(items))
        names = list(spec.types)
        counts = largest_remainder(total, [spec.types[n].rate for n in names])
        rng = rng_for(seed, 0, f"defect-quota/{class_name}")
        chosen = rng.permutation(len(items))[:total]
        labels = np.repeat(np.arange(len(names)), counts)
        rng.shuffle(labels)
        for item, label in zip(chosen, labels, strict=True):
            plan[items[int(item)]] = names[int(label)]
    return plan


def defect_names(
    scene: Scene, seed: int, unit: int, instance_id: int, class_name: str, plan: Plan | None
) -> list[str]:
    """The defects one product has: its planned one (quota classes) or those it draws."""
    spec: ClassDefectsSpec | None = scene.defects.get(class_name)
    if spec is None:
        return []
    if spec.quota is not None:
        name = (plan or {}).get((unit, instance_id))
        return [name] if name is not None else []
    rng = rng_for(seed, unit, f"defect-draw/{instance_id}")
    return [name for name, t in spec.types.items() if rng.random() < t.rate]


def options(spec: DefectTypeSpec, rng: np.random.Generator) -> tuple[float, Options]:
    """(severity, generator options) drawn for one product."""
    severity = float(spec.severity.sample(rng))
    color = None
    if spec.color is not None:
        color = tuple(float(c) for c in srgb_to_linear(np.asarray(spec.color.sample(rng))))
    size = float(spec.size_m.sample(rng)) if spec.size_m is not None else None
    return severity, Options(size_m=size, part=spec.part, mode=spec.mode, color=color)
