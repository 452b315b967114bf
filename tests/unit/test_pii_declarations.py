"""Privacy declared, not inferred (issue 21): every dbt model of the intermediate, marts and
serving layers declares in `meta.pii` what `siyu forget` does with an erased member's rows, and
`siyu forget` follows the declaration whatever the table is called."""

from __future__ import annotations

import json

import duckdb
import pytest

from pipelines.lib.platform.dbt_manifest import ensure_manifest
from pipelines.lib.privacy.declarations import (
    PII_ACTIONS,
    pii_declarations,
    undeclared_models,
)
from pipelines.lib.privacy.forget import ErasureError, forget
from pipelines.settings import DBT_PROJECT_DIR


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads(ensure_manifest(DBT_PROJECT_DIR, "duckdb").read_text(encoding="utf-8"))


def test_every_model_of_the_member_layers_declares_pii(manifest):
    assert undeclared_models(manifest) == []
    # the check can fail: a model without the declaration (or with a typo) is reported
    fake = {"nodes": {
        "model.siyu.new_mart": {"resource_type": "model", "fqn": ["siyu", "marts", "x", "new_mart"],
                                "config": {"meta": {}}, "name": "new_mart", "schema": "marts"},
        "model.siyu.typo": {"resource_type": "model", "fqn": ["siyu", "serving", "bi", "typo"],
                            "config": {"meta": {"pii": "anonymize"}}, "name": "typo",
                            "schema": "bi"},
        "model.siyu.stg": {"resource_type": "model", "fqn": ["siyu", "staging", "pos", "stg"],
                           "config": {}, "name": "stg", "schema": "staging"}}}
    assert undeclared_models(fake) == ["model.siyu.new_mart", "model.siyu.typo"]


def test_models_documenting_a_member_column_never_declare_none(manifest):
    declared = pii_declarations(manifest)
    wrong = [(n["schema"], n.get("alias") or n["name"]) for n in manifest["nodes"].values()
             if n["resource_type"] == "model"
             and {"member_id", "old_member_id"} & set(n.get("columns", {}))
             and declared.get((n["schema"], n.get("alias") or n["name"])) not in
             ("delete", "anonymise")]
    assert wrong == []
    assert set(declared.values()) <= set(PII_ACTIONS)
    # order facts keep their rows as guest orders, in the warehouse and in BI
    assert declared[("marts", "fct_orders")] == declared[("bi", "orders")] == "anonymise"
    assert declared[("marts", "member_growth_ledger")] == "delete"


def _warehouse() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA marts")
    # named like an order fact, but declared delete; named like a profile, declared anonymise
    con.execute("CREATE TABLE marts.fct_member_notes AS SELECT * FROM (VALUES ('M1', 'n1'), "
                "('M2', 'n2')) t(member_id, note)")
    con.execute("CREATE TABLE marts.member_orders AS SELECT * FROM (VALUES ('M1', 10), "
                "('M2', 5)) t(member_id, amount)")
    con.execute("CREATE TABLE marts.dim_member AS SELECT 'M1' AS member_id UNION ALL SELECT 'M2'")
    return con


def test_forget_follows_the_declaration_not_the_name():
    con = _warehouse()
    declarations = {("marts", "fct_member_notes"): "delete",
                    ("marts", "member_orders"): "anonymise", ("marts", "dim_member"): "delete"}
    forget(con, member_id="M1", declarations=declarations)
    assert con.execute("SELECT member_id FROM marts.fct_member_notes").fetchall() == [("M2",)]
    assert sorted(con.execute("SELECT member_id, amount FROM marts.member_orders").fetchall(),
                  key=str) == [("M2", 5), (None, 10)]


def test_an_undeclared_member_table_stops_forget_before_any_change():
    con = _warehouse()
    declarations = {("marts", "fct_member_notes"): "delete", ("marts", "dim_member"): "delete"}
    with pytest.raises(ErasureError, match=r"marts\.member_orders"):
        forget(con, member_id="M1", declarations=declarations)
    assert con.execute("SELECT count(*) FROM marts.member_orders WHERE member_id = 'M1'"
                       ).fetchall() == [(1,)]
    assert con.execute("SELECT count(*) FROM marts.fct_member_notes").fetchall() == [(2,)]
