"""How dbt nodes appear in Dagster: keys by schema, groups by layer/domain, dbt docs as text."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings

#: The publish gate (defs/transform/publish.py); BI views run after it, on published marts.
PUBLISH_KEY = dg.AssetKey(["marts", "_published"])

#: marts/<domain>/ folders map to the UI groups named in the operations issue.
MART_GROUPS = {"identity": "identity", "orders": "identity", "member_value": "member_value",
               "ltv": "ltv",
               "serving": "serving", "quality": "quality"}


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

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        fqn = self.get_resource_props(manifest, unique_id).get("fqn", [])
        if len(fqn) >= 2 and fqn[1] == "serving":
            return spec.merge_attributes(deps=[PUBLISH_KEY])
        return spec

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        if len(fqn) >= 2 and fqn[1] == "marts" and len(fqn) >= 3:
            return MART_GROUPS.get(fqn[2], "marts")
        if len(fqn) >= 2 and fqn[1] in ("staging", "intermediate"):
            return fqn[1]
        if len(fqn) >= 2 and fqn[1] == "serving":
            return "serving"
        return "transform"

    def get_owners(self, dbt_resource_props: Mapping[str, Any]):
        return ["team:data-platform"]

    def get_code_version(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        checksum = dbt_resource_props.get("checksum", {}).get("checksum")
        return checksum[:16] if checksum else None
