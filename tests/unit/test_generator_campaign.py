"""The generator's campaign option (issue 24): extra delivery files only — every file of the
zone without a campaign is byte-identical — and the purchases it adds are the ones asked for."""

from __future__ import annotations

import csv
import hashlib
from datetime import date
from pathlib import Path

from siyu_generator import Campaign, generate
from siyu_generator.campaign import FILE_NAME


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "manifest.json"}


def test_campaign_adds_files_and_changes_nothing_else(tmp_path):
    end = date(2026, 6, 28)
    plain = generate(tmp_path / "plain", members=300, days=20, seed=7, end_date=end)
    with open(tmp_path / "plain" / "_truth" / "identifiers.csv", encoding="utf-8") as f:
        carded = sorted({r["person_id"] for r in csv.DictReader(f) if r["id_type"] == "pos_card"})
    persons = (*carded[:40], "P99999999")  # one person without a POS card
    campaign = Campaign(persons=persons, start_date=date(2026, 6, 20), days=5, p_extra=1.0,
                        amount_yuan=100.0)
    with_c = generate(tmp_path / "camp", members=300, days=20, seed=7, end_date=end,
                      campaign=campaign)
    assert "campaign" not in plain
    a, b = _hashes(tmp_path / "plain"), _hashes(tmp_path / "camp")
    extra = sorted(set(b) - set(a))
    assert {k: b[k] for k in a} == a  # the generated files are untouched
    assert extra and all(k.endswith(FILE_NAME) for k in extra)
    assert with_c["campaign"]["no_pos_card"] == 1
    # p_extra = 1: every carded person buys exactly once, on 06-20 .. 06-24
    rows = []
    for k in extra:
        if "/orders/" in k:
            with open(tmp_path / "camp" / k, encoding="utf-8") as f:
                rows += list(csv.DictReader(f))
    assert len(rows) == with_c["campaign"]["orders"] == 40
    assert len({r["member_card_no"] for r in rows}) == 40
    assert all("2026-06-20" <= r["order_time"][:10] <= "2026-06-24" for r in rows)
    assert all("C" in r["order_id"] and float(r["paid_amount"]) >= 100 for r in rows)
