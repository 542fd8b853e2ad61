"""Throughput, time per stage and memory of `generate` on the built-in conveyor scene.

    python benchmarks/throughput.py --count 100 --workers 1 2
    python benchmarks/throughput.py --count 1000 --workers 2 --memory-every 100

Prints images/s (every camera's image counts), seconds per image for each stage (summed over
the processes, so with 2 workers they add up to about twice the wall time), and the resident
memory of each process over the run.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from groundforge.run.batch import STAGES, generate


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def run(scene: str, count: int, workers: int, memory_every: int) -> None:
    out = Path(tempfile.mkdtemp(prefix="gf-bench-")) / "out"
    memory: dict[int, list[tuple[int, float]]] = defaultdict(list)
    done = [0]
    first: list[float] = []

    def on_shot(result) -> None:
        if not first:
            first.append(time.perf_counter())
            first.append(result.images)
        done[0] += result.images
        rows = memory[result.pid]
        if not rows or done[0] - rows[-1][0] >= memory_every:
            rows.append((done[0], result.rss_mb))

    start = time.perf_counter()
    summary = generate(scene, out, count, workers=workers, on_shot=on_shot)
    end = time.perf_counter()
    wall = end - start
    print(f"\n{scene}: {summary.images} images ({count} units), {workers} worker(s)")
    # The rate once every process is up: from the first finished shot to the last.
    steady = (summary.images - first[1]) / max(end - first[0], 1e-9)
    print(
        f"  wall {wall:.1f} s (batch {summary.seconds:.1f} s), "
        f"{summary.images / wall:.2f} images/s including start-up and manifests, "
        f"{steady:.2f} images/s after the first shot"
    )
    per_image = {k: summary.stage_seconds[k] / max(summary.images, 1) * 1000 for k in STAGES}
    print(
        "  per image, ms (process time): " + ", ".join(f"{k} {v:.1f}" for k, v in per_image.items())
    )
    for pid, rows in memory.items():
        trace = ", ".join(f"{n}: {mb:.0f}" for n, mb in rows)
        peak = max(mb for _, mb in rows)
        print(f"  process {pid} resident MiB after N images (N: MiB): {trace}; peak {peak:.0f}")
    shutil.rmtree(out.parent, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scene", default="conveyor")
    parser.add_argument("--count", type=int, default=50, help="shots per run")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--memory-every", type=int, default=50, help="images between samples")
    args = parser.parse_args()
    print(machine())
    for workers in args.workers:
        run(args.scene, args.count, workers, args.memory_every)


if __name__ == "__main__":
    main()
