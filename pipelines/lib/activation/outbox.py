"""The outboxes: per business day, one file per activation target, exactly what a sender would
send — nothing is sent from here (docs/activation.md).

* `<audience>.wecom_mark_tag.jsonl`: one `externalcontact/mark_tag` request body per line,
  `{"userid": <staff>, "external_userid": <contact>, "add_tag"|"remove_tag": [<tag_id>]}`, for
  the TREATED members who entered (add) or left (remove) the audience tonight — the delta, not
  the list. One body per live follow relation: every staff member who follows one of the
  member's contacts gets the tag on that relation (corp tags are marked per follower). Members
  with a delta and no live WeCom contact are counted as unreachable (the manifest).
* `<audience>.coupon.csv`: `member_id,openid,audience_code,coupon_template,entered_on` for the
  treated members who entered tonight (a coupon is issued once, on entry); `openid` is the
  member's mini-program openid when known (the smallest when several), else empty.
* `_manifest.json`: the day, the targets and their counts (requests, members added / removed,
  unreachable, excluded as suppressed).

Held-out members never appear (only arm = treated is read). Members erased by `siyu forget`
are gone from the marts; a member any of whose identifiers is on the suppression list is left
out as well (defence in depth), and `erase_from_outboxes` removes an erased person from the
files already written. `external_userid` and `openid` are the channels' pseudonymous ids,
stored in clear in the warehouse (identity needs them; the APIs need them): the files hold
direct identifiers, so the folder is owner-only (0700, files 0600). Each file is written to a
temporary file in the same folder and renamed over the old one (atomic); the same night gives
the same bytes (idempotent), and a day's files of targets no longer configured are removed.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb

from pipelines.lib.platform.project_vars import var

COUPON_HEADER = ("member_id", "openid", "audience_code", "coupon_template", "entered_on")
MANIFEST = "_manifest.json"


@dataclass(frozen=True)
class Target:
    audience_code: str
    kind: str  # wecom_tag | coupon
    tag_id: str | None = None
    template: str | None = None

    @property
    def filename(self) -> str:
        return (f"{self.audience_code}.wecom_mark_tag.jsonl" if self.kind == "wecom_tag"
                else f"{self.audience_code}.coupon.csv")


@dataclass
class TargetCounts:
    target: Target
    requests: int = 0
    members_added: int = 0
    members_removed: int = 0
    unreachable: int = 0

    def as_dict(self) -> dict:
        return {"audience_code": self.target.audience_code, "target": self.target.kind,
                "file": self.target.filename, "tag_id": self.target.tag_id,
                "coupon_template": self.target.template, "requests": self.requests,
                "members_added": self.members_added, "members_removed": self.members_removed,
                "unreachable_members": self.unreachable}


@dataclass
class OutboxResult:
    as_of: date
    folder: Path
    counts: list[TargetCounts] = field(default_factory=list)
    suppressed: int = 0
    removed_files: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        rows = "\n".join(
            f"| {c.target.audience_code} | {c.target.kind} | {c.requests} | {c.members_added} "
            f"| {c.members_removed} | {c.unreachable} |" for c in self.counts)
        return ("| audience | target | requests / rows | added | removed | unreachable |\n"
                "|---|---|---|---|---|---|\n" + (rows or "| none | | | | | |"))


def default_outbox_dir(warehouse: Path) -> Path:
    """`SIYU_OUTBOX_DIR`, else `outbox/` beside the warehouse file."""
    return Path(os.environ.get("SIYU_OUTBOX_DIR", warehouse.parent / "outbox")).resolve()


def targets(audiences: list[dict] | None = None) -> list[Target]:
    """The activation targets of var audiences, in config order."""
    out: list[Target] = []
    for a in var("audiences") if audiences is None else audiences:
        for t in a.get("activation") or []:
            kind = t.get("target")
            if kind == "wecom_tag" and t.get("tag_id"):
                out.append(Target(a["code"], kind, tag_id=str(t["tag_id"])))
            elif kind == "coupon" and t.get("template"):
                out.append(Target(a["code"], kind, template=str(t["template"])))
            else:
                raise ValueError(f"audience {a.get('code')!r}: bad activation target {t!r} "
                                 "(wecom_tag needs tag_id, coupon needs template)")
    return out


def _exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? "
        "AND table_name = ? AND table_catalog = current_database()",
        [schema, table]).fetchall()[0][0])


def _suppressed_members_sql(con: duckdb.DuckDBPyConnection) -> tuple[str, list]:
    """Members holding an identifier on the suppression list (none when there is no list)."""
    if not (_exists(con, "privacy", "suppressed_identifiers")
            and _exists(con, "privacy", "settings")):
        return "SELECT NULL AS member_id WHERE FALSE", []
    salt = con.execute("SELECT value FROM privacy.settings WHERE key = 'salt'").fetchall()
    if not salt:
        return "SELECT NULL AS member_id WHERE FALSE", []
    return ("SELECT DISTINCT member_id FROM identity.member_id_assignments WHERE "
            "sha256(? || id_value) IN (SELECT id_hash FROM privacy.suppressed_identifiers)",
            [salt[0][0]])


def _deltas(con: duckdb.DuckDBPyConnection, as_of: date) -> tuple[list[tuple], int]:
    """(member_id, audience_code, action) of tonight's treated entries/exits, and how many
    were left out as suppressed or no longer members."""
    sup_sql, sup_params = _suppressed_members_sql(con)
    rows = con.execute(f"""
        WITH deltas AS (
            SELECT member_id, audience_code,
                   CASE WHEN entered_on = ? THEN 'add' ELSE 'remove' END AS action
            FROM marts.member_audience_spells
            WHERE arm = 'treated' AND (entered_on = ? OR left_on = ?)
        ), excluded AS (
            {sup_sql}
            UNION SELECT d.member_id FROM deltas d
            WHERE d.member_id NOT IN (SELECT member_id FROM marts.dim_member)
        )
        SELECT d.member_id, d.audience_code, d.action,
               d.member_id IN (SELECT member_id FROM excluded WHERE member_id IS NOT NULL)
        FROM deltas d ORDER BY d.audience_code, d.action, d.member_id
    """, [as_of, as_of, as_of, *sup_params]).fetchall()
    kept = [(m, a, act) for m, a, act, excluded in rows if not excluded]
    return kept, len(rows) - len(kept)


def _follows(con: duckdb.DuckDBPyConnection, members: list[str]) -> dict[str, list[tuple[str, str]]]:
    """member_id → sorted (external_userid, staff userid) of its live follow relations."""
    if not members:
        return {}
    con.execute("CREATE OR REPLACE TEMP TABLE _outbox_members (member_id VARCHAR)")
    con.executemany("INSERT INTO _outbox_members VALUES (?)", [(m,) for m in sorted(set(members))])
    deleted = ("SELECT external_userid FROM intermediate.int_identity__deleted_wecom_contacts"
               if _exists(con, "intermediate", "int_identity__deleted_wecom_contacts")
               else "SELECT NULL AS external_userid WHERE FALSE")
    rows = con.execute(f"""
        SELECT DISTINCT a.member_id, f.external_userid, f.staff_userid
        FROM identity.member_id_assignments a
        JOIN _outbox_members m ON a.member_id = m.member_id
        JOIN staging.stg_wecom__follow_users f ON f.external_userid = a.id_value
        WHERE a.id_type = 'wecom_external_userid' AND f.staff_userid IS NOT NULL
          AND f.external_userid NOT IN ({deleted})
        ORDER BY 1, 2, 3""").fetchall()
    con.execute("DROP TABLE _outbox_members")
    out: dict[str, list[tuple[str, str]]] = {}
    for member, ext, staff in rows:
        out.setdefault(member, []).append((ext, staff))
    return out


def _openids(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return dict(con.execute("""
        SELECT member_id, min(id_value) FROM identity.member_id_assignments
        WHERE id_type = 'mp_openid' AND id_value <> '' GROUP BY member_id""").fetchall())


def mark_tag_body(staff_userid: str, external_userid: str, action: str, tag_id: str) -> str:
    """One request body of externalcontact/mark_tag, compact JSON (UTF-8, no spaces)."""
    body = {"userid": staff_userid, "external_userid": external_userid,
            ("add_tag" if action == "add" else "remove_tag"): [tag_id]}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def _atomic_write(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path` (0600), flush to disk, rename over `path`."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)


def _coupon_csv(rows: Iterable[tuple]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COUPON_HEADER)
    w.writerows(rows)
    return buf.getvalue().encode("utf-8")


def tonight(con: duckdb.DuckDBPyConnection) -> date | None:
    """The as-of day of tonight's audience history."""
    return con.execute("SELECT max(as_of_date) FROM marts.member_audience_spells").fetchall()[0][0]


