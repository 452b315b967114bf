"""Serving and browser tests read the one hand-made `siyu run` of tests/conftest.py (`built`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Built  # noqa: F401  (the type the serving tests annotate with)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def reports_dir() -> Path:
    """Screenshots land in data/reports/ of the repository (kept out of git by data/)."""
    out = ROOT / "data" / "reports"
    out.mkdir(parents=True, exist_ok=True)
    return out
