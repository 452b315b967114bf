"""How dbt models appear in the Dagster UI: layer groups, kinds, tags, code versions, docs."""

from __future__ import annotations

import json

import pytest

from pipelines.defs.transform.translator import LAYER_GROUPS, SiyuDbtTranslator
from pipelines.lib.platform.dbt_manifest import ensure_manifest
from pipelines.settings import DBT_PROJECT_DIR


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads(ensure_manifest(DBT_PROJECT_DIR, "duckdb").read_text())


def _models(manifest: dict) -> list[tuple[str, dict]]:
    return [(uid, n) for uid, n in manifest["nodes"].items() if n["resource_type"] == "model"]


def test_every_model_is_in_a_layer_group_with_docs_kinds_and_version(manifest):
    t = SiyuDbtTranslator()
    for uid, node in _models(manifest):
        spec = t.get_asset_spec(manifest, uid, None)
        assert spec.group_name in LAYER_GROUPS, (uid, spec.group_name)
        assert spec.tags["layer"] == spec.group_name
        materialized = node["config"]["materialized"]
        assert {"dbt", {"incremental": "table"}.get(materialized, materialized)} <= spec.kinds
        assert spec.owners == ["team:data-platform"]
        assert spec.code_version == node["checksum"]["checksum"][:16]
        assert spec.description and spec.description.startswith(node["description"].strip()[:40])


@pytest.mark.parametrize("fqn, group", [
    (["siyu", "staging", "pos", "stg_pos__orders"], "staging"),
    (["siyu", "intermediate", "orders", "int_orders__unioned"], "orders"),
    (["siyu", "intermediate", "identity", "int_identity__edges"], "identity"),
    (["siyu", "marts", "identity", "dim_member"], "identity"),
    (["siyu", "marts", "orders", "fct_orders"], "orders"),
    (["siyu", "serving", "bi", "bi_orders"], "serving"),
    (["siyu", "marts", "member_value", "member_tiers"], "member_value"),
    (["siyu", "marts", "ltv", "member_ltv"], "ltv"),
    (["siyu", "intermediate", "ltv", "int_ltv__order_margin"], "ltv"),
])
def test_group_by_folder(fqn, group):
    assert SiyuDbtTranslator().get_group_name({"fqn": fqn}) == group
