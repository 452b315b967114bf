"""How dbt nodes appear in Dagster: keys by schema, groups by layer/domain, dbt docs as text."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings

#: The UI groups are the project's domain folders: `staging/<source>/` models are the
#: `staging` group, `intermediate/<domain>/` and `marts/<domain>/` the `<domain>` group, and
#: `serving/` the `serving` group — the same folders as pipelines/lib/<domain> and defs/<domain>.
#: `ingest` and `quality` are Python assets' groups.
LAYER_GROUPS = ("ingest", "staging", "orders", "identity", "member_value", "ltv", "serving",
                "activation", "groups", "quality")


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
        """The folder: `<layer>/<domain>/model` → domain; staging and serving by layer."""
        fqn = dbt_resource_props.get("fqn", [])
        layer = fqn[1] if len(fqn) > 1 else "staging"
        if layer in ("intermediate", "marts") and len(fqn) >= 4:
            return fqn[2]
        return "serving" if layer == "serving" else "staging"

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
