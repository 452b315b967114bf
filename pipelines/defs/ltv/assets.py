"""Predicted lifetime value (BG/NBD × Gamma-Gamma), thin over `lib/clv`.

Reads members' paid orders (as Arrow, from DuckDB or Spark), fits the models on every member's
purchase history up to the last business day, and writes `ltv.member_clv_predictions`, which
the dbt mart `member_ltv` joins with historical value.

It runs between the identity step and the marts, reading the orders `fct_orders` is made of
(`intermediate.int_orders__unioned` with tonight's OneID assignments), so the LTV models build
in the same dbt invocation as the other marts: one dbt invocation less a night (each costs
≈ 5-10 s of start-up and artifacts whatever its size). The buyer → member rule is
`fct_orders`'s; `tests/e2e/test_generated_zone.py` checks the two read the same purchases.

A population too small to fit never fails the night: the table is left empty, `member_ltv`
falls back to historical value, and the asset's metadata carries the warning. A holdout
backtest (fit on all but the last `BACKTEST_DAYS`, predict them) is attached to every
materialisation so operators can see how well it predicts.
"""

from datetime import timedelta

import dagster as dg
import pandas as pd
import pyarrow as pa
from dagster import AssetExecutionContext

from pipelines.lib.ltv import InsufficientDataError, backtest, fit_clv, predict, summarize
from pipelines.lib.platform.engines import Engine
from pipelines.resources import WarehouseResource

BACKTEST_DAYS = 90
PREDICTION_COLUMNS = ["member_id", "as_of_date", "p_alive", "expected_purchases_90d",
                      "expected_purchases_180d", "expected_purchases_365d",
                      "expected_spend_per_order", "predicted_clv_365d", "prediction_source"]
PREDICTIONS_TABLE = "ltv.member_clv_predictions"
#: members' paid orders, as `fct_orders` would list them (its buyer → member join)
TRANSACTIONS_SQL = (
    "SELECT a.member_id, CAST(o.ordered_at AS DATE) AS order_date, "
    "CAST(o.net_amount AS DOUBLE) AS value "
    "FROM intermediate.int_orders__unioned AS o "
    "INNER JOIN identity.member_id_assignments AS a "
    "ON o.buyer_id_type = a.id_type AND o.buyer_id_value = a.id_value "
    "WHERE o.paid_amount > 0 "
    "ORDER BY member_id, order_date, value")
PREDICTION_SCHEMA = pa.schema(
    [("member_id", pa.string()), ("as_of_date", pa.date32())]
    + [(c, pa.float64()) for c in PREDICTION_COLUMNS[2:-1]]
    + [("prediction_source", pa.string())]
)


def _transactions(engine: Engine) -> pd.DataFrame:
    """Members' paid orders; value after refunds (a fully refunded order is worth 0).

    The rows of `fct_orders` with a member (same join as that model: the buyer's identifier to
    its member_id), sorted so the fit sees the same rows in the same order on every engine.
    """
    tx = engine.read_arrow(TRANSACTIONS_SQL)
    return tx.to_pandas(date_as_object=False).astype({"order_date": "datetime64[us]"})


def _prediction_table(pred: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(pred[PREDICTION_COLUMNS], preserve_index=False) \
        .cast(PREDICTION_SCHEMA)


def _vega_backtest(deciles: pd.DataFrame) -> dict:
    rows = deciles.to_dict(orient="records")
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": "Holdout backtest by decile of predicted value",
        "data": {"values": rows},
        "transform": [{"fold": ["predicted_purchases", "actual_purchases"]}],
        "mark": "bar",
        "encoding": {"x": {"field": "decile", "type": "ordinal"},
                     "xOffset": {"field": "key"},
                     "y": {"field": "value", "type": "quantitative"},
                     "color": {"field": "key"}},
    }


