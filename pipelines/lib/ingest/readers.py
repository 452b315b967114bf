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

from pipelines.lib.privacy.phones import redact_mobiles


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
    return _segments(buf, np.flatnonzero(np.frombuffer(buf, dtype=np.uint8) == 10))


def _record_lines(buf: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Like `_line_numbers`, for CSV records that may span lines (RFC 4180 quoted newlines).

    A newline ends a record when an even number of quote characters precedes it: quotes come
    in pairs inside quoted fields (`""` is an escaped quote), so the parity says whether the
    newline is inside a quoted field. Returns the physical line on which each record starts.
    """
    arr = np.frombuffer(buf, dtype=np.uint8)
    nl = np.flatnonzero(arr == 10)
    quotes_before = np.searchsorted(np.flatnonzero(arr == 34), nl)  # quotes ahead of each \n
    ends = nl[quotes_before % 2 == 0]
    _, nonblank = _segments(buf, ends)
    # physical line of each record's first byte = 1 + newlines before it
    starts = np.concatenate(([0], ends + 1))
    return np.searchsorted(nl, starts, side="left") + 1, nonblank


def _segments(buf: bytes, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Numbers 1..n of the segments that newlines at `ends` cut `buf` into, and the non-blank."""
    arr = np.frombuffer(buf, dtype=np.uint8)
    starts = np.concatenate(([0], ends + 1))
    stops = np.concatenate((ends, [len(arr)]))
    lengths = stops - starts
    # a segment holding only "\r" is blank too
    cr_only = (lengths == 1) & (arr[np.minimum(starts, max(len(arr) - 1, 0))] == 13) if len(arr) else lengths == 0
    nonblank = (lengths > 0) & ~cr_only
    return np.arange(1, len(starts) + 1), nonblank


def read_csv(path: Path, encoding: str, required: list[str], expected: list[str]) -> ParsedFile:
    data = read_bytes(path)
    if not data.strip():
        return ParsedFile(path, pa.table({"_source_line": pa.array([], pa.int64())}),
                          warnings=[f"{path}: empty file (0 rows)"])
    text = decode(path, data, encoding)
    if not text.strip():  # only a BOM and/or whitespace: as empty as a 0-byte file
        return ParsedFile(path, pa.table({"_source_line": pa.array([], pa.int64())}),
                          warnings=[f"{path}: empty file (0 rows)"])
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

    rejects: list[tuple[int, str, str]] = []  # pyarrow's row number, text, reason

    def on_invalid(row: pacsv.InvalidRow) -> str:
        reason = (
            f"malformed CSV row: expected {row.expected_columns} fields, "
            f"found {row.actual_columns}"
        )
        rejects.append((row.number or -1, redact_mobiles(row.text), reason))
        return "skip"

    if not utf8.endswith(b"\n"):
        # pyarrow cannot skip a header row that has no line end (a header-only file without
        # its trailing newline raised ArrowInvalid); an added final newline changes no line
        utf8 += b"\n"
    try:
        table = pacsv.read_csv(
            io.BytesIO(utf8),
            read_options=pacsv.ReadOptions(column_names=header, skip_rows=1, use_threads=False),
            # quoted newlines are legal CSV; without this pyarrow's block chunker loses sync
            # when one straddles a block boundary (files > 1 MB) and the read raises
            parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid,
                                             newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in header},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowException as exc:
        raise LandingFileError(path, f"not readable as CSV ({exc})") from exc
    # pyarrow numbers rows counting non-blank records only (header = 1); map them back to the
    # physical line each record starts on. Lines first (fast, the usual case); when quoted
    # fields hold newlines the counts differ and records are found by quote parity.
    data_lines, mapped, ok = _physical_lines(*_line_numbers(utf8), rejects, table.num_rows)
    if not ok:
        data_lines, mapped, ok = _physical_lines(*_record_lines(utf8), rejects, table.num_rows)
    if not ok:
        # quoting the parity cannot follow (a stray quote inside an unquoted field): fall
        # back to record ordinals (documented)
        data_lines = np.arange(2, table.num_rows + 2)
        warnings.append(f"{path}: multi-line records; _source_line is the record number")
    table = table.select([c for c in header if c in expected])
    table = table.append_column("_source_line", pa.array(data_lines, pa.int64()))
    return ParsedFile(path, table, mapped, warnings)


def _physical_lines(start_lines: np.ndarray, nonblank: np.ndarray,
                    rejects: list[tuple[int, str, str]], n_rows: int):
    """Physical lines of the parsed rows and of the parser's rejects, and whether they add up.

    `start_lines`/`nonblank`: the line each segment of the file starts on and which segments
    hold something; pyarrow's row n is the n-th non-blank segment (the header is row 1).
    """
    starts = start_lines[nonblank]
    mapped = [(int(starts[n - 1]) if 0 < n <= len(starts) else n, t, r) for n, t, r in rejects]
    data_lines = starts[1:]
    if mapped:
        data_lines = data_lines[~np.isin(data_lines, [n for n, _, _ in mapped])]
    return data_lines, mapped, len(data_lines) == n_rows


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
