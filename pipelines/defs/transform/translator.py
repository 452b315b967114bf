"""How dbt nodes appear in Dagster: keys by schema, groups by layer/domain, dbt docs as text."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings

#: The UI groups: one per layer of the corridor (ingest → staging → identity → member_value →
#: ltv → serving). `<layer>/<domain>/` folders map here; staging and the order union are
#: conformed channel data, fct_orders feeds member value (ledger, tiers, RFM, GMV drivers).
LAYER_GROUPS = ("ingest", "staging", "identity", "member_value", "ltv", "serving")
MART_GROUPS = {"identity": "identity", "orders": "member_value", "member_value": "member_value",
               "ltv": "ltv", "serving": "serving", "quality": "quality"}
INTERMEDIATE_GROUPS = {"identity": "identity", "orders": "staging",
                       "member_value": "member_value", "ltv": "ltv"}


class SiyuDbtTranslator(DagsterDbtTranslator):
    def __init__(self) -> None:
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey([dbt_resource_props["source_name"], dbt_resource_props["name"]])
        schema = dbt_resource_props.get("config", {}).get("schema") or "main"
        # the relation's name: differs from the model name only for BI views (bi_x → bi.x)
        name = dbt_resource_props.get("alias") or dbt_resource_props["name"]
        return dg.AssetKey([schema, name])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        layer, domain = (fqn[1], fqn[2]) if len(fqn) >= 4 else (fqn[1] if len(fqn) > 1 else "", "")
        if layer == "serving":
            return "serving"
        if layer == "marts":
            return MART_GROUPS.get(domain, "member_value")
        if layer == "intermediate":
            return INTERMEDIATE_GROUPS.get(domain, "staging")
        return "staging"

    def get_tags(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, str]:
        """dbt tags plus `layer` and `materialized`, so the UI can filter on either."""
        materialized = dbt_resource_props.get("config", {}).get("materialized", "")
        extra = {"layer": self.get_group_name(dbt_resource_props) or "staging"}
        if materialized:
            extra["materialized"] = materialized
        return {**super().get_tags(dbt_resource_props), **extra}

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project) -> dg.AssetSpec:
        """Add a `table`/`view` kind (an icon in the asset graph) to dbt's kinds."""
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        materialized = props.get("config", {}).get("materialized")
        kind = {"table": "table", "view": "view", "incremental": "table"}.get(materialized or "")
        if kind:
            spec = spec.merge_attributes(kinds={kind})
        return spec

    def get_owners(self, dbt_resource_props: Mapping[str, Any]):
        return ["team:data-platform"]

    def get_code_version(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        checksum = dbt_resource_props.get("checksum", {}).get("checksum")
        return checksum[:16] if checksum else None
