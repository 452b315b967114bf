"""The ingestion assets inside Dagster: one run over a day range, metadata, blocking GX checks."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from pipelines.defs.ingest.assets import ingest_assets
from pipelines.lib.platform.warehouse import connect
from pipelines.resources import WarehouseResource

RANGE = {"dagster/asset_partition_range_start": "2024-05-01",
         "dagster/asset_partition_range_end": "2024-05-03"}


def _defs(root: Path, seen: list[str]) -> dg.Definitions:
    @dg.asset(deps=[dg.AssetKey(["raw", "pos__orders"])], group_name="test")
    def downstream_of_orders() -> None:
        seen.append("ran")

    return dg.Definitions(
        assets=[*ingest_assets, downstream_of_orders],
        resources={"warehouse": WarehouseResource(path=str(root / "w.duckdb"), data_dir=str(root))},
        executor=dg.in_process_executor,
        jobs=[dg.define_asset_job("all", selection="*")],
    )


def _run(defs: dg.Definitions) -> dg.ExecuteInProcessResult:
    return defs.resolve_job_def("all").execute_in_process(
        tags=RANGE, instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)


def _checks(result) -> dict[str, bool]:
    out = {}
    for e in result.all_events:
        if e.event_type_value == "ASSET_CHECK_EVALUATION":
            d = e.event_specific_data
            out[d.asset_key.to_user_string()] = d.passed
    return out


def test_one_run_loads_every_entity_with_metadata_and_passing_checks(handmade: Path):
    seen: list[str] = []
    result = _run(_defs(handmade, seen))
    assert result.success
    assert seen == ["ran"]
    checks = _checks(result)
    # 13 landing entities (the two WeCom customer-group entities of v1.1 included) + 2 reference
    assert len(checks) == 15 and all(checks.values()), checks
    mats = {
        e.asset_key.to_user_string(): e.event_specific_data.materialization.metadata
        for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"
    }
    meta = mats["raw/pos__members"]
    assert meta["rows_in_files"].value == 7
    assert meta["rows_accepted"].value == 3
    assert meta["rows_rejected"].value == 4
    assert "birthday: not a date" in meta["rejected_by_reason"].value
    assert "preview" in meta and "张三" not in meta["preview"].value  # names stay out of the UI
    assert "raw/wecom__external_contacts__follow_users__remark_mobiles" in mats
    # one step per entity, not one per day: the range ran as a single run
    starts = [e for e in result.all_events if e.event_type_value == "STEP_START"]
    assert len(starts) == 16  # 15 ingest steps (13 entities + 2 reference) and the observer


POS_HEADER = ("order_id,store_id,member_card_no,order_time,total_amount,discount_amount,"
              "paid_amount,payment_method,order_type,original_order_id\n")


def _pos_orders_in_fen(n: int, yuan: int) -> str:
    """A second POS file of the day written in fen instead of yuan (×100)."""
    return POS_HEADER + "".join(
        f"F{i},S01,,2024-05-01 12:{i % 60:02d}:00,{yuan * 100}.00,0.00,{yuan * 100}.00,cash,sale,\n"
        for i in range(n))


@pytest.mark.parametrize(("n", "yuan", "check"), [
    (12, 800, "quarantine_share"),  # every row above the plausible order: a flood of row faults
    (60, 60, "gx_raw_suite"),  # rows below the cap, but the median order is 6,000 "yuan"
], ids=["flood_of_quarantined_rows", "median_in_the_wrong_unit"])
def test_a_systemic_fault_blocks_downstream(handmade: Path, n: int, yuan: int, check: str):
    """One bad row is quarantined and the night goes on (tests/unit/test_row_rules.py); a file
    in the wrong unit is systemic: a blocking check fails and nothing downstream runs."""
    (handmade / "landing/pos/orders/dt=2024-05-01/orders-fen.csv").write_text(
        _pos_orders_in_fen(n, yuan))
    seen: list[str] = []
    result = _run(_defs(handmade, seen))
    assert seen == []  # the downstream asset never ran
    evaluations = {(e.event_specific_data.asset_key.to_user_string(),
                    e.event_specific_data.check_name): e.event_specific_data
                   for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    failed = {k for k, d in evaluations.items() if not d.passed}
    assert failed == {("raw/pos__orders", check)}  # the other entities were unaffected
    assert "orders-fen.csv" in (evaluations[("raw/pos__orders", check)].description or "") \
        or check == "gx_raw_suite"
    started = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    assert "downstream_of_orders" not in started


def test_unreadable_file_fails_the_asset_naming_the_file(handmade: Path):
    f = handmade / "landing/pos/orders/dt=2024-05-01/orders.csv.gz"
    f.write_bytes(f.read_bytes()[:40])
    seen: list[str] = []
    result = _run(_defs(handmade, seen))
    assert not result.success and seen == []
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert len(failures) == 1
    text = failures[0].step_failure_data.user_failure_data.description
    assert "orders.csv.gz" in text and "gzip" in text
    with connect(handmade / "w.duckdb", read_only=True) as con:  # other entities loaded
        assert con.execute("SELECT count(*) FROM raw.pos__members").fetchall()[0][0] == 3


@pytest.mark.parametrize("n", [2])
def test_materialising_twice_is_idempotent(handmade: Path, n: int):
    defs = _defs(handmade, [])
    for _ in range(n):
        assert _run(defs).success
    with connect(handmade / "w.duckdb", read_only=True) as con:
        assert con.execute("SELECT count(*) FROM raw.pos__orders").fetchall()[0][0] == 3
        assert con.execute("SELECT count(*) FROM quarantine.rejected_rows").fetchall()[0][0] == 9
