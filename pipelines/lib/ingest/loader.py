"""Discover, read, validate and write one landing entity for a set of business days.

Work is grouped by `dt`: a day whose files cannot all be read fails as a whole and keeps what
the warehouse already had for it; every other day is replaced in one transaction, so
re-materialising a day or re-delivering a file replaces rather than duplicates, and a process
killed mid-write leaves the previous state (DuckDB rolls the open transaction back).

`name_key` (pipelines/lib/privacy/keys.py) keys the hash of customers' names; every caller
passes it, the loader never looks for it.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines.lib.ingest.readers import LandingFileError, ParsedFile, read_csv, read_jsonl
from pipelines.lib.ingest.specs import EntitySpec
from pipelines.lib.ingest.validate import Validated, validate_csv, validate_jsonl
from pipelines.lib.platform import progress
from pipelines.lib.platform.warehouse import apply_limits
from pipelines.lib.privacy import names

DT_DIR_RE = re.compile(r"^dt=(\d{4}-\d{2}-\d{2})$")
SUFFIXES = {"csv": (".csv", ".csv.gz"), "jsonl": (".jsonl", ".jsonl.gz", ".json", ".json.gz")}
#: Bound on the landing bytes handled in one in-memory batch (keeps peak memory flat).
BATCH_BYTES = 256 * 1024 * 1024

QUARANTINE_COLUMNS = (
    "channel", "entity", "source_file", "source_line", "raw_record", "reason", "dt", "ingested_at"
)


@dataclass(frozen=True)
class FileStats:
    source_file: str
    dt: date | None
    rows_in: int
    accepted: int
    rejected: int
    file_sha256: str


@dataclass
class LoadResult:
    spec: EntitySpec
    dts_loaded: list[date] = field(default_factory=list)
    files: list[FileStats] = field(default_factory=list)
    errors: list[LandingFileError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rejected_by_reason: Counter = field(default_factory=Counter)
    child_rows: Counter = field(default_factory=Counter)

    @property
    def rows_in(self) -> int:
        return sum(f.rows_in for f in self.files)

    @property
    def accepted(self) -> int:
        return sum(f.accepted for f in self.files)

    @property
    def rejected(self) -> int:
        return sum(f.rejected for f in self.files)


def entity_dir(landing_dir: Path, spec: EntitySpec) -> Path:
    return landing_dir / spec.channel / spec.entity


def landed_days(landing_dir: Path, spec: EntitySpec) -> list[date]:
    root = entity_dir(landing_dir, spec)
    if not root.is_dir():
        return []
    return sorted(
        date.fromisoformat(m.group(1))
        for p in root.iterdir()
        if p.is_dir() and (m := DT_DIR_RE.match(p.name))
    )


def day_files(landing_dir: Path, spec: EntitySpec, dt: date) -> list[Path]:
    """Files of one day in delivery order: by name (the contract's "later file wins" order)."""
    folder = entity_dir(landing_dir, spec) / f"dt={dt.isoformat()}"
    if not folder.is_dir():
        return []
    suffixes = SUFFIXES[spec.fmt]
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(suffixes))


def _parse(spec: EntitySpec, path: Path) -> ParsedFile:
    if spec.fmt == "csv":
        return read_csv(path, spec.encoding, spec.required_sources(), spec.known_sources())
    return read_jsonl(path)


def _lineage(pf: ParsedFile, rel: str, dt: date | None) -> pa.Table:
    n = pf.rows.num_rows
    t = pf.rows.append_column("_source_file", pa.array([rel] * n, pa.string()))
    return t.append_column("_dt", pa.array([dt] * n, pa.date32()))


def _parser_rejects(spec: EntitySpec, pf: ParsedFile, rel: str, dt: date | None) -> pa.Table:
    """CSV lines the parser could not split. Which cell is the name is unknown there, so an
    entity with personal-name columns keeps file, line and reason without the text."""
    lines, texts, reasons = zip(*pf.parser_rejects, strict=True) if pf.parser_rejects else ((), (), ())
    if spec.personal_names:
        texts = (None,) * len(lines)
    return pa.table({
        "_source_file": pa.array([rel] * len(lines), pa.string()),
        "_source_line": pa.array(lines, pa.int64()),
        "_dt": pa.array([dt] * len(lines), pa.date32()),
        "raw_record": pa.array(texts, pa.string()),
        "reason": pa.array(reasons, pa.string()),
    })


