"""Time and peak memory of the report over a dataset, optionally against real images.

    python benchmarks/report.py DATASET [--real FOLDER] [--limit 1000]

Prints seconds and the peak resident memory of this process (the report runs in one process).
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
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="gf-report-"))
    start = time.perf_counter()
    build_report(args.dataset, out, real=args.real, limit=args.limit)
    seconds = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"report over up to {args.limit} images per side: {seconds:.1f} s, "
        f"peak resident memory {peak_mib:.0f} MiB, written to {out}"
    )


if __name__ == "__main__":
    main()
