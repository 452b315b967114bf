"""The `siyu` command line: argument handling and the clv fit JSON contract."""

from __future__ import annotations

import json
from pathlib import Path

from pipelines.cli import main

CDNOW = Path(__file__).resolve().parents[1] / "fixtures" / "cdnow" / "cdnow_sample.csv"


def test_clv_fit_prints_parameters_and_log_likelihood(capsys):
    rc = main(["clv", "fit", "--transactions", str(CDNOW), "--customer-col", "customer_id",
               "--date-col", "date", "--value-col", "amount", "--calibration-end", "1997-09-30"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert round(out["bgnbd"]["r"], 3) == 0.243
    assert round(out["bgnbd"]["log_likelihood"], 1) == -9582.4
    assert round(out["gamma_gamma"]["p"], 2) == 6.25
    assert out["n_customers"] == 2357 and out["calibration_end"] == "1997-09-30"


def test_clv_fit_names_the_missing_column(capsys):
    rc = main(["clv", "fit", "--transactions", str(CDNOW), "--customer-col", "customer_id",
               "--date-col", "date", "--value-col", "value", "--calibration-end", "1997-09-30"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "cdnow_sample.csv" in err and "'value'" in err


def test_generate_is_wired(tmp_path, capsys):
    rc = main(["generate", "--out", str(tmp_path / "z"), "--members", "200", "--days", "10",
               "--seed", "2"])
    assert rc == 0
    assert json.loads(capsys.readouterr().out)["persons"] == 200
    assert (tmp_path / "z" / "landing" / "pos" / "members").is_dir()