@dg.asset(
    key=["ltv", "member_clv_predictions"],
    deps=[dg.AssetKey(["intermediate", "int_orders__unioned"]),
          dg.AssetKey(["identity", "member_id_assignments"])],
    group_name="ltv",
    owners=["team:data-platform"],
    kinds={"python", "scipy", "duckdb"},
    tags={"layer": "ltv"},
    code_version="clv-v1",
    description="Per-member p_alive, expected purchases (90/180/365 d), expected spend per order "
    "and predicted 365-day CLV from BG/NBD × Gamma-Gamma fitted by maximum likelihood.",
    metadata={"dagster/table_name": "ltv.member_clv_predictions"},
)
def member_clv_predictions(context: AssetExecutionContext, warehouse: WarehouseResource):
    with warehouse.engine() as engine:
        tx = _transactions(engine)
        engine.create_table_if_missing(PREDICTIONS_TABLE, PREDICTION_SCHEMA)
        if tx.empty:
            engine.replace_rows(PREDICTIONS_TABLE, None, PREDICTION_SCHEMA.empty_table())
            return dg.MaterializeResult(metadata={"warning": "no member orders yet",
                                                  "dagster/row_count": 0})
        as_of = tx["order_date"].max()
        summary = summarize(tx, "member_id", "order_date", "value", calibration_end=as_of)
        fit = fit_clv(summary)
        meta: dict = {"as_of_date": str(as_of), "members_with_purchases": len(summary),
                      "fitted": fit.fitted, "converged": fit.converged,
                      "fit": dg.MetadataValue.json(fit.to_dict())}
        if fit.fitted:
            pred = predict(summary, fit).rename(columns={"customer_id": "member_id"})
            pred["as_of_date"] = as_of
            pred["prediction_source"] = "bgnbd_gamma_gamma"
            pred = pred[PREDICTION_COLUMNS]
            meta.update({
                "bgnbd_params": dg.MetadataValue.json(
                    {k: round(float(v), 5) for k, v in fit.purchase.params.items()}),
                "gamma_gamma_params": dg.MetadataValue.json(
                    {k: round(float(v), 5) for k, v in fit.spend.params.items()}),
                "bgnbd_log_likelihood": round(float(fit.purchase.log_likelihood), 2),
                "mean_p_alive": round(float(pred["p_alive"].mean()), 4),
                "total_predicted_clv_365d": round(float(pred["predicted_clv_365d"].sum()), 2),
            })
        else:
            pred = pd.DataFrame(columns=PREDICTION_COLUMNS)
            meta["warning"] = f"not fitted, member_ltv falls back to historical value: {fit.warning}"
            context.log.warning(meta["warning"])
        with engine.transaction():
            engine.replace_rows(PREDICTIONS_TABLE, None, _prediction_table(pred))
    meta.update(_backtest_metadata(tx, as_of))
    meta["dagster/row_count"] = len(pred)
    return dg.MaterializeResult(metadata=meta)


def _backtest_metadata(tx: pd.DataFrame, as_of) -> dict:
    cal_end = as_of - timedelta(days=BACKTEST_DAYS)
    if tx["order_date"].min() >= cal_end:
        return {"backtest": "history shorter than the backtest window"}
    try:
        bt = backtest(tx, "member_id", "order_date", "value", calibration_end=cal_end,
                      holdout_end=as_of)
    except InsufficientDataError as exc:
        return {"backtest": f"not enough data: {exc}"}
    deciles = bt.deciles.copy()
    return {
        "backtest_holdout_days": BACKTEST_DAYS,
        "backtest_predicted_purchases": round(float(bt.predicted_purchases), 1),
        "backtest_actual_purchases": int(bt.actual_purchases),
        "backtest_relative_error": round(float(bt.relative_error), 4),
        "backtest_deciles": dg.MetadataValue.md(deciles.to_markdown(index=False)),
        "backtest_chart": dg.MetadataValue.json(_vega_backtest(deciles)),
    }
