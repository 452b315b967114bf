"""Render a delivery with DuckDB into one Arrow text buffer, then cut it into dt files.

Two phases, so memory does not grow with the zone. `Stager` renders each block's rows of an
entity (sorted by dt, so a day is one contiguous byte range of the rendered buffer: no
per-row Python work) and appends every day's rows to a staging file per entity and day,
chunk after chunk. `finish_delivery` then turns each staged day into its files. Per file, the
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
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from siyu_generator.config import GeneratorConfig
from siyu_generator.dirt import damage
from siyu_generator.formats import Delivery

BOM = b"\xef\xbb\xbf"
#: Rendered text a Stager holds before it appends it to the staging files.
FLUSH_BYTES = 256 * 2**20


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


class Stager:
    """Phase 1: the rendered lines of each entity and day, appended chunk by chunk to a
    staging file per entity and day (`<staging>/<entity>/<day>.lines`: zstd frames of
    LF-terminated lines, no header, no dirt). A chunk's deliveries of one entity are rendered block by block and
    each day's rows appended in block order, so a day's staging file is the same bytes
    whatever the chunk size."""

    def __init__(self, staging: Path, days: int, macros: str, threads: int):
        self.staging, self.days, self.macros, self.threads = staging, days, macros, threads
        self.meta: dict[str, Delivery] = {}  # format, header, encoding, dirt spec per entity
        self.rows: dict[str, int] = {}

    def note(self, d: Delivery) -> None:
        if d.name not in self.meta:
            self.meta[d.name] = Delivery(d.name, d.fmt, d.table.slice(0, 0), d.line_sql,
                                         d.day[:0], d.header, d.encoding, d.bom, d.damage)
            self.rows[d.name] = 0

    def append(self, parts: Iterable[Delivery]) -> None:
        """Render each part (one block's rows of one entity, sorted by dt; or a batch of
        groups) and append every day's rows, part after part, to that day's staging file.
        Parts are taken one at a time (`parts` may be a generator) and their rendered text is
        written out whenever it passes `FLUSH_BYTES`, so memory holds at most about that much
        of it; where the flushes fall changes no byte of the staged lines."""
        rendered: list = []
        held, name = 0, ""
        con = connect(self.macros, self.threads)
        try:
            for d in parts:
                self.note(d)
                name = d.name
                if not len(d):
                    continue
                if np.any(np.diff(d.day) < 0):
                    raise ValueError(f"{d.name}: rows are not sorted by dt")
                data, offsets = render(con, d)
                bounds = np.concatenate([[0], np.cumsum(np.bincount(d.day, minlength=self.days))])
                rendered.append((memoryview(data), offsets, bounds, data))
                self.rows[name] += len(d)
                held += int(offsets[-1])
                if held >= FLUSH_BYTES:
                    self._flush(name, rendered)
                    rendered, held = [], 0
            if rendered:
                self._flush(name, rendered)
        finally:
            con.close()

    def _flush(self, name: str, rendered: list) -> None:
        folder = self.staging / name
        folder.mkdir(parents=True, exist_ok=True)
        present = np.flatnonzero(np.any([np.diff(b) > 0 for _, _, b, _ in rendered], axis=0))
        for day in present:
            pieces = [bytes(mv[off[b[day]]:off[b[day + 1]]]) for mv, off, b, _ in rendered
                      if b[day + 1] > b[day]]
            with open(folder / f"{day:05d}.lines", "ab") as f:
                f.write(_frame(b"".join(pieces)))


def _frame(raw: bytes) -> bytes:
    """A staged piece, zstd-compressed (staging would otherwise take as much disk as the zone
    itself on top of it): sizes, then the compressed bytes."""
    packed = pa.compress(raw, codec="zstd", asbytes=True)
    return len(raw).to_bytes(8, "little") + len(packed).to_bytes(8, "little") + packed


def _unframe(data: bytes) -> bytes:
    pieces, at = [], 0
    while at < len(data):
        raw_len = int.from_bytes(data[at:at + 8], "little")
        packed_len = int.from_bytes(data[at + 8:at + 16], "little")
        at += 16
        pieces.append(pa.decompress(data[at:at + packed_len], decompressed_size=raw_len,
                                    codec="zstd", asbytes=True))
        at += packed_len
    return b"".join(pieces)


def finish_delivery(d: Delivery, rows: int, staging: Path, root: Path, dt_strings: list[str],
                    gz_days: np.ndarray, rng: np.random.Generator, cfg: GeneratorConfig,
                    crlf_days: np.ndarray | None = None) -> DeliveryStats:
    """Phase 2: each day's staged lines become the delivered file(s) — parts above
    `max_rows_per_file`, malformed copies, CRLF, GBK, BOM, gzip, resends — drawing from the
    entity's own stream day after day. Only one day's file is in memory at a time."""
    stats = DeliveryStats(rows=rows)
    if not rows:
        return stats
    header = (d.header + "\n").encode("utf-8") if d.header else b""
    ext = "csv" if d.fmt == "csv" else "jsonl"
    folder = staging / d.name
    for day in range(len(dt_strings)):
        path = folder / f"{day:05d}.lines"
        if not path.exists():
            continue
        data = _unframe(path.read_bytes())
        ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10) + 1
        offsets = np.concatenate([[0], ends]).astype(np.int64)
        mv = memoryview(data)
        n = len(ends)
        n_parts = -(-n // cfg.max_rows_per_file)
        day_dir = root / d.name / f"dt={dt_strings[day]}"
        day_dir.mkdir(parents=True, exist_ok=True)
        for part in range(n_parts):
            lo = n * part // n_parts
            hi = n * (part + 1) // n_parts
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
            out = root / rel
            out.write_bytes(body)
            stats.files += 1
            stats.bytes += len(body)
            if rng.random() < cfg.p_resend_file:
                out.with_name(out.name.replace(f"part-{part + 1:04d}",
                                               f"part-{part + 1:04d}-resend")).write_bytes(body)
                stats.resent += 1
                stats.bytes += len(body)
        path.unlink()
    return stats


def connect(macros: str, threads: int) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    con.execute("SET preserve_insertion_order = true")
    con.execute("SET enable_progress_bar = false")
    con.execute(macros)
    return con
