"""File entry point for ``siyu clv fit``: read a transaction file, fit, return a JSON-able dict.

Input errors are reported as `ValueError` naming the file, the line (CSV; "row" for Parquet)
and the column, because the person reading them is editing that file. CSV line numbers count
the header as line 1 and assume one record per line (no newlines inside quoted fields).
"""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

import pandas as pd

from pipelines.lib.ltv.model import fit_clv
from pipelines.lib.ltv.summary import summarize

PARQUET_SUFFIXES = (".parquet", ".pq")


def _location(path: Path, index: int, is_csv: bool) -> str:
    return f"{path}: line {index + 2}" if is_csv else f"{path}: row {index + 1}"


def read_transactions(
    path: str | Path, customer_col: str, date_col: str, value_col: str
) -> pd.DataFrame:
    """The three columns of a CSV or Parquet file, validated: ids present, dates parsed
    (ISO 8601 forms, incl. ``19970101``), values numeric. Returns columns named as given."""
    path = Path(path)
    is_csv = path.suffix.lower() not in PARQUET_SUFFIXES
    wanted = [customer_col, date_col, value_col]
    if is_csv:
        header = list(pd.read_csv(path, nrows=0).columns)
    else:
        import pyarrow.parquet as pq

        header = list(pq.read_schema(path).names)
    missing = [c for c in dict.fromkeys(wanted) if c not in header]
    if missing:
        where = f"{path}: line 1 (header)" if is_csv else f"{path}: schema"
        raise ValueError(f"{where}: no column {missing[0]!r}; the columns are {header}")
    if is_csv:
        frame = pd.read_csv(
            path, usecols=list(dict.fromkeys(wanted)), dtype=str, skip_blank_lines=False
        )
    else:
        frame = pd.read_parquet(path, columns=list(dict.fromkeys(wanted)))

    ids = frame[customer_col]
    blank_ids = ids.isna() | (ids.astype(str).str.strip() == "")
    if blank_ids.any():
        i = int(blank_ids.to_numpy().argmax())
        raise ValueError(f"{_location(path, i, is_csv)}, column {customer_col!r}: missing id")

    raw_dates = frame[date_col]
    if pd.api.types.is_datetime64_any_dtype(raw_dates):
        dates = raw_dates
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            dates = pd.to_datetime(raw_dates, format="ISO8601", errors="coerce")
        if not pd.api.types.is_datetime64_any_dtype(dates):
            raise ValueError(
                f"{path}: column {date_col!r}: dates carry different time-zone offsets"
            )
    if isinstance(dates.dtype, pd.DatetimeTZDtype):
        dates = dates.dt.tz_localize(None)  # keep the local wall-clock date
    bad_dates = dates.isna()
    if bad_dates.any():
        i = int(bad_dates.to_numpy().argmax())
        raise ValueError(
            f"{_location(path, i, is_csv)}, column {date_col!r}: "
            f"cannot parse date {raw_dates.iloc[i]!r}"
        )

    raw_values = frame[value_col]
    values = pd.to_numeric(raw_values, errors="coerce")
    bad_values = values.isna()
    if bad_values.any():
        i = int(bad_values.to_numpy().argmax())
        raise ValueError(
            f"{_location(path, i, is_csv)}, column {value_col!r}: "
            f"not a number: {raw_values.iloc[i]!r}"
        )
    return pd.DataFrame({customer_col: ids, date_col: dates, value_col: values.astype(float)})


def fit_transactions_file(
    path: str | Path,
    customer_col: str,
    date_col: str,
    value_col: str,
    calibration_end: dt.date,
    period: str = "week",
    *,
    purchase_model: str = "bgnbd",
) -> dict[str, object]:
    """Read ``path`` (CSV, or Parquet by extension), summarise at ``calibration_end`` and fit.

    Returns a JSON-serialisable dict: ``model``, ``fitted``, ``converged``, ``warning``,
    ``bgnbd`` (or ``pareto_nbd``) and ``gamma_gamma`` parameter dicts (None when not fitted),
    ``n_customers``, ``n_repeat_customers``, ``n_transactions``, ``calibration_start`` (first
    transaction date), ``calibration_end``, ``period``. A population too small to fit is *not*
    an error: ``fitted`` is False and ``warning`` says why.
    """
    transactions = read_transactions(path, customer_col, date_col, value_col)
    summary = summarize(transactions, customer_col, date_col, value_col, calibration_end, period)
    fit = fit_clv(summary, period, purchase_model)
    dates = transactions[date_col]
    in_calibration = dates[dates.dt.normalize() <= pd.Timestamp(calibration_end)]
    start = in_calibration.min() if len(in_calibration) else None
    result = fit.to_dict()
    result.update(
        {
            "n_transactions": len(in_calibration),
            "calibration_start": None if start is None else start.date().isoformat(),
            "calibration_end": pd.Timestamp(calibration_end).date().isoformat(),
            "period": period,
            "source": str(path),
        }
    )
    return result
