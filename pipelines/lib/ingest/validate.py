"""Set-based typing and validation of landing rows in an in-memory DuckDB.

Each field kind becomes a typed SQL expression plus a rejection condition; a row whose
conditions all pass is accepted, any other row goes to quarantine with every reason, each
naming the field. Mobiles are normalised, hashed and masked here so that the warehouse never
sees a plaintext number (the quarantine copy of a bad row is redacted the same way).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow as pa

from pipelines.lib.ingest.specs import Child, EntitySpec, Field, Rule
from pipelines.lib.platform.project_vars import project_vars
from pipelines.lib.privacy import phones

LOCAL_TS_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%Y/%m/%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M",
)
OFFSET_TS_FORMATS = ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%d %H:%M:%S%z")
#: Asia/Shanghai has had no daylight saving since 1991: a fixed +8 h turns UTC into wall-clock
#: time without the ICU extension, identically on every engine.
SHANGHAI_OFFSET = "INTERVAL 8 HOUR"


#: What trimming removes around every value: every Unicode space, tabs and line breaks, and the
#: invisible marks pasted with copied text (a BOM, a zero-width space). DuckDB's one-argument
#: trim() removes spaces only, so a cell holding just a tab or a BOM was not "empty" and a key
#: kept a leading tab (phones.BLANKS is the same set the phone normaliser drops).
BLANKS = "'" + phones.BLANKS.replace("'", "''") + "'"


#: An integer as the channels write one (JSON numbers arrive as their text).
_INTEGER = "regexp_full_match({}, '[+-]?[0-9]+')"


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _fmt_list(fmts: tuple[str, ...]) -> str:
    return "[" + ", ".join(lit(f) for f in fmts) + "]"


@dataclass(frozen=True)
class FieldSql:
    columns: list[tuple[str, str]]  # (raw column name, typed SQL expression)
    checks: list[tuple[str, str]]  # (failure condition, reason text SQL)


def field_sql(f: Field, v: str, label: str) -> FieldSql:
    """Typed columns and rejection conditions for one field whose raw text is SQL `v`."""
    t = f"nullif(trim({v}, {BLANKS}), '')"
    if f.kind == "excel_id":  # unwrapped before anything is checked: `=""` is an empty key
        t = f"nullif(trim(regexp_replace({t}, '^=\"(.*)\"$', '\\1'), {BLANKS}), '')"
    checks: list[tuple[str, str]] = []
    if f.required:
        checks.append((f"{t} IS NULL", lit(f"{label}: required value is empty")))

    def bad(cond: str, what: str) -> None:
        checks.append((f"{t} IS NOT NULL AND ({cond})", lit(f"{label}: {what} '") + f" || {t} || ''''"))

    kind = f.kind
    if kind == "string":
        cols = [(f.name, t)]
    elif kind == "text":
        cols = [(f.name, phones.sql_redact_mobiles(t))]
    elif kind == "enum":
        cols = [(f.name, t)]
        bad(f"{t} NOT IN ({', '.join(lit(x) for x in f.values)})", "not one of the accepted values:")
    elif kind == "int":
        # try_cast alone rounds '1.5' to 2 and reads '0x10', '1_000', '1e3'
        expr = f"CASE WHEN {_INTEGER.format(t)} THEN try_cast({t} AS BIGINT) END"
        cols = [(f.name, expr)]
        bad(f"({expr}) IS NULL", "not an integer:")
    elif kind == "decimal":
        expr = f"try_cast({t} AS DECIMAL(18, 2))"
        cols = [(f.name, expr)]
        bad(f"{expr} IS NULL", "not a decimal amount:")
    elif kind == "date":
        expr = f"try_cast(try_strptime({t}, '%Y-%m-%d') AS DATE)"
        cols = [(f.name, expr)]
        bad(f"{expr} IS NULL OR {expr} < DATE '1900-01-01'", "not a date (YYYY-MM-DD):")
    elif kind == "timestamp":
        expr = f"try_strptime({t}, {_fmt_list(LOCAL_TS_FORMATS)})"
        cols = [(f.name, expr)]
        bad(f"{expr} IS NULL", "not a timestamp:")
    elif kind == "iso_timestamp":
        # with an offset, DuckDB's strptime rolls an impossible day over (Feb 30 → Mar 1):
        # the calendar day must parse on its own first
        with_offset = (
            f"CASE WHEN try_strptime(left({t}, 10), '%Y-%m-%d') IS NOT NULL THEN "
            f"CAST(try_strptime(regexp_replace({t}, 'Z$', '+00:00'), "
            f"{_fmt_list(OFFSET_TS_FORMATS)}) AS TIMESTAMP) + {SHANGHAI_OFFSET} END"
        )
        local = f"try_strptime({t}, {_fmt_list(LOCAL_TS_FORMATS)})"
        expr = (
            f"CASE WHEN regexp_matches({t}, '(Z|[+-][0-9]{{2}}:?[0-9]{{2}})$') "
            f"THEN {with_offset} ELSE {local} END"
        )
        cols = [(f.name, expr)]
        bad(f"({expr}) IS NULL", "not an ISO-8601 timestamp:")
    elif kind == "epoch":
        secs = f"CASE WHEN {_INTEGER.format(t)} THEN try_cast({t} AS BIGINT) END"
        expr = (
            f"CASE WHEN {secs} BETWEEN 0 AND 7258118400 "
            f"THEN make_timestamp({secs} * 1000000) + {SHANGHAI_OFFSET} END"
        )
        cols = [(f.name, expr)]
        bad(f"({expr}) IS NULL", "not epoch seconds:")
    elif kind == "excel_id":
        cols = [(f.name, t)]
    elif kind == "mobile":
        norm = phones.sql_normalize_mobile(t)
        cols = [
            (f"{f.name}_sha256", phones.sql_hash_mobile(norm)),
            (f"{f.name}_masked", phones.sql_mask_mobile(norm)),
            (f"{f.name}_status", phones.sql_mobile_status(t)),
        ]
    elif kind == "mobile_hash":
        h = f"lower({t})"
        ok = f"regexp_full_match({h}, '[0-9a-f]{{64}}')"
        cols = [
            (f"{f.name}_sha256", f"CASE WHEN {ok} THEN {h} END"),
            (
                f"{f.name}_status",
                f"CASE WHEN {t} IS NULL THEN 'empty' WHEN {ok} THEN 'valid' ELSE 'invalid' END",
            ),
        ]
    elif kind == "masked_mobile":
        norm = phones.sql_normalize_mobile(t)
        cols = [(f"{f.name}_masked", f"coalesce({phones.sql_mask_mobile(norm)}, {phones.sql_redact_mobiles(t)})")]
    else:  # pragma: no cover - guarded by the spec tests
        raise ValueError(f"unknown field kind {kind!r} for {f.name}")
    return FieldSql(cols, checks)


def _label(f: Field) -> str:
    """How a reason names a field: its source name (the channel's header or JSON path)."""
    if f.source.startswith("$"):
        return f.source.removeprefix("$.")
    return f.source if f.source == f.name else f"{f.source} ({f.name})"


def rule_checks(rules: tuple[Rule, ...], fields: tuple[Field, ...]) -> list[tuple[str, str]]:
    """(violation condition, reason SQL) per row rule, limits filled from the project vars.

    The conditions read the typed columns by name, so they run one SELECT level above the
    typing; the reason names the field and quotes its typed value.
    """
    by_name = {f.name: f for f in fields}
    params = project_vars()
    out = []
    for r in rules:
        cond = r.violated_when.format(**params)
        reason = (lit(f"{_label(by_name[r.field])}: {r.reason.format(**params)} '")
                  + f" || CAST({q(r.field)} AS VARCHAR) || ''''")
        out.append((f"coalesce({cond}, false)", reason))
    return out


def _with_rules(reasons: str, checks: list[tuple[str, str]]) -> str:
    """`reasons` (a list column) extended by the rules' reasons."""
    return f"list_concat({reasons}, {_reasons(checks)})" if checks else reasons


def _reasons(checks: list[tuple[str, str]]) -> str:
    if not checks:
        return "[]::VARCHAR[]"
    parts = ", ".join(f"CASE WHEN {c} THEN {r} END" for c, r in checks)
    return f"list_filter([{parts}], lambda x: x IS NOT NULL)"


@dataclass
class Validated:
    accepted: pa.Table
    rejected: pa.Table  # _source_file, _source_line, _dt, raw_record, reason
    children: dict[str, pa.Table]


LINEAGE = ("_source_file", "_source_line", "_dt")


def validate_csv(con: duckdb.DuckDBPyConnection, spec: EntitySpec, src: pa.Table) -> Validated:
    """`src`: one string column per source header + lineage columns."""
    con.register("src", src)
    cols, checks = [], []
    for f in spec.fields:
        v = f"src.{q(f.source)}" if f.source in src.column_names else "CAST(NULL AS VARCHAR)"
        fs = field_sql(f, v, f.source if f.source == f.name else f"{f.source} ({f.name})")
        cols += fs.columns
        checks += fs.checks
    raw_cols = [c for c in src.column_names if not c.startswith("_")]
    record = "to_json(struct_pack(" + ", ".join(
        f"{q(c)} := {q('_raw_' + c)}" for c in raw_cols) + "))::VARCHAR"
    # the quarantine text (JSON of the raw fields, mobiles redacted: two regex passes) is only
    # built for rejected rows; building it for every row cost about a third of validation
    rules = rule_checks(spec.rules, spec.fields)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE typed AS
        SELECT * EXCLUDE ({', '.join(q('_raw_' + c) for c in raw_cols)}),
               CASE WHEN len(_reasons) > 0 THEN {phones.sql_redact_mobiles(record)} END AS _record
        FROM (
            SELECT * EXCLUDE (_field_reasons), {_with_rules('_field_reasons', rules)} AS _reasons
            FROM (
                SELECT {', '.join(f'{e} AS {q(n)}' for n, e in cols)},
                       {', '.join('src.' + c for c in LINEAGE)},
                       {_reasons(checks)} AS _field_reasons,
                       {', '.join(f'src.{q(c)} AS {q("_raw_" + c)}' for c in raw_cols)}
                FROM src
            ) AS checked
        ) AS ruled"""
    )
    con.unregister("src")
    return _split(con, [n for n, _ in cols], {})


def _json_columns(fields: tuple[Field, ...], j: str, label_prefix: str):
    paths = "[" + ", ".join(lit(f.source) for f in fields) + "]"
    vals = f"json_extract_string({j}, {paths})"
    cols, checks = [], []
    for i, f in enumerate(fields, start=1):
        fs = field_sql(f, f"_v[{i}]", f"{label_prefix}{f.source.removeprefix('$.')}")
        cols += fs.columns
        checks += fs.checks
    return vals, cols, checks


def redact_keys(expr: str, keys: tuple[str, ...]) -> str:
    """SQL: JSON text `expr` with the string value of every key in `keys` (at any depth)
    replaced by "[redacted]" — also in a line cut short inside the value."""
    if not keys:
        return expr
    names = "|".join(keys)
    pattern = f'"({names})"\\s*:\\s*"(?:[^"\\\\]|\\\\.)*(?:"|$)'
    return f"regexp_replace({expr}, {lit(pattern)}, '\"\\1\":\"[redacted]\"', 'g')"


def validate_jsonl(con: duckdb.DuckDBPyConnection, spec: EntitySpec, src: pa.Table) -> Validated:
    """`src`: `_line` text + lineage. Parsing, extraction and nesting are all SQL."""
    con.register("src", src)
    vals, cols, checks = _json_columns(spec.fields, "_j", "")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE parsed AS
        SELECT {', '.join(LINEAGE)}, _line,
               CASE WHEN json_valid(_line) AND json_type(_line::JSON) = 'OBJECT'
                    THEN _line::JSON END AS _j
        FROM src"""
    )
    con.unregister("src")
    rules = rule_checks(spec.rules, spec.fields)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE base AS
        WITH v AS (SELECT *, {vals} AS _v FROM parsed WHERE _j IS NOT NULL),
        checked AS (
            SELECT {', '.join(f'{e} AS {q(n)}' for n, e in cols)},
                   {', '.join(LINEAGE)}, _line, _j, {_reasons(checks)} AS _field_reasons
            FROM v
        )
        SELECT * EXCLUDE (_field_reasons), {_with_rules('_field_reasons', rules)} AS _reasons
        FROM checked"""
    )
    child_tables: dict[str, tuple[str, list[str]]] = {}
    aliases: list[str] = []
    _build_children(con, spec.children, "base", "_j", "''", spec.name, "''", child_tables,
                    aliases)
    reason_union = " || ".join(
        ["b._reasons"] + [f"coalesce({a}._reasons, []::VARCHAR[])" for a in aliases]
    )
    joins = " ".join(
        f"LEFT JOIN (SELECT _source_file, _source_line, flatten(list(_reasons)) AS _reasons "
        f"FROM {a}_typed GROUP BY ALL) {a} USING (_source_file, _source_line)"
        for a in aliases
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE typed AS
        SELECT {', '.join('b.' + q(n) for n, _ in cols)},
               {', '.join('b.' + c for c in LINEAGE)},
               {reason_union} AS _reasons,
               CASE WHEN len({reason_union}) > 0
                    THEN {redact_keys(phones.sql_redact_mobiles('json(b._line)::VARCHAR'), spec.redact_keys)}
               END AS _record
        FROM base b {joins}
        UNION ALL BY NAME
        SELECT {', '.join(LINEAGE)},
               ['malformed JSON line (not a complete JSON object)'] AS _reasons,
               {redact_keys(phones.sql_redact_mobiles('_line'), spec.redact_keys)} AS _record
        FROM parsed WHERE _j IS NULL"""
    )
    children: dict[str, pa.Table] = {}
    for name, (alias, out_cols) in child_tables.items():
        children[name] = con.sql(
            f"""SELECT {', '.join('c.' + q(x) for x in out_cols)}, {', '.join('c.' + x for x in LINEAGE)}
            FROM {alias}_typed c
            SEMI JOIN (SELECT _source_file, _source_line FROM typed WHERE len(_reasons) = 0) ok
              USING (_source_file, _source_line)
            ORDER BY c._source_file, c._source_line, c._pos_path"""
        ).to_arrow_table()
    return _split(con, [n for n, _ in cols], children)


