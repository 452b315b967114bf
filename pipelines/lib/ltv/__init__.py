"""Predicted customer lifetime value: BG/NBD (or Pareto/NBD) × Gamma-Gamma, in numpy/scipy.

Typical use (what the nightly asset does)::

    summary = summarize(tx, "member_id", "order_date", "amount", calibration_end=today)
    fit = fit_clv(summary)                      # never raises for data reasons
    if fit.fitted:
        predictions = predict(summary, fit)     # p_alive, expected purchases, CLV per member
    else:
        ...                                      # fall back; fit.warning says why

Modules: `summary` (transactions → x, t_x, T, m_x), `bgnbd`, `pareto_nbd`, `gamma_gamma`
(likelihoods, fits, per-customer expectations), `model` (fit both, predict), `backtest`,
`files` (``siyu clv fit``), `simulate` (synthetic customers for tests and benchmarks).
No dagster or dbt imports here.
"""

from pipelines.lib.ltv.backtest import BacktestResult, backtest
from pipelines.lib.ltv.base import FitResult, InsufficientDataError
from pipelines.lib.ltv.files import fit_transactions_file, read_transactions
from pipelines.lib.ltv.model import ClvFit, fit_clv, predict
from pipelines.lib.ltv.summary import summarize

__all__ = [
    "BacktestResult",
    "ClvFit",
    "FitResult",
    "InsufficientDataError",
    "backtest",
    "fit_clv",
    "fit_transactions_file",
    "predict",
    "read_transactions",
    "summarize",
]