def validate_batch(spec: EntitySpec, parsed: list[tuple[ParsedFile, str, date | None]],
                   name_key: str | None) -> Validated:
    """Type and check every row of a batch of files in one in-memory DuckDB pass.

    `name_key` keys the hash of names (kind `name`); without it a name to hash stops the
    batch with an error naming where the key comes from."""
    tables = [_lineage(pf, rel, dt) for pf, rel, dt in parsed]
    src = pa.concat_tables(tables, promote_options="permissive") if tables else None
    con = apply_limits(duckdb.connect())
    try:
        con.execute("SET TimeZone = 'UTC'")
        names.set_key(con, name_key)
        if src is None or src.num_rows == 0:
            src = _empty_source(spec)
        v = validate_csv(con, spec, src) if spec.fmt == "csv" else validate_jsonl(con, spec, src)
    finally:
        con.close()
    extra = [_parser_rejects(spec, pf, rel, dt) for pf, rel, dt in parsed if pf.parser_rejects]
    if extra:
        v.rejected = pa.concat_tables([v.rejected, *[t.cast(v.rejected.schema) for t in extra]])
    return v


def _empty_source(spec: EntitySpec) -> pa.Table:
    cols: dict[str, pa.Array] = {}
    if spec.fmt == "csv":
        cols = {s: pa.array([], pa.string()) for s in spec.known_sources()}
    else:
        cols = {"_line": pa.array([], pa.string())}
    cols["_source_line"] = pa.array([], pa.int64())
    cols["_source_file"] = pa.array([], pa.string())
    cols["_dt"] = pa.array([], pa.date32())
    return pa.table(cols)


def _batches(days: list[tuple[date | None, list[Path]]]) -> list[list[tuple[date | None, list[Path]]]]:
    out, cur, size = [], [], 0
    for dt, files in days:
        cur.append((dt, files))
        size += sum(p.stat().st_size for p in files)
        if size >= BATCH_BYTES:
            out.append(cur)
            cur, size = [], 0
    if cur:
        out.append(cur)
    return out


class Sink:
    """Where validated tables go: the DuckDB warehouse (default) or a Parquet lake for Spark."""

    def replace_days(self, spec: EntitySpec, dts: list[date | None], tables: dict[str, pa.Table],
                     rejected: pa.Table, load_log: pa.Table) -> None:  # pragma: no cover
        raise NotImplementedError

    def ensure_tables(self, spec: EntitySpec, tables: dict[str, pa.Table]) -> None:  # pragma: no cover
        """Create the entity's tables, empty, where they do not exist yet."""
        raise NotImplementedError

    def prepare(self, spec: EntitySpec, name_key: str | None) -> None:  # pragma: no cover
        """Bring the entity's stored tables to the current shape before a load (a one-time
        migration: clear names of an older version become hashes or go)."""
        raise NotImplementedError


