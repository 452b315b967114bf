"""Render a delivery with DuckDB into one Arrow text buffer, then cut it into dt files.

The rows of a delivery are sorted by dt, so a day's file is one contiguous byte range of the
rendered buffer (Arrow's offsets give it directly): no per-row Python work. Per file, the
writer adds what real deliveries carry — a few malformed copies of real rows, a UTF-8 BOM
on some POS files (the others have none), GBK transcoding (Tmall), CRLF line ends on some
channel-days (a Windows till, Qianniu on Windows; every line of such a file ends in CRLF,
malformed copies included), gzip on some channel-days, a second copy under a `-resend`
name — drawing every decision from the entity's own random stream, so the bytes do not
depend on which thread wrote which entity.

File names: `landing/<channel>/<entity>/dt=YYYY-MM-DD/part-0001.<csv|jsonl>[.gz]`;
`part-0002`, ... when a day exceeds `max_rows_per_file`; `part-0001-resend.<ext>[.gz]` is a
byte-identical second delivery.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from siyu_generator.config import GeneratorConfig
from siyu_generator.dirt import damage
from siyu_generator.formats import Delivery

BOM = b"\xef\xbb\xbf"


@dataclass
class DeliveryStats:
    rows: int = 0
    files: int = 0  # distinct deliveries (without resends)
    malformed: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    resent: int = 0
    gzipped: int = 0
    bom: int = 0
    crlf: int = 0
    bytes: int = 0
    malformed_rows: list[tuple[str, int, str]] = field(default_factory=list)

    def summary(self) -> dict:
        return {"rows": self.rows, "files": self.files, "malformed": self.malformed,
                "malformed_by_kind": dict(sorted(self.by_kind.items())),
                "resent": self.resent, "gzipped": self.gzipped, "bom": self.bom,
                "crlf": self.crlf, "bytes": self.bytes}


def render(con: duckdb.DuckDBPyConnection, d: Delivery) -> tuple[pa.Buffer, np.ndarray]:
    """All lines of a delivery as one UTF-8 buffer plus the row offsets into it."""
    con.register("t", d.table)
    col = con.sql(f"SELECT {d.line_sql} AS line FROM t").to_arrow_table().column(0)
    con.unregister("t")
    arr = col.cast(pa.large_string()).combine_chunks()
    if arr.null_count:
        raise ValueError(f"{d.name}: {arr.null_count} rows rendered NULL")
    _, off_buf, data = arr.buffers()
    offsets = np.frombuffer(off_buf, dtype=np.int64, count=len(arr) + 1, offset=arr.offset * 8)
    return data, offsets


def _file_bytes(mv: memoryview, offsets: np.ndarray, lo: int, hi: int, header: bytes,
                d: Delivery, rng: np.random.Generator, cfg: GeneratorConfig,
                stats: DeliveryStats, rel: str) -> bytes:
    """Header + rows[lo:hi] with malformed copies inserted at random places."""
    n = hi - lo
    k = int(rng.poisson(min(cfg.malformed_rows_per_file, n * cfg.malformed_max_share)))
    if not k:
        return header + bytes(mv[offsets[lo]:offsets[hi]])
    sources = rng.integers(lo, hi, k)
    at = np.sort(rng.integers(lo, hi + 1, k))  # inserted before row `at`
    pieces, prev = [header], lo
    first_line = 2 if header else 1
    for j, (src, pos) in enumerate(zip(sources, at, strict=True)):
        line = bytes(mv[offsets[src]:offsets[src + 1]]).decode("utf-8")
        bad, kind = damage(line, d.fmt, d.damage, rng)
        pieces.append(bytes(mv[offsets[prev]:offsets[pos]]))
        pieces.append(bad.encode("utf-8"))
        prev = pos
        stats.by_kind[kind] = stats.by_kind.get(kind, 0) + 1
        stats.malformed_rows.append((rel, int(first_line + (pos - lo) + j), kind))
    pieces.append(bytes(mv[offsets[prev]:offsets[hi]]))
    stats.malformed += k
    return b"".join(pieces)


def write_delivery(d: Delivery, data: pa.Buffer, offsets: np.ndarray, root: Path,
                   dt_strings: list[str], gz_days: np.ndarray, rng: np.random.Generator,
                   cfg: GeneratorConfig, crlf_days: np.ndarray | None = None) -> DeliveryStats:
    stats = DeliveryStats(rows=len(d))
    if not len(d):
        return stats
    days = len(dt_strings)
    if np.any(np.diff(d.day) < 0):
        raise ValueError(f"{d.name}: rows are not sorted by dt")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(d.day, minlength=days))])
    mv = memoryview(data)
    header = (d.header + "\n").encode("utf-8") if d.header else b""
    ext = "csv" if d.fmt == "csv" else "jsonl"
    folder = root / d.name
    for day in np.flatnonzero(np.diff(bounds)):
        a, b = int(bounds[day]), int(bounds[day + 1])
        n_parts = -(-(b - a) // cfg.max_rows_per_file)
        day_dir = folder / f"dt={dt_strings[day]}"
        day_dir.mkdir(parents=True, exist_ok=True)
        for part in range(n_parts):
            lo = a + (b - a) * part // n_parts
            hi = a + (b - a) * (part + 1) // n_parts
            name = f"part-{part + 1:04d}.{ext}"
            gz = bool(gz_days[day])
            rel = f"{d.name}/dt={dt_strings[day]}/{name}{'.gz' if gz else ''}"
            body = _file_bytes(mv, offsets, lo, hi, header, d, rng, cfg, stats, rel)
            if crlf_days is not None and crlf_days[day]:
                body = body.replace(b"\n", b"\r\n")  # rendered lines hold no bare LF
                stats.crlf += 1
            if d.encoding != "utf-8":
                body = body.decode("utf-8").encode(d.encoding)
            if d.bom and rng.random() < cfg.p_bom:
                body = BOM + body
                stats.bom += 1
            if gz:
                body = gzip.compress(body, compresslevel=cfg.gzip_level, mtime=0)
                stats.gzipped += 1
            path = root / rel
            path.write_bytes(body)
            stats.files += 1
            stats.bytes += len(body)
            if rng.random() < cfg.p_resend_file:
                path.with_name(path.name.replace(f"part-{part + 1:04d}",
                                                 f"part-{part + 1:04d}-resend")).write_bytes(body)
                stats.resent += 1
                stats.bytes += len(body)
    return stats


def connect(macros: str, threads: int) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    con.execute("SET preserve_insertion_order = true")
    con.execute("SET enable_progress_bar = false")
    con.execute(macros)
    return con


def render_and_write(d: Delivery, macros: str, threads: int, root: Path, dt_strings: list[str],
                     gz_days: np.ndarray, rng: np.random.Generator,
                     cfg: GeneratorConfig, crlf_days: np.ndarray | None = None
                     ) -> DeliveryStats:
    """One entity start to finish (runs in a worker thread; DuckDB and zlib drop the GIL)."""
    if not len(d):
        return DeliveryStats()
    con = connect(macros, threads)
    try:
        data, offsets = render(con, d)
    finally:
        con.close()
    return write_delivery(d, data, offsets, root, dt_strings, gz_days, rng, cfg, crlf_days)