def write_outboxes(con: duckdb.DuckDBPyConnection, out_dir: Path, as_of: date | None = None,
                   audiences: list[dict] | None = None) -> OutboxResult:
    """Write `out_dir/<as_of>/` (see the module doc) from the warehouse on `con`."""
    as_of = as_of or tonight(con)
    if as_of is None:
        raise ValueError("marts.member_audience_spells is empty: no night to write")
    tgts = targets(audiences)
    _private_dir(out_dir)
    folder = out_dir / as_of.isoformat()
    _private_dir(folder)
    deltas, suppressed = _deltas(con, as_of)
    follows = _follows(con, [m for m, _, _ in deltas])
    openids = _openids(con) if any(t.kind == "coupon" for t in tgts) else {}
    result = OutboxResult(as_of, folder, suppressed=suppressed)
    for t in tgts:
        mine = [(m, act) for m, a, act in deltas if a == t.audience_code]
        c = TargetCounts(t, members_added=sum(act == "add" for _, act in mine))
        if t.kind == "wecom_tag":
            c.members_removed = sum(act == "remove" for _, act in mine)
            lines: list[tuple[str, str, str, str]] = []
            for member, act in mine:
                rel = follows.get(member)
                if not rel:
                    c.unreachable += 1
                    continue
                lines += [(act, ext, staff, member) for ext, staff in rel]
            lines.sort()
            body = "".join(mark_tag_body(staff, ext, act, t.tag_id or "") + "\n"
                           for act, ext, staff, _ in lines)
            c.requests = len(lines)
            _atomic_write(folder / t.filename, body.encode("utf-8"))
        else:
            rows = [(m, openids.get(m, ""), t.audience_code, t.template, as_of.isoformat())
                    for m, act in mine if act == "add"]
            c.requests = len(rows)
            c.unreachable = sum(1 for r in rows if not r[1])
            _atomic_write(folder / t.filename, _coupon_csv(rows))
        result.counts.append(c)
    keep = {t.filename for t in tgts} | {MANIFEST}
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.name not in keep and not p.name.startswith("."):
            p.unlink()
            result.removed_files.append(p.name)
    manifest = {"as_of": as_of.isoformat(), "sent": False,
                "excluded_suppressed_or_erased": suppressed,
                "targets": [c.as_dict() for c in result.counts]}
    _atomic_write(folder / MANIFEST,
                  (json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True) + "\n")
                  .encode("utf-8"))
    return result


def erase_from_outboxes(out_dir: Path, member_ids: Iterable[str],
                        identifiers: Iterable[str]) -> int:
    """Remove an erased person from every outbox file already written (`siyu forget`): coupon
    rows of their member ids or openids, mark_tag bodies of their external_userids. Returns
    the lines removed. Files are rewritten atomically, owner-only."""
    members, ids = set(member_ids), set(identifiers)
    if not out_dir.exists() or not (members or ids):
        return 0
    removed = 0
    for path in sorted(out_dir.glob("*/*")):
        if path.name.endswith(".wecom_mark_tag.jsonl"):
            lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
            kept = [ln for ln in lines if json.loads(ln).get("external_userid") not in ids]
        elif path.name.endswith(".coupon.csv"):
            lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
            kept = lines[:1] + [ln for ln in lines[1:]
                                if not ({*next(csv.reader([ln]))[:2]} & (members | ids))]
        else:
            continue
        if len(kept) != len(lines):
            removed += len(lines) - len(kept)
            _atomic_write(path, "".join(kept).encode("utf-8"))
    return removed
