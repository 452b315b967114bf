"""Jobs: everything (the nightly and `siyu run` path) and a full refresh of derived tables."""

from __future__ import annotations

import dagster as dg

#: Run tag read by the dbt assets: rebuild incremental models from scratch (`--full-refresh`).
FULL_REFRESH_TAG = "siyu/full_refresh"

#: Every asset, in dependency order. `siyu run` launches it over a business-day range as one
#: run; the nightly schedule and the landing sensor launch it for closed business days.
siyu_all_job = dg.define_asset_job(
    "siyu_all",
    selection=dg.AssetSelection.all(),
    description="Ingest every landing entity for the selected business days, then rebuild "
    "staging, identity, member value and LTV; blocking checks stop what is downstream.",
)

#: Everything derived from `raw`, rebuilt from the complete raw history without re-reading
#: landing files. Unpartitioned (raw/* is excluded), so it is launched without choosing days.
full_refresh_job = dg.define_asset_job(
    "siyu_full_refresh",
    selection=dg.AssetSelection.all() - dg.AssetSelection.key_prefixes("raw"),
    description="Rebuild every table derived from raw (dbt `--full-refresh`, identity, LTV, "
    "exports) from the complete raw history; landing files are not re-read. Use after a "
    "model change or to repair drift; re-ingesting days is a backfill of `siyu_all`.",
    tags={FULL_REFRESH_TAG: "true"},
)
