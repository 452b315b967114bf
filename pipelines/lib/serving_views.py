"""The BI views are re-created only when what defines them changed.

The `bi` views read the published marts by name (`marts.<t>`, views the publish re-points at
tonight's rows), so a night's rows reach them without re-creating anything. Re-creating them
cost a whole dbt invocation every night (≈ 5-8 s at a million members: start-up, parse, four
`CREATE VIEW`s and the tests on them) for views that came out the same.

So the dbt step of a group of views compares a fingerprint of everything that defines them with
the one stored when dbt last built them successfully, and invokes dbt only when it differs:

* each view's SQL, config and dependencies as the manifest has them, and the same for the dbt
  tests on the views (a new or changed test runs);
* the SQL of every macro of the project (`published()` decides what a view reads), the dbt
  project and profile files (vars, settings) and the dbt version;
* the columns and types of every relation the views read (a mart that lost a column makes
  dbt re-create the views, and fail loudly, that night — not a BI query days later).

dbt is invoked anyway when a view is missing, on a full refresh, and for a partial selection of
the group (someone materialising one view in the UI asked for it). A skipped night re-asserts
the views' materialisations with their row counts and says in the metadata that dbt was not
invoked; the tests on the views run again whenever dbt does. They guard the same keys as the
marts' own tests (order_key, member_id), which ran before the publish.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipelines.lib.publish import BUILD_SCHEMA, replace_log_rows

STATE_NAME = "_view_builds"
STATE_TABLE = f"{BUILD_SCHEMA}.{STATE_NAME}"


@dataclass(frozen=True)
class ViewGroup:
    """The view models of one dbt asset group and the relations they read."""

    name: str  # the dbt asset group (step) name
    models: dict[str, tuple[str, str]]  # unique_id → (schema, relation name)
    tests: tuple[str, ...]  # unique_ids of the tests on them
    parents: tuple[tuple[str, str], ...]  # (schema, relation) of what they read


def _relation(node: dict) -> tuple[str, str]:
    return node["config"]["schema"], node.get("alias") or node["name"]


def view_group(manifest: dict, name: str, fqn_prefix: tuple[str, ...]) -> ViewGroup | None:
    """The group of models under `fqn_prefix`, or None when one of them is not a view (only
    views can be left alone: a table would miss the night's rows)."""
    nodes = manifest["nodes"]
    models = {uid: n for uid, n in nodes.items()
              if n.get("resource_type") == "model"
              and tuple(n.get("fqn", ())[: len(fqn_prefix)]) == fqn_prefix
              and n.get("config", {}).get("enabled", True)}
    if not models or any(n["config"].get("materialized") != "view" for n in models.values()):
        return None
    tests = sorted(uid for uid, n in nodes.items() if n.get("resource_type") == "test"
                   and set(n.get("depends_on", {}).get("nodes", ())) & set(models))
    parents = sorted({_relation(nodes[p]) for n in models.values()
                      for p in n.get("depends_on", {}).get("nodes", ())
                      if p in nodes and p not in models})
    return ViewGroup(name, {uid: _relation(n) for uid, n in models.items()}, tuple(tests),
                     tuple(parents))


def _columns(con: duckdb.DuckDBPyConnection, relations: Iterable[tuple[str, str]]
             ) -> list[list[str]]:
    wanted = [f"{s}.{r}" for s, r in relations]
    return [list(r) for r in con.execute(
        "SELECT table_schema || '.' || table_name, column_name, data_type "
        "FROM information_schema.columns WHERE table_catalog = current_database() "
        "AND list_contains(?, table_schema || '.' || table_name) "
        "ORDER BY 1, ordinal_position", [wanted]).fetchall()]


def fingerprint(manifest: dict, group: ViewGroup, con: duckdb.DuckDBPyConnection,
                project_files: Iterable[Path]) -> str:
    """A hash of everything that defines the group's views (module doc)."""
    nodes = manifest["nodes"]

    def node_part(uid: str) -> list:
        n = nodes[uid]
        return [uid, n.get("raw_code", ""), n.get("config", {}), n.get("depends_on", {})]

    own_macros = sorted((uid, m.get("macro_sql", "")) for uid, m in manifest["macros"].items()
                        if m.get("package_name") == manifest["metadata"].get("project_name"))
    parts = [[node_part(u) for u in sorted(group.models)], [node_part(u) for u in group.tests],
             own_macros, manifest["metadata"].get("dbt_version"),
             [[p.name, p.read_text(encoding="utf-8")] for p in project_files],
             _columns(con, group.parents)]
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def missing_views(con: duckdb.DuckDBPyConnection, group: ViewGroup) -> list[str]:
    present = {(r[0], r[1]) for r in con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_catalog = current_database() AND table_type = 'VIEW'").fetchall()}
    return sorted(f"{s}.{r}" for s, r in group.models.values() if (s, r) not in present)


def last_build(con: duckdb.DuckDBPyConnection, group: str) -> tuple[str, str, str] | None:
    """(fingerprint, run_id, built_at) of the group's last successful dbt build, if any."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_catalog = current_database() "
        "AND table_schema = ? AND table_name = ?", [BUILD_SCHEMA, STATE_NAME]).fetchall()[0][0]
    if not exists:
        return None
    rows = con.execute(f"SELECT fingerprint, run_id, CAST(built_at AS VARCHAR) FROM {STATE_TABLE} "
                       "WHERE view_group = ?", [group]).fetchall()
    return tuple(rows[0]) if rows else None


def record_build(con: duckdb.DuckDBPyConnection, group: str, fp: str | None, run_id: str
                 ) -> None:
    """Store the fingerprint dbt built the group's views from; None forgets it (the build
    failed or was interrupted, so the next run must invoke dbt)."""
    replace_log_rows(con, STATE_TABLE, "view_group VARCHAR NOT NULL, fingerprint VARCHAR NOT "
                     "NULL, run_id VARCHAR NOT NULL, built_at TIMESTAMP NOT NULL", "view_group",
                     [group], "?, ?, ?, current_timestamp",
                     [(group, fp, run_id)] if fp is not None else [])
