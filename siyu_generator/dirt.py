"""Malformed rows as channels deliver them, made from real rows of the same file.

A malformed row is always an *extra, damaged copy* of a row that is also delivered intact
in the same file, so quarantining it loses no business data and the ground truth is
unaffected. Kinds (the `kind` column of `_truth/malformed_rows.csv`):

* CSV ``field_count``: the line is cut short (two fields missing) or gains a stray field;
* ``bad_amount``: an amount that is not a number (``N/A``, ``12.3O``, ``￥88.00``, ``--``);
* ``bad_timestamp``: an impossible or unreadable time (``2026-13-45 25:61:00``, ``昨天``);
* ``empty_key``: the record's key is empty (order id, card number, openid, external_userid);
* JSON ``cut_line``: the line is cut in half (invalid JSON).
"""

from __future__ import annotations

import csv
import io
import json

import numpy as np

BAD_AMOUNTS = ["N/A", "12.3O", "--", "一百"]
BAD_TIMES = ["2026-13-45 25:61:00", "0000-00-00 00:00:00", "31/02/2026 10:00", "昨天 10:00"]
BAD_ISO = ["2026-13-45T25:61:00+08:00", "0000-00-00T00:00:00", "not a time"]
BAD_EPOCH = ["昨天", "16x0000000", ""]


def kinds_for(fmt: str, spec: dict) -> list[str]:
    kinds = ["field_count" if fmt == "csv" else "cut_line", "empty_key"]
    if spec.get("amounts"):
        kinds.append("bad_amount")
    if spec.get("timestamps"):
        kinds.append("bad_timestamp")
    return kinds


def _pick(rng: np.random.Generator, values: list):
    return values[int(rng.integers(0, len(values)))]


def damage_csv(line: str, kind: str, spec: dict, rng: np.random.Generator) -> str:
    fields = next(csv.reader([line.rstrip("\n")]))
    if kind == "field_count":
        if rng.random() < 0.5:
            fields = fields[:-2]
        else:
            fields.insert(int(rng.integers(1, len(fields))), "VIP")
    elif kind == "bad_amount":
        col = _pick(rng, spec["amounts"])
        fields[col] = _pick(rng, [*BAD_AMOUNTS, "￥" + fields[col]])
    elif kind == "bad_timestamp":
        fields[_pick(rng, spec["timestamps"])] = _pick(rng, BAD_TIMES)
    else:
        fields[spec["key"]] = ""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(fields)
    return buf.getvalue()


def _set(obj: dict, path: str, value) -> None:
    *parents, last = path.split(".")
    for p in parents:
        obj = obj[p]
    obj[last] = value


def damage_json(line: str, kind: str, spec: dict, rng: np.random.Generator) -> str:
    text = line.rstrip("\n")
    if kind == "cut_line":
        return text[: max(1, len(text) // 2)] + "\n"
    obj = json.loads(text)
    if kind == "bad_amount":
        _set(obj, _pick(rng, spec["amounts"]), _pick(rng, BAD_AMOUNTS))
    elif kind == "bad_timestamp":
        key = _pick(rng, spec["timestamps"])
        _set(obj, key, _pick(rng, BAD_EPOCH if key == "CreateTime" else BAD_ISO))
    else:
        _set(obj, spec["key"], "")
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n"


def damage(line: str, fmt: str, spec: dict, rng: np.random.Generator) -> tuple[str, str]:
    """(damaged line, kind) for one intact line of a delivery."""
    kind = _pick(rng, kinds_for(fmt, spec))
    fn = damage_csv if fmt == "csv" else damage_json
    return fn(line, kind, spec, rng), kind