def _build_children(con, children: tuple[Child, ...], parent: str, parent_json: str,
                    parent_pos: str, prefix: str, parent_label: str,
                    out: dict[str, tuple[str, list[str]]], aliases: list[str]) -> None:
    """Unnest each nested array of `parent` into `<alias>_typed`, recursively.

    Each element carries `_label`, the path a reason names it by (`follow_user[2].tags[1].`),
    built from its parent's label (SQL `parent_label`) and its own position."""
    for child in children:
        alias = f"{prefix}__{child.name}"
        keys = list(child.parent_fields)
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {alias}_elems AS
            SELECT {', '.join('p.' + q(k) for k in keys)}, {', '.join('p.' + c for c in LINEAGE)},
                   {parent_pos} AS _parent_pos, {parent_label} AS _parent_label,
                   unnest(json_extract(p.{parent_json}, {lit(child.path + '[*]')})) AS _e,
                   unnest(range(1, CAST(json_array_length(p.{parent_json}, {lit(child.path)}) AS BIGINT) + 1)) AS _pos
            FROM {parent} p
            WHERE p.{parent_json} IS NOT NULL
              AND json_type(p.{parent_json}, {lit(child.path)}) = 'ARRAY'"""
        )
        vals, cols, checks = _json_columns(child.fields, "_e", "")
        checks = [(c, f"_label || {r}") for c, r in checks]
        rules = [(c, f"_label || {r}") for c, r in rule_checks(child.rules, child.fields)]
        path = lit(child.path.removeprefix("$.") + "[")
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {alias}_typed AS
            WITH v AS (SELECT *, {vals} AS _v,
                              _parent_label || {path} || _pos || '].' AS _label
                       FROM {alias}_elems),
            checked AS (
                SELECT {', '.join(q(k) for k in keys)}, {', '.join(LINEAGE)},
                       _pos AS position,
                       _parent_pos || lpad(_pos::VARCHAR, 5, '0') AS _pos_path,
                       {', '.join(f'{e} AS {q(n)}' for n, e in cols)},
                       {_reasons(checks)} AS _field_reasons,
                       _e, _label
                FROM v
            )
            SELECT * EXCLUDE (_field_reasons), {_with_rules('_field_reasons', rules)} AS _reasons
            FROM checked"""
        )
        aliases.append(alias)
        out[alias] = (alias, [*keys, "position", *[n for n, _ in cols]])
        if child.children:
            _build_children(con, child.children, f"{alias}_typed", "_e", "p._pos_path",
                            alias, "p._label", out, aliases)


def _split(con, cols: list[str], children: dict[str, pa.Table]) -> Validated:
    accepted = con.sql(
        f"SELECT {', '.join(q(c) for c in cols)}, {', '.join(LINEAGE)} FROM typed "
        "WHERE len(_reasons) = 0 ORDER BY _source_file, _source_line"
    ).to_arrow_table()
    rejected = con.sql(
        f"SELECT {', '.join(LINEAGE)}, _record AS raw_record, array_to_string(_reasons, '; ') AS reason "
        "FROM typed WHERE len(_reasons) > 0 ORDER BY _source_file, _source_line"
    ).to_arrow_table()
    return Validated(accepted, rejected, children)
