#!/usr/bin/env python3
"""Fail when a dbt model uses SQL that only one engine understands.

The models run on DuckDB (default) and on Spark (a later dbt target), so they are written in
the SQL both share; where the engines differ, models call a dispatched macro in `macros/`
(`duckdb__` / `spark__` pairs) or a dbt cross-database macro (`dbt.safe_cast`,
`dbt.date_trunc`, `dbt.datediff`, `dbt.dateadd`, `dbt.hash`, `dbt.concat`, ...).

The check strips Jinja (`{{ }}`, `{% %}`, `{# #}`), SQL comments and the contents of string
literals — so macro calls, prose and regex patterns never trip it — then matches a deny-list
of engine-specific constructs. Model YAML is checked too: contract `data_type:` values must
be type names both engines accept (`string`, not `varchar`). Each hit is printed as `file:line:col: rule — hint` and the exit
status is 1. A line can opt out with a trailing comment `-- portable-sql: allow <rule>` (say
why next to it).

    python dbt_project/scripts/check_portable_sql.py [PATH ...]     # default: models/ tests/
    python dbt_project/scripts/check_portable_sql.py --list-rules
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_PATHS = ("models", "tests")


@dataclass(frozen=True)
class Rule:
    name: str
    pattern: re.Pattern[str]
    hint: str


def _r(name: str, pattern: str, hint: str) -> Rule:
    return Rule(name, re.compile(pattern, re.IGNORECASE), hint)


RULES: tuple[Rule, ...] = (
    # --- syntax only DuckDB (or Postgres) accepts ---
    _r("double-colon-cast", r"::", "use cast(x as type) or dbt.safe_cast"),
    _r("qualify", r"\bqualify\b", "filter a row_number() in an outer select (latest_by_key)"),
    _r("star-exclude", r"\bexclude\s*\(|\*\s*exclude\b", "list the columns"),
    _r("star-replace", r"\*\s*replace\s*\(", "list the columns"),
    _r("star-columns", r"\bcolumns\s*\(", "list the columns"),
    _r("group-by-all", r"\b(group|order)\s+by\s+all\b", "name the columns"),
    _r("union-by-name", r"\bby\s+name\b", "align the select lists"),
    _r("distinct-on", r"\bdistinct\s+on\b", "row_number() in a subquery"),
    _r("ilike", r"\bilike\b", "lower(x) like lower(pattern)"),
    _r("similar-glob", r"\bsimilar\s+to\b|\bglob\b|~~", "like, or a dispatched regex macro"),
    _r("json-arrow", r"->>?", "JSON is flattened at ingestion"),
    _r("positional-ref", r"(?<![\w$])\$\d+", "name the column"),
    _r("pivot", r"\b(un)?pivot\b", "conditional aggregation: sum(case when ...)"),
    _r("sample", r"\busing\s+sample\b|\btablesample\b", "not portable"),
    _r("double-quoted-identifier", r'"',
       "Spark reads \"x\" as a string: use plain snake_case names (or adapter.quote)"),
    _r("backtick-identifier", r"`", "plain snake_case names (or adapter.quote)"),
    _r("bracket", r"\[|\]", "no list literals or subscripts (DuckDB is 1-based, Spark 0-based)"),
    _r("brace-literal", r"[{}]", "no struct/map literals"),
    # --- functions that exist on one engine only, or mean different things ---
    _r("try-cast", r"\btry_cast\s*\(", "dbt.safe_cast (duckdb__safe_cast is in macros/)"),
    _r("list-function", r"\b(list|array)_\w+\s*\(|\blist\s*\(|\barray_agg\s*\(", "no nested types in models"),
    _r("struct", r"\bstruct(_\w+)?\s*\(|\bstruct\s*<|\brow\s*\(", "no nested types in models"),
    _r("map", r"\bmap(_\w+)?\s*\(", "no nested types in models"),
    _r("unnest-explode", r"\bunnest\s*\(|\bexplode(_outer)?\s*\(|\blateral\s+view\b|\bposexplode\b",
       "nested arrays land as child tables at ingestion"),
    _r("string-agg", r"\b(string_agg|listagg|group_concat|collect_list|collect_set)\s*\(",
       "dbt.listagg"),
    _r("regex-function", r"\bregexp?_(matches|full_match|extract_all|split_to_array|like)\s*\(|\brlike\b",
       "a dispatched macro in macros/cross_engine.sql"),
    _r("regexp-replace", r"\bregexp_replace\s*\(",
       "regexp_replace_all() — DuckDB replaces only the first match without 'g'"),
    _r("hash-function", r"\b(sha256|sha2|sha1|hash)\s*\(", "sha256_hex() or dbt.hash"),
    _r("date-function",
       r"\b(date_trunc|datediff|date_diff|dateadd|date_add|date_sub|date_part|datepart|"
       r"timestampdiff|timestampadd|last_day)\s*\(",
       "dbt.date_trunc / dbt.datediff / dbt.dateadd / dbt.last_day, or extract(part from x)"),
    _r("interval", r"\binterval\b", "dbt.dateadd"),
    _r("time-format", r"\b(strftime|strptime|date_format|to_timestamp|to_date|to_char|"
       r"from_unixtime|unix_timestamp|epoch|epoch_ms|make_timestamp|make_date)\s*\(",
       "epochs and text timestamps are typed at ingestion; or a dispatched macro"),
    _r("now", r"\b(now|current_localtimestamp|get_current_timestamp)\s*\(", "dbt.current_timestamp()"),
    _r("split-function", r"\b(split_part|string_split|str_split|split)\s*\(", "dbt.split_part"),
    _r("position-function", r"\b(strpos|instr|locate|charindex)\s*\(", "dbt.position"),
    _r("len", r"\blen\s*\(", "length()"),
    _r("arg-max", r"\b(arg_max|arg_min|argmax|argmin|max_by|min_by)\s*\(",
       "row_number() in a subquery"),
    _r("count-if", r"\bcount_if\s*\(", "sum(case when ... then 1 else 0 end)"),
    _r("generate-series", r"\b(generate_series|range|sequence)\s*\(", "dbt.generate_series or a date spine"),
    _r("ifnull-nvl", r"\b(nvl|nvl2|ifnull|iff)\s*\(", "coalesce() / case"),
    _r("json-function", r"\b(json_\w+|get_json_object|from_json|to_json)\s*\(",
       "JSON is flattened at ingestion"),
    # --- type names one engine lacks (Spark: VARCHAR needs a length; no unsigned/huge ints) ---
    _r("engine-type", r"\bas\s+(varchar|text|hugeint|uhugeint|ubigint|uinteger|usmallint|"
       r"utinyint|blob|bytea|timestamptz|timestamp_ns|timestamp_ms|timestamp_s|datetime|uuid)"
       r"\b(?!\s*\()",
       "dbt.type_string() / dbt.type_timestamp() / dbt.type_bigint(), or a portable name"),
)
#: Contract `data_type:` values in model YAML that both engines accept and report alike.
PORTABLE_CONTRACT_TYPES = re.compile(
    r"^(string|boolean|date|timestamp|double|float|integer|int|bigint|smallint|"
    r"decimal\(\d+,\s*\d+\)|\{\{.*\}\})$", re.IGNORECASE)
CONTRACT_TYPE_RULE = Rule(
    "contract-type", re.compile(r"data_type:"),
    "use string, bigint, integer, double, decimal(p,s), date, timestamp or boolean "
    "(Spark rejects VARCHAR without a length)")
DATA_TYPE_RE = re.compile(r"^\s*(?:-\s*)?data_type:\s*[\"']?([^\"'#]+?)[\"']?\s*(?:#.*)?$")
ALLOW_RE = re.compile(r"--\s*portable-sql:\s*allow\s+([\w\-, ]+)", re.IGNORECASE)


def _blank(text: str) -> str:
    """Same length and line breaks, no content: keeps line/column numbers exact."""
    return re.sub(r"[^\n]", " ", text)


def strip_non_sql(text: str) -> str:
    """Blank out Jinja, comments and string-literal contents, preserving positions."""
    # a model's `{{ config(...) }}` block first: its post_hook strings hold Jinja of their own,
    # whose `}}` would end the block early (the block closes with `) }}` on a line of its own)
    out = re.sub(r"\{\{\s*config\(.*?^\)\s*\}\}", lambda m: _blank(m.group()), text,
                 flags=re.S | re.M)
    out = re.sub(r"\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}", lambda m: _blank(m.group()), out, flags=re.S)
    result, i, n = [], 0, len(out)
    while i < n:
        two = out[i:i + 2]
        if two == "--":
            j = out.find("\n", i)
            j = n if j == -1 else j
            result.append(_blank(out[i:j]))
            i = j
        elif two == "/*":
            j = out.find("*/", i + 2)
            j = n if j == -1 else j + 2
            result.append(_blank(out[i:j]))
            i = j
        elif out[i] == "'":
            j = i + 1
            while j < n:
                if out[j] == "'" and out[j + 1:j + 2] == "'":
                    j += 2
                elif out[j] == "'":
                    break
                else:
                    j += 1
            result.append("'" + _blank(out[i + 1:j]) + "'")
            i = j + 1
        else:
            result.append(out[i])
            i += 1
    return "".join(result)


@dataclass(frozen=True)
class Finding:
    path: Path
    line: int
    column: int
    rule: Rule
    text: str

    def format(self, base: Path) -> str:
        try:
            shown = self.path.relative_to(base)
        except ValueError:
            shown = self.path
        return f"{shown}:{self.line}:{self.column}: {self.rule.name} — {self.rule.hint}\n    {self.text.strip()}"


def check_text(text: str, path: Path = Path("<sql>")) -> list[Finding]:
    findings = []
    original_lines = text.splitlines()
    for lineno, line in enumerate(strip_non_sql(text).splitlines(), start=1):
        raw = original_lines[lineno - 1] if lineno <= len(original_lines) else ""
        allow = ALLOW_RE.search(raw)
        allowed = {a.strip() for a in allow.group(1).split(",")} if allow else set()
        for rule in RULES:
            if rule.name in allowed:
                continue
            m = rule.pattern.search(line)
            if m:
                findings.append(Finding(path, lineno, m.start() + 1, rule, raw))
    return sorted(findings, key=lambda f: (f.line, f.column))


def check_yaml(text: str, path: Path = Path("<yml>")) -> list[Finding]:
    """Contract column types in model YAML: dbt casts `null as <data_type>` on each engine."""
    findings = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        m = DATA_TYPE_RE.match(line)
        if m and not PORTABLE_CONTRACT_TYPES.match(m.group(1).strip()):
            findings.append(Finding(path, lineno, m.start(1) + 1, CONTRACT_TYPE_RULE, line))
    return findings


def sql_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for p in paths:
        if p.is_file():
            files.append(p)
        elif p.is_dir():
            files += sorted(p.rglob("*.sql")) + sorted(p.rglob("*.yml"))
    return files


def check_file(path: Path) -> list[Finding]:
    text = path.read_text(encoding="utf-8")
    return check_yaml(text, path) if path.suffix in (".yml", ".yaml") else check_text(text, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="*", type=Path,
                    help="files or folders (default: models/ and tests/ of the dbt project)")
    ap.add_argument("--list-rules", action="store_true", help="print the deny-list and exit")
    args = ap.parse_args(argv)
    if args.list_rules:
        for rule in RULES:
            print(f"{rule.name:26} {rule.hint}")
        return 0
    paths = args.paths or [PROJECT_DIR / d for d in DEFAULT_PATHS]
    files = sql_files(paths)
    findings = [f for path in files for f in check_file(path)]
    base = Path.cwd()
    for f in findings:
        print(f.format(base))
    if findings:
        print(f"\n{len(findings)} engine-specific construct(s) in {len({f.path for f in findings})} "
              f"file(s); models must run on DuckDB and Spark.", file=sys.stderr)
        return 1
    print(f"portable SQL: {len(files)} file(s) checked, no engine-specific constructs.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
