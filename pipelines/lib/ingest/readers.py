"""Read one landing file into Arrow without Python loops over rows.

A file either yields rows (each with its physical line number) plus the lines the parser could
not split, or raises `LandingFileError` naming the file, the line and the problem: truncated
gzip, wrong encoding and missing required columns must fail loudly rather than load garbage.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from pipelines.lib.phones import redact_mobiles


class LandingFileError(Exception):
    """A landing file that cannot be read at all; the partition it belongs to fails."""

    def __init__(self, path: Path | str, problem: str, line: int | None = None):
        self.path = str(path)
        self.problem = problem
        self.line = line
        where = f"{self.path}, line {line}" if line is not None else self.path
        super().__init__(f"{where}: {problem}")


@dataclass
class ParsedFile:
    path: Path
    rows: pa.Table  # CSV: one string column per header + _source_line; JSONL: _line + _source_line
    parser_rejects: list[tuple[int, str, str]] = field(default_factory=list)  # line, text, reason
    warnings: list[str] = field(default_factory=list)

    @property
    def rows_in(self) -> int:
        return self.rows.num_rows + len(self.parser_rejects)


def read_bytes(path: Path) -> bytes:
    """File bytes, gunzipped when the name ends in .gz; a damaged gzip is a file error."""
    data = path.read_bytes()
    if path.suffix != ".gz":
        return data
    try:
        return gzip.decompress(data)
    except (EOFError, OSError, zlib.error) as exc:
        raise LandingFileError(path, f"gzip stream is damaged or truncated ({exc})") from exc


def decode(path: Path, data: bytes, encoding: str) -> str:
    """Strict decoding: a file in the wrong encoding is named, with the line of the first bad byte."""
    codec = "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise LandingFileError(
            path,
            f"not valid {encoding.upper()} (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            f"the channel delivers {encoding.upper()} for this entity",
            line=line,
        ) from exc


def _line_numbers(buf: bytes) -> tuple[np.ndarray, np.ndarray]:
    """1-based numbers of all lines and a mask of the non-blank ones (vectorised over bytes)."""
    arr = np.frombuffer(buf, dtype=np.uint8)
    nl = np.flatnonzero(arr == 10)
    starts = np.concatenate(([0], nl + 1))
    ends = np.concatenate((nl, [len(arr)]))
    lengths = ends - starts
    # a line holding only "\r" is blank too
    cr_only = (lengths == 1) & (arr[np.minimum(starts, max(len(arr) - 1, 0))] == 13) if len(arr) else lengths == 0
    nonblank = (lengths > 0) & ~cr_only
    return np.arange(1, len(starts) + 1), nonblank


def read_csv(path: Path, encoding: str, required: list[str], expected: list[str]) -> ParsedFile:
    data = read_bytes(path)
    if not data.strip():
        return ParsedFile(path, pa.table({"_source_line": pa.array([], pa.int64())}),
                          warnings=[f"{path}: empty file (0 rows)"])
    text = decode(path, data, encoding)
    utf8 = text.encode("utf-8")
    first_line = text.split("\n", 1)[0].rstrip("\r")
    header = next(csv.reader([first_line]))
    header = [h.strip() for h in header]
    missing = [c for c in required if c not in header]
    if missing:
        hint = ""
        if encoding.lower() == "gbk" and any(not h.isascii() for h in header):
            hint = " (headers look garbled: is the file really GBK?)"
        raise LandingFileError(
            path, f"missing required column(s) {', '.join(missing)}{hint}; found {header}", line=1
        )
    warnings = []
    extra = [c for c in header if c not in expected]
    if extra:
        warnings.append(f"{path}: extra column(s) ignored: {', '.join(extra)}")
    if len(set(header)) != len(header):
        raise LandingFileError(path, f"duplicate column names in header {header}", line=1)

    rejects: list[tuple[int, str, str]] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        reason = (
            f"malformed CSV row: expected {row.expected_columns} fields, "
            f"found {row.actual_columns}"
        )
        rejects.append((row.number or -1, redact_mobiles(row.text), reason))
        return "skip"

    table = pacsv.read_csv(
        io.BytesIO(utf8),
        read_options=pacsv.ReadOptions(column_names=header, skip_rows=1, use_threads=False),
        parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid),
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in header},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    line_no, nonblank = _line_numbers(utf8)
    nonblank_lines = line_no[nonblank]
    # pyarrow numbers rows counting non-blank lines only; map back to physical line numbers.
    rejects = [
        (int(nonblank_lines[n - 1]) if 0 < n <= len(nonblank_lines) else n, t, r)
        for n, t, r in rejects
    ]
    data_lines = nonblank_lines[1:]
    if rejects:
        data_lines = data_lines[~np.isin(data_lines, [n for n, _, _ in rejects])]
    if len(data_lines) != table.num_rows:
        # quoted fields with embedded newlines: fall back to record ordinals (documented)
        data_lines = np.arange(2, table.num_rows + 2)
        warnings.append(f"{path}: multi-line records; _source_line is the record number")
    table = table.select([c for c in header if c in expected])
    table = table.append_column("_source_line", pa.array(data_lines, pa.int64()))
    return ParsedFile(path, table, rejects, warnings)


def read_jsonl(path: Path) -> ParsedFile:
    """Split into lines only; JSON parsing and field extraction happen set-based in DuckDB."""
    data = read_bytes(path)
    if not data.strip():
        return ParsedFile(path, pa.table({"_line": pa.array([], pa.string()),
                                          "_source_line": pa.array([], pa.int64())}),
                          warnings=[f"{path}: empty file (0 rows)"])
    text = decode(path, data, "utf-8")
    lines = text.split("\n")
    line_no = np.arange(1, len(lines) + 1)
    arr = pa.array(lines, pa.string())
    nonblank = np.asarray(
        pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(arr)), 0)
    )
    table = pa.table({"_line": arr.filter(pa.array(nonblank)),
                      "_source_line": pa.array(line_no[nonblank], pa.int64())})
    return ParsedFile(path, table)
