"""`siyu run --start/--end`: a missing bound defaults to the first/last landed day (as the CLI
help says); before, `--end D` alone ran only D and `--start D` alone only D."""

from __future__ import annotations

from datetime import date

import pytest

from pipelines.cli import main
from pipelines.runner import resolve_days

LANDED = [date(2026, 10, 1), date(2026, 10, 2), date(2026, 10, 5)]


def test_nothing_given_is_every_landed_day():
    assert resolve_days(None, None, LANDED) == (date(2026, 10, 1), date(2026, 10, 5))
    assert resolve_days(None, None, []) is None


def test_a_missing_bound_is_the_first_or_last_landed_day():
    assert resolve_days(date(2026, 10, 2), None, LANDED) == (date(2026, 10, 2), date(2026, 10, 5))
    assert resolve_days(None, date(2026, 10, 2), LANDED) == (date(2026, 10, 1), date(2026, 10, 2))
    # both given: taken as they are, landed or not
    assert resolve_days(date(2026, 9, 1), date(2026, 9, 3), []) == (date(2026, 9, 1),
                                                                     date(2026, 9, 3))


def test_an_empty_range_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="--start 2026-10-06 is after the last landed day 2026-10-05"):
        resolve_days(date(2026, 10, 6), None, LANDED)
    with pytest.raises(ValueError, match="--end 2026-09-30 is before the first landed day 2026-10-01"):
        resolve_days(None, date(2026, 9, 30), LANDED)
    with pytest.raises(ValueError, match="no business day has landed"):
        resolve_days(None, date(2026, 10, 6), [])
    with pytest.raises(ValueError, match="2026-10-03 is after --end 2026-10-02"):
        resolve_days(date(2026, 10, 3), date(2026, 10, 2), LANDED)


def test_the_cli_says_why_and_runs_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SIYU_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SIYU_WAREHOUSE", str(tmp_path / "w.duckdb"))
    assert main(["run", "--start", "2026-10-03", "--end", "2026-10-02"]) == 2
    assert "is after --end" in capsys.readouterr().err
    assert main(["run", "--start", "2026-13-01"]) == 2
    assert "--start '2026-13-01' is not a date (YYYY-MM-DD)" in capsys.readouterr().err
    assert not (tmp_path / "w.duckdb").exists()
