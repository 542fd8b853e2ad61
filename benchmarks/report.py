"""Time and peak memory of the report over a dataset, optionally against real images.

    python benchmarks/report.py DATASET [--real FOLDER] [--limit 1000] [--embedder NET]

Prints seconds and the peak resident memory of this process and of the largest of its
feature-extraction worker processes.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from groundforge.report.build import build_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--real", type=Path, default=None)
    parser.add_argument("--limit", type=int, default=1000, help="images per side")
    parser.add_argument(
        "--embedder", default=None, help="efficientnet-lite0 or a .onnx path (default: none)"
    )
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="gf-report-"))
    start = time.perf_counter()
    build_report(args.dataset, out, real=args.real, limit=args.limit, embedder=args.embedder)
    seconds = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"report over up to {args.limit} images per side: {seconds:.1f} s, peak resident "
        f"memory {peak_mib:.0f} MiB (largest worker process {workers_mib:.0f} MiB), "
        f"written to {out}"
    )


if __name__ == "__main__":
    main()
