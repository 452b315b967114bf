"""Generation speed: `siyu generate` for N persons × D days, as a ratio to the 180 s goal.

    python benchmarks/bench_generate.py --members 1000000 --days 730 [--out /tmp/siyu-bench]
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from pipelines.lib.generator import generate

GOAL_SECONDS = 180.0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--members", type=int, default=1_000_000)
    p.add_argument("--days", type=int, default=730)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("/tmp/siyu-bench-generate"))
    p.add_argument("--keep", action="store_true", help="keep the landing zone afterwards")
    args = p.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    t0 = time.perf_counter()
    summary = generate(args.out, members=args.members, days=args.days, seed=args.seed)
    elapsed = time.perf_counter() - t0
    rows = sum(summary["rows"].values())
    size = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    print(json.dumps({
        "members": args.members, "days": args.days, "seconds": round(elapsed, 1),
        "rows_written": rows, "rows_per_second": round(rows / elapsed),
        "bytes_on_disk": size, "ratio_to_goal_180s": round(elapsed / GOAL_SECONDS, 3),
        "rows": summary["rows"],
    }, indent=2))
    if not args.keep:
        shutil.rmtree(args.out, ignore_errors=True)


if __name__ == "__main__":
    main()
