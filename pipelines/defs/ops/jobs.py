"""Jobs: everything (the nightly and `siyu run` path)."""

from __future__ import annotations

import dagster as dg

#: Every asset, in dependency order. `siyu run` launches it over a business-day range as one
#: run; the nightly schedule launches it for yesterday.
siyu_all_job = dg.define_asset_job(
    "siyu_all",
    selection=dg.AssetSelection.all(),
    description="Ingest every landing entity for the selected business days, then rebuild "
    "staging, identity, member value and LTV; blocking checks stop what is downstream.",
)
