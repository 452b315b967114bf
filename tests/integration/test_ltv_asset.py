"""The predicted-LTV asset: fits on members' orders, falls back without failing the night."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd

from pipelines.defs.ltv.assets import member_clv_predictions
from pipelines.lib.ltv.simulate import simulate_transactions
from pipelines.lib.platform.warehouse import connect
from pipelines.resources import WarehouseResource

CDNOW_PARAMS = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
SPEND = {"p": 6.25, "q": 3.74, "gamma": 15.44}


def _warehouse(tmp_path: Path, orders: pd.DataFrame) -> WarehouseResource:
    """The asset's inputs: the unioned orders (buyer identifiers) and OneID's assignments.

    Every member buys with a POS card `C<member>`; a guest card without an assignment buys
    too, and must not reach the fit (as in `fct_orders`, its order has no member)."""
    wh = tmp_path / "w.duckdb"
    with connect(wh) as con:
        con.execute("CREATE SCHEMA intermediate")
        con.execute("CREATE SCHEMA identity")
        con.register("o", orders)
        con.execute("CREATE TABLE intermediate.int_orders__unioned AS SELECT "
                    "'pos_card' AS buyer_id_type, 'C' || member_id AS buyer_id_value, "
                    "CAST(ordered_at AS TIMESTAMP) AS ordered_at, "
                    "CAST(paid_amount AS DECIMAL(18,2)) AS paid_amount, "
                    "CAST(net_amount AS DECIMAL(18,2)) AS net_amount FROM o "
                    "UNION ALL SELECT 'pos_card', 'GUEST', TIMESTAMP '2024-03-01 10:00', 99, 99")
        con.execute("CREATE TABLE identity.member_id_assignments AS SELECT DISTINCT "
                    "'pos_card' AS id_type, 'C' || member_id AS id_value, member_id FROM o")
    return WarehouseResource(path=str(wh), data_dir=str(tmp_path))


def _materialize(resource: WarehouseResource) -> dict:
    result = dg.materialize([member_clv_predictions], resources={"warehouse": resource})
    assert result.success
    mat = result.asset_materializations_for_node("ltv__member_clv_predictions")[0]
    return mat.metadata


def test_fits_and_writes_predictions_with_backtest_metadata(tmp_path: Path):
    tx = simulate_transactions(3000, CDNOW_PARAMS, SPEND, "2024-01-01", "2025-06-30",
                               np.random.default_rng(3), acquisition_end="2024-06-30")
    orders = pd.DataFrame({"member_id": "M" + tx["customer_id"].astype(str),
                           "ordered_at": pd.to_datetime(tx["date"]),
                           "paid_amount": tx["amount"].round(2), "net_amount": tx["amount"].round(2)})
    meta = _materialize(_warehouse(tmp_path, orders))
    assert meta["fitted"].value is True
    assert abs(meta["backtest_relative_error"].value) < 0.25
    assert "backtest_deciles" in meta and "backtest_chart" in meta
    with connect(tmp_path / "w.duckdb", read_only=True) as con:
        n, alive, src = con.execute(
            "SELECT count(*), avg(p_alive), min(prediction_source) "
            "FROM ltv.member_clv_predictions").fetchall()[0]
    assert n == orders["member_id"].nunique()
    assert 0 < alive <= 1 and src == "bgnbd_gamma_gamma"


def test_population_too_small_falls_back_with_a_warning(tmp_path: Path):
    orders = pd.DataFrame({"member_id": ["M1", "M1", "M2"],
                           "ordered_at": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-01-05"]),
                           "paid_amount": [10.0, 0.0, 5.0], "net_amount": [10.0, 0.0, 5.0]})
    meta = _materialize(_warehouse(tmp_path, orders))
    assert meta["fitted"].value is False
    assert "falls back to historical value" in meta["warning"].value
    with connect(tmp_path / "w.duckdb", read_only=True) as con:
        assert con.execute("SELECT count(*) FROM ltv.member_clv_predictions").fetchall()[0][0] == 0
