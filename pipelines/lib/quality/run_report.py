"""Per-run data-quality report: checks, quarantine, identity health.

Built by `siyu run` from the run's own Dagster events (so it exists for failed runs too, which
is when it matters) plus the quarantine table, written as Markdown under the reports folder
(owner-only: it names files and reasons, which may hint at people) and recorded in Dagster as
metadata of the `quality/run_report` asset.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from pipelines.lib.platform.memory import PeakMemory

#: identity asset metadata shown as "identity health"
IDENTITY_FIELDS = ("members", "identifiers", "new_members", "merges_this_run", "splits_this_run",
                   "largest_member_size")


@dataclass
class CheckLine:
    asset: str
    name: str
    passed: bool
    severity: str  # ERROR (blocking when failed) or WARN
    detail: str = ""  # what failed: the file, the rule and the counts

    @property
    def outcome(self) -> str:
        if self.passed:
            return "passed"
        return "failed" if self.severity == "ERROR" else "warned"


@dataclass
class QualityReport:
    run_id: str | None
    success: bool
    days: tuple[date, date] | None
    checks: list[CheckLine] = field(default_factory=list)
    quarantine_by_reason: list[tuple[str, str, int]] = field(default_factory=list)
    ingest_warnings: list[str] = field(default_factory=list)
    identity: dict[str, Any] = field(default_factory=dict)
    failed_steps: list[str] = field(default_factory=list)
    peak_memory: PeakMemory | None = None

    def counts(self) -> Counter:
        return Counter(c.outcome for c in self.checks)

    def markdown(self) -> str:
        c = self.counts()
        days = f"{self.days[0]} .. {self.days[1]}" if self.days else "none landed"
        lines = [
            f"# Data-quality report — run {self.run_id or '(not started)'}",
            "",
            f"* outcome: **{'SUCCESS' if self.success else 'FAILED'}**",
            f"* business days: {days}",
            f"* checks: {c['passed']} passed, {c['failed']} failed, {c['warned']} warned",
            "* peak memory: " + (self.peak_memory.describe() if self.peak_memory
                                 else "not measured"),
            "",
            "## Checks not passed",
            "",
        ]
        bad = [x for x in self.checks if not x.passed]
        lines += ["| asset | check | outcome | what |", "|---|---|---|---|"] + [
            f"| {x.asset} | {x.name} | {x.outcome} | {_cell(x.detail)} |" for x in bad
        ] if bad else ["none"]
        lines += ["", "## Rows quarantined by reason (days of this run)", ""]
        if self.quarantine_by_reason:
            lines += ["| entity | reason | rows |", "|---|---|---|"] + [
                f"| {e} | {r} | {n:,} |" for e, r, n in self.quarantine_by_reason]
        else:
            lines.append("none")
        lines += ["", "## Ingestion warnings", ""]
        lines += [f"* {w}" for w in self.ingest_warnings] or ["none"]
        lines += ["", "## Identity health", ""]
        lines += [f"* {k}: {v}" for k, v in self.identity.items()] or ["identity not resolved in this run"]
        if self.failed_steps:
            lines += ["", "## Failed steps", ""] + [f"* {s.splitlines()[0][:300]}" for s in self.failed_steps]
        return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    """Text for one Markdown table cell (line breaks and pipes would break the row)."""
    return text.replace("|", "\\|").replace("\n", "<br>")


def _meta_value(v: Any) -> Any:
    return getattr(v, "value", v)


def from_events(events: list, run_id: str | None, success: bool,
                days: tuple[date, date] | None, failed_steps: list[str]) -> QualityReport:
    """Collect checks, ingestion warnings and identity metadata from a run's Dagster events."""
    rep = QualityReport(run_id, success, days, failed_steps=list(failed_steps))
    for ev in events:
        kind = ev.event_type_value
        if kind == "ASSET_CHECK_EVALUATION":
            d = ev.event_specific_data
            rep.checks.append(CheckLine(d.asset_key.to_user_string(), d.check_name, bool(d.passed),
                                        d.severity.value, d.description or ""))
        elif kind == "ASSET_MATERIALIZATION":
            mat = ev.event_specific_data.materialization
            meta = mat.metadata or {}
            key = mat.asset_key.to_user_string()
            warn = _meta_value(meta.get("warnings"))
            if key.startswith("raw/") and warn and warn != "none":
                rep.ingest_warnings += [f"{key}: {w}" for w in str(warn).splitlines()]
            if key == "identity/member_id_assignments":
                rep.identity = {k: _meta_value(meta[k]) for k in IDENTITY_FIELDS if k in meta}
    return rep


def add_quarantine(rep: QualityReport, con) -> None:
    """Quarantined rows of the run's days, grouped by entity and reason (values stripped)."""
    if rep.days is None:
        return
    exists = con.execute("SELECT count(*) FROM information_schema.tables WHERE "
                         "table_schema = 'quarantine' AND table_name = 'rejected_rows'").fetchall()[0][0]
    if not exists:
        return
    rep.quarantine_by_reason = [tuple(r) for r in con.execute(
        "SELECT channel || '/' || entity, regexp_replace(reason, ' ''.*', ''), count(*) "
        "FROM quarantine.rejected_rows WHERE dt BETWEEN ? AND ? GROUP BY ALL ORDER BY 3 DESC, 1, 2",
        [rep.days[0], rep.days[1]]).fetchall()]


def write_report(rep: QualityReport, folder: Path) -> Path:
    """`quality-<run>.md` plus `latest.md`, owner-only (folder 0700, files 0600)."""
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    text = rep.markdown()
    out = folder / f"quality-{rep.run_id or 'not-started'}.md"
    for path in (out, folder / "latest.md"):
        tmp = path.with_name(f".{path.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    return out
