"""The BI views are re-created only when what defines them changed.

The `bi` views read the published marts by name (`marts.<t>`, views the publish re-points at
tonight's rows), so a night's rows reach them without re-creating anything. Re-creating them
cost a whole dbt invocation every night (≈ 5-8 s at a million members: start-up, parse, four
`CREATE VIEW`s and the tests on them) for views that came out the same.

So the dbt step of a group of views compares a fingerprint of everything that defines them with
the one stored when dbt last built them successfully, and invokes dbt only when it differs:

* each view's manifest node and those of the dbt tests on them (SQL, config, arguments,
  dependencies), and the views' source files on disk (a deploy that kept old file times can
  leave the manifest stale);
* the SQL of every macro (the project's, dbt's and the adapter's: `published()`, `dbt.hash`,
  the view materialisation), `dbt_project.yml`, `profiles.yml`, and the versions of dbt-core,
  dbt-duckdb, dbt-adapters and duckdb;
* the columns and types of every relation the views read (a mart that lost a column makes
  dbt re-create the views, and fail loudly, that night — not a BI query days later);
* the views' SQL as the warehouse holds it, hashed again after each successful build: a view
  changed or broken by hand since differs, and dbt re-creates it.

dbt is invoked anyway on a full refresh, after a failed build, and for a partial selection of
the group (someone materialising one view in the UI asked for it). A skipped night re-asserts
the views' materialisations with their row counts and says in the metadata that dbt was not
invoked; the tests on the views run again whenever dbt does. They guard the same keys as the
marts' own tests (order_key, member_id), which ran before the publish. To force a rebuild
without a full refresh: `DELETE FROM marts_build._view_builds`, or select some of the views.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
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
    """(schema, relation) as the warehouse names it: a custom schema is used as-is
    (macros/generate_schema_name.sql); a source or a model without one has `schema`."""
    schema = (node.get("config") or {}).get("schema") or node["schema"]
    return schema, node.get("alias") or node.get("identifier") or node["name"]


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
    known = {**nodes, **manifest.get("sources", {})}
    parents = sorted({_relation(known[p]) for n in models.values()
                      for p in n.get("depends_on", {}).get("nodes", ())
                      if p in known and p not in models})
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


#: packages whose code decides how dbt creates a view
_PACKAGES = ("dbt-core", "dbt-duckdb", "dbt-adapters", "duckdb")
#: manifest node keys that change on every parse without changing the node
_VOLATILE_NODE_KEYS = {"created_at"}


def _versions() -> list[list[str]]:
    out = []
    for package in _PACKAGES:
        try:
            out.append([package, metadata.version(package)])
        except metadata.PackageNotFoundError:
            out.append([package, ""])
    return out


def _view_sql(con: duckdb.DuckDBPyConnection, group: ViewGroup) -> list[list[str]]:
    wanted = [f"{s}.{r}" for s, r in group.models.values()]
    return [list(r) for r in con.execute(
        "SELECT schema_name || '.' || view_name, sql FROM duckdb_views() "
        "WHERE database_name = current_database() "
        "AND list_contains(?, schema_name || '.' || view_name) ORDER BY 1", [wanted]).fetchall()]


def fingerprint(manifest: dict, group: ViewGroup, con: duckdb.DuckDBPyConnection,
                project_dir: Path) -> str:
    """A hash of everything that defines the group's views (module doc)."""
    nodes = manifest["nodes"]

    def node_part(uid: str) -> dict:
        return {k: v for k, v in nodes[uid].items() if k not in _VOLATILE_NODE_KEYS}

    def source_files(uid: str) -> list[list[str]]:
        n = nodes[uid]
        paths = [n.get("original_file_path"), (n.get("patch_path") or "").split("://", 1)[-1]]
        return [[p, (project_dir / p).read_text(encoding="utf-8")] for p in paths
                if p and (project_dir / p).is_file()]

    parts = [[node_part(u) for u in sorted(group.models)], [node_part(u) for u in group.tests],
             [source_files(u) for u in sorted(group.models)],
             sorted((uid, m.get("macro_sql", "")) for uid, m in manifest["macros"].items()),
             [[p, (project_dir / p).read_text(encoding="utf-8")]
              for p in ("dbt_project.yml", "profiles.yml")],
             _versions(), _columns(con, group.parents), _view_sql(con, group)]
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


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