def load_entity(
    spec: EntitySpec,
    data_dir: Path,
    dts: list[date] | None,
    sink: Sink,
    ingested_at: datetime,
    landing_dir: Path | None = None,
    *,
    name_key: str | None,
) -> LoadResult:
    """Load the given business days (all landed days when None) of one entity into `sink`.

    `name_key`: the key of the names' hash (`pipelines.lib.privacy.keys.name_key`)."""
    result = LoadResult(spec)
    sink.prepare(spec, name_key)
    if spec.channel == "reference":
        files = [data_dir / "reference" / f"{spec.entity}.csv"]
        days: list[tuple[date | None, list[Path]]] = [(None, [p for p in files if p.exists()])]
    else:
        landing = landing_dir or data_dir / "landing"
        wanted = landed_days(landing, spec) if dts is None else sorted(set(dts))
        days = [(dt, day_files(landing, spec, dt)) for dt in wanted]
        days = [(dt, f) for dt, f in days if f]
    done = 0
    for batch in _batches(days):
        progress.report(done, len(days), "days loaded")  # the live view of `siyu run`
        done += len(batch)
        parsed: list[tuple[ParsedFile, str, date | None]] = []
        ok_days: list[date | None] = []
        hashes: dict[str, str] = {}
        for dt, files in batch:
            day_parsed = []
            try:
                for p in files:
                    pf = _parse(spec, p)
                    rel = p.relative_to(data_dir).as_posix() if p.is_relative_to(data_dir) else str(p)
                    hashes[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
                    day_parsed.append((pf, rel, dt))
                    result.warnings += pf.warnings
            except LandingFileError as exc:
                result.errors.append(exc)
                continue
            parsed += day_parsed
            ok_days.append(dt)
        if not ok_days:
            continue
        v = validate_batch(spec, parsed, name_key)
        stats = _file_stats(parsed, v, hashes)
        result.files += stats
        for reason in v.rejected.column("reason").to_pylist():
            for part in reason.split("; "):
                result.rejected_by_reason[_reason_key(part)] += 1
        tables = {spec.name: v.accepted, **v.children}
        for name, t in v.children.items():
            result.child_rows[name] += t.num_rows
        rejected = _quarantine_rows(spec, v.rejected, ingested_at)
        tables = {k: _with_ingested_at(t, ingested_at) for k, t in tables.items()}
        sink.replace_days(spec, ok_days, tables, rejected, _load_log(spec, stats, ingested_at))
        result.dts_loaded += [d for d in ok_days if d is not None]
    if not result.files:
        # A channel that never delivered this entity (a brand without WeCom callbacks, a
        # zone whose first days hold no events) still gets its tables, empty: staging reads
        # every raw table, and a missing one would stop the night at dbt.
        empty = validate_batch(spec, [], name_key)
        sink.ensure_tables(spec, {spec.name: _with_ingested_at(empty.accepted, ingested_at),
                                  **{k: _with_ingested_at(t, ingested_at)
                                     for k, t in empty.children.items()}})
    return result


def _reason_key(reason: str) -> str:
    """Group reasons without the offending value: `paid_at: not a timestamp`."""
    return reason.split(" '", 1)[0].split(":", 1)[0] + ": " + (
        reason.split(":", 1)[1].split(" '", 1)[0].strip() if ":" in reason else ""
    )


def _file_stats(parsed, v: Validated, hashes: dict[str, str]) -> list[FileStats]:
    acc = Counter(v.accepted.column("_source_file").to_pylist())
    rej = Counter(v.rejected.column("_source_file").to_pylist())
    return [
        FileStats(rel, dt, pf.rows_in, acc.get(rel, 0), rej.get(rel, 0), hashes[rel])
        for pf, rel, dt in parsed
    ]


def _with_ingested_at(t: pa.Table, ts: datetime) -> pa.Table:
    return t.append_column("_ingested_at", pa.array([ts] * t.num_rows, pa.timestamp("us")))


def _quarantine_rows(spec: EntitySpec, rejected: pa.Table, ts: datetime) -> pa.Table:
    n = rejected.num_rows
    return pa.table({
        "channel": pa.array([spec.channel] * n, pa.string()),
        "entity": pa.array([spec.entity] * n, pa.string()),
        "source_file": rejected.column("_source_file"),
        "source_line": rejected.column("_source_line"),
        "raw_record": rejected.column("raw_record"),
        "reason": rejected.column("reason"),
        "dt": rejected.column("_dt"),
        "ingested_at": pa.array([ts] * n, pa.timestamp("us")),
    })


def _load_log(spec: EntitySpec, stats: list[FileStats], ts: datetime) -> pa.Table:
    return pa.table({
        "channel": [spec.channel] * len(stats),
        "entity": [spec.entity] * len(stats),
        "dt": pa.array([s.dt for s in stats], pa.date32()),
        "source_file": [s.source_file for s in stats],
        "file_sha256": [s.file_sha256 for s in stats],
        "rows_in": pa.array([s.rows_in for s in stats], pa.int64()),
        "rows_accepted": pa.array([s.accepted for s in stats], pa.int64()),
        "rows_rejected": pa.array([s.rejected for s in stats], pa.int64()),
        "ingested_at": pa.array([ts] * len(stats), pa.timestamp("us")),
    })


@dataclass(frozen=True)
class GateBreach:
    """A file, or an entity over a run, whose quarantined share says the delivery is broken."""

    scope: str  # the file, or "<channel>/<entity> (all files of this run)"
    rows_in: int
    rejected: int
    allowed: int
    top_reasons: list[tuple[str, int]]

    def __str__(self) -> str:
        reasons = "; ".join(f"{r} ×{n}" for r, n in self.top_reasons) or "(no reasons)"
        return (f"{self.scope}: {self.rejected} of {self.rows_in} rows quarantined "
                f"(more than {self.allowed} allowed); the entity's top reasons: {reasons}")


def quarantine_breaches(result: LoadResult, max_share: float, min_rows: int) -> list[GateBreach]:
    """Files (and the entity as a whole) above the quarantine gate: rejected rows above
    max(min_rows, max_share × rows in). One bad row is a row fault and goes to quarantine; a
    flood of them (a file in the wrong unit, a changed export) is systemic and must stop the
    night. `min_rows` keeps a handful of bad rows in a small file from counting as a flood."""

    def allowed(rows_in: int) -> int:
        return max(min_rows, int(max_share * rows_in))

    top = result.rejected_by_reason.most_common(3)
    out = [GateBreach(f.source_file, f.rows_in, f.rejected, allowed(f.rows_in), top)
           for f in result.files if f.rejected > allowed(f.rows_in)]
    # spread over many files, each below the gate (one bad row in every file of a year)
    if not out and result.rejected > allowed(result.rows_in):
        out.append(GateBreach(f"{result.spec.channel}/{result.spec.entity} (all files of this run)",
                              result.rows_in, result.rejected, allowed(result.rows_in), top))
    return out
