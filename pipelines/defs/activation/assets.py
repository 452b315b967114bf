"""Activation: the night's outboxes (WeCom mark_tag bodies, coupon lists), after the gate.

`activation/outboxes` depends on the serving publish, so it runs only when every blocking check
passed and the night was published; a stopped night writes no outbox (and a sender keeps the
last one). It writes `<outbox dir>/<as-of day>/`: one file per activation target of var
audiences and a manifest, from marts.member_audience_spells (pipelines/lib/activation/outbox.py).
Nothing is sent.
"""

from pathlib import Path

import dagster as dg
from dagster import AssetExecutionContext

from pipelines.defs.serving.assets import PUBLISH_KEY
from pipelines.lib.activation import default_outbox_dir, write_outboxes
from pipelines.resources import WarehouseResource


def _lift_markdown(con) -> str:
    rows = con.execute("""
        SELECT audience_code, cohort_week, treated_members, holdout_members, status,
               conversion_diff, conversion_diff_ci_low, conversion_diff_ci_high,
               gmv_diff, gmv_diff_ci_low, gmv_diff_ci_high
        FROM marts.audience_lift ORDER BY audience_code, cohort_week DESC""").fetchall()

    def f(x, pct=False):
        if x is None:
            return "–"
        return f"{x:+.1%}" if pct else f"{x:+.2f}"

    body = "\n".join(
        f"| {a} | {w} | {nt} | {nh} | {s} | {f(cd, True)} [{f(cl, True)}, {f(ch, True)}] "
        f"| {f(gd)} [{f(gl)}, {f(gh)}] |"
        for a, w, nt, nh, s, cd, cl, ch, gd, gl, gh in rows)
    return ("| audience | cohort week | treated | holdout | status | conversion lift [95 %] "
            "| GMV/member lift, yuan [95 %] |\n|---|---|---|---|---|---|---|\n"
            + (body or "| none | | | | | | |"))


@dg.asset(
    key=["activation", "outboxes"],
    deps=[PUBLISH_KEY],
    group_name="activation",
    owners=["team:data-platform"],
    kinds={"python", "json", "csv"},
    tags={"layer": "serving"},
    description="Tonight's outboxes, one file per activation target of var audiences: WeCom "
    "`externalcontact/mark_tag` request bodies for treated members who entered or left an "
    "audience tonight, coupon lists for treated members who entered; held-out, suppressed and "
    "erased members never appear. Written after the serving gate, atomically, owner-only, "
    "under SIYU_OUTBOX_DIR (default: outbox/ beside the warehouse). Nothing is sent.",
)
def outboxes(context: AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    if warehouse.dbt_target != "duckdb":
        context.log.info("dbt targets Spark: the outboxes read the DuckDB workspace; skipped")
        return dg.MaterializeResult(metadata={"skipped": "dbt target is not duckdb"})
    out = default_outbox_dir(Path(warehouse.path))
    with warehouse.connect(read_only=True) as con:
        result = write_outboxes(con, out)
        lift = _lift_markdown(con)
    c = result.counts
    return dg.MaterializeResult(metadata={
        "as_of": dg.MetadataValue.text(result.as_of.isoformat()),
        "folder": dg.MetadataValue.path(str(result.folder)),
        "files": dg.MetadataValue.int(len(c)),
        "mark_tag_requests": dg.MetadataValue.int(
            sum(x.requests for x in c if x.target.kind == "wecom_tag")),
        "coupon_rows": dg.MetadataValue.int(
            sum(x.requests for x in c if x.target.kind == "coupon")),
        "unreachable_members": dg.MetadataValue.int(sum(x.unreachable for x in c)),
        "excluded_suppressed_or_erased": dg.MetadataValue.int(result.suppressed),
        "targets": dg.MetadataValue.md(result.markdown()),
        "audience_lift": dg.MetadataValue.md(lift),
    })
