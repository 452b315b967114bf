"""Generation speed: `siyu generate` for N persons × D days, against the 180 s goal.

    python benchmarks/bench_generate.py --members 1000000 --days 730 [--out /tmp/siyu-bench]
        [--chunk-persons 250000]

Prints one JSON document: elapsed seconds, peak resident memory of the process
(`peak_rss_gib`, getrusage), rows per entity, rows per second, files and bytes on disk, and
`ratio_to_goal` = elapsed / 180 s (≤ 1 meets the goal). The output folder is deleted
afterwards unless --keep is given. Memory grows with `--chunk-persons` (persons held at once),
not with `--members`.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import time
from pathlib import Path

from siyu_generator import generate

GOAL_SECONDS = 180.0


def disk_usage(root: Path) -> tuple[int, int]:
    """(files, bytes) under `root`."""
    sizes = [f.stat().st_size for f in root.rglob("*") if f.is_file()]
    return len(sizes), sum(sizes)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--members", type=int, default=1_000_000)
    p.add_argument("--days", type=int, default=730)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("/tmp/siyu-bench-generate"))
    p.add_argument("--keep", action="store_true", help="keep the generated zone afterwards")
    p.add_argument("--chunk-persons", type=int, default=None,
                   help="persons held in memory at once (default: the generator's)")
    args = p.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    t0 = time.perf_counter()
    summary = generate(args.out, members=args.members, days=args.days, seed=args.seed,
                       chunk_persons=args.chunk_persons)
    elapsed = time.perf_counter() - t0
    files, size = disk_usage(args.out)
    rows = sum(summary["rows"].values())
    print(json.dumps({
        "members": args.members, "days": args.days, "seed": args.seed,
        "seconds": round(elapsed, 1),
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "chunk_persons": args.chunk_persons,
        "rows_written": rows,
        "rows_per_second": round(rows / elapsed),
        "ratio_to_goal": round(elapsed / GOAL_SECONDS, 3),
        "files_on_disk": files,
        "bytes_on_disk": size,
        "megabytes_on_disk": round(size / 2**20, 1),
        "rows": summary["rows"],
        "malformed_rows": sum(d["malformed"] for d in summary["dirt"].values()),
        "truth": summary["truth"],
    }, indent=2, ensure_ascii=False))
    if not args.keep:
        shutil.rmtree(args.out, ignore_errors=True)


if __name__ == "__main__":
    main()
