"""Write landing files with DuckDB's partitioned COPY, then apply delivery dirt per file."""

from __future__ import annotations

import gzip
import json
import re
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from pipelines.lib.generator.config import GeneratorConfig


def copy_partitioned(con: duckdb.DuckDBPyConnection, select_sql: str, out: Path, fmt: str) -> None:
    """`select_sql` must end with a `dt` column; writes out/dt=YYYY-MM-DD/part-0001.<fmt>."""
    out.mkdir(parents=True, exist_ok=True)
    options = "FORMAT csv, HEADER true" if fmt == "csv" else "FORMAT json"
    con.execute(
        f"COPY ({select_sql}) TO '{out}' ({options}, PARTITION_BY (dt), "
        "OVERWRITE_OR_IGNORE true, FILENAME_PATTERN 'part-{i}')"
    )
    for folder in sorted(out.iterdir()):
        for i, f in enumerate(sorted(folder.iterdir()), start=1):
            f.rename(folder / f"part-{i:04d}.{'csv' if fmt == 'csv' else 'jsonl'}")


TS_RE = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}")


def _broken_line(line: str, fmt: str, rng: np.random.Generator) -> str:
    """A malformed copy of a real line: the kinds of damage channels actually deliver."""
    kind = int(rng.integers(0, 3))
    if fmt == "jsonl":
        if kind == 0 or not TS_RE.search(line):
            return line[: max(1, len(line) // 2)]  # cut in half
        if kind == 1:
            return TS_RE.sub("2024-13-45 25:61:00", line, count=1)  # impossible timestamp
        return line.rstrip("}") + ',"x":'  # truncated mid-object
    fields = line.split(",")
    if kind == 0:
        return ",".join(fields[:-2])  # wrong field count (too few)
    if kind == 1:
        return line + ",EXTRA,FIELDS"  # wrong field count (too many)
    if TS_RE.search(line):
        return TS_RE.sub("2024-13-45 25:61:00", line, count=1)  # impossible timestamp
    return ",".join(fields[:-1])


def apply_dirt(root: Path, rel_entity: str, fmt: str, encoding: str, cfg: GeneratorConfig,
               rng: np.random.Generator, bom: bool) -> dict[str, int]:
    stats = {"malformed": 0, "resent": 0, "gzipped": 0}
    folder = root / rel_entity
    if not folder.exists():
        return stats
    for day_dir in sorted(folder.iterdir()):
        for f in sorted(day_dir.iterdir()):
            text = f.read_text(encoding="utf-8")
            lines = text.rstrip("\n").split("\n")
            body = lines[1:] if fmt == "csv" else lines
            k = rng.poisson(cfg.malformed_rows_per_file) if body else 0
            extra = [_broken_line(body[rng.integers(0, len(body))], fmt, rng) for _ in range(k)]
            stats["malformed"] += k
            text = "\n".join(lines + extra) + "\n"
            if bom and rng.random() < cfg.p_bom:
                text = "\ufeff" + text
            data = text.encode(encoding)
            if rng.random() < cfg.p_gzip:
                f.unlink()
                f = f.with_name(f.name + ".gz")
                data = gzip.compress(data, mtime=0)
                stats["gzipped"] += 1
            f.write_bytes(data)
            if rng.random() < cfg.p_resend_file:
                name = f.name.replace("part-0001", "part-0001-resend")
                shutil.copyfile(f, f.with_name(name))
                stats["resent"] += 1
    return stats


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")


def write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
