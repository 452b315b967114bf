"""`siyu`: the command line. Thin: parses arguments and calls the library or Dagster."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import date
from pathlib import Path


def _cmd_generate(args: argparse.Namespace) -> int:
    from siyu_generator import generate

    summary = generate(Path(args.out), members=args.members, days=args.days, seed=args.seed,
                       end_date=date.fromisoformat(args.end_date),
                       chunk_persons=args.chunk_persons)
    print(json.dumps(summary, ensure_ascii=False, indent=2, default=str))
    return 0


def _apply_paths(args: argparse.Namespace) -> None:
    if getattr(args, "data_dir", None):
        os.environ["SIYU_DATA_DIR"] = str(Path(args.data_dir).resolve())
    if getattr(args, "warehouse", None):
        os.environ["SIYU_WAREHOUSE"] = str(Path(args.warehouse).resolve())


def _day_arg(flag: str, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{flag} {value!r} is not a date (YYYY-MM-DD)") from None


def _cmd_run(args: argparse.Namespace) -> int:
    _apply_paths(args)
    from pipelines.runner import run_pipeline

    days = None
    if args.full_refresh and (args.start or args.end):
        print("siyu run: --full-refresh rebuilds from the whole raw history; drop --start/--end",
              file=sys.stderr)
        return 2
    if args.start or args.end:
        from pipelines.runner import all_landed_days, resolve_days

        # scanned outside the `try`: a malformed landing folder is not the caller's mistake
        landed = [] if args.start and args.end else all_landed_days()
        try:
            days = resolve_days(_day_arg("--start", args.start), _day_arg("--end", args.end),
                                landed)
        except ValueError as exc:
            print(f"siyu run: {exc}", file=sys.stderr)
            return 2
    report = run_pipeline(days=days, full_refresh=args.full_refresh, verbose=args.verbose)
    print(report.summary())
    return 0 if report.success else 1


def _cmd_export(args: argparse.Namespace) -> int:
    _apply_paths(args)
    from pipelines.lib.platform.warehouse import WarehouseBusyError, connect
    from pipelines.lib.serving.parquet_export import (
        default_export_dir,
        export_markdown,
        export_parquet,
    )
    from pipelines.settings import load_settings

    s = load_settings()
    out = Path(args.out).resolve() if args.out else default_export_dir(s.warehouse)
    if not s.warehouse.exists():
        print(f"siyu export: no warehouse at {s.warehouse}; run `siyu run` first", file=sys.stderr)
        return 2
    try:
        with connect(s.warehouse, read_only=True) as con:
            result = export_parquet(con, out)
    except WarehouseBusyError as exc:
        print(f"siyu export: {exc}", file=sys.stderr)
        return 1
    print(export_markdown(result))
    print(f"wrote {len(result.tables)} tables, {result.bytes:,} bytes of Parquet to {out}")
    return 0


def _cmd_forget(args: argparse.Namespace) -> int:
    _apply_paths(args)
    from pipelines.lib.activation import default_outbox_dir, erase_from_outboxes
    from pipelines.lib.platform.warehouse import WarehouseBusyError, connect, run_lock
    from pipelines.lib.privacy.forget import ErasureError, forget, outbox_identifiers
    from pipelines.settings import load_settings

    wh = load_settings().warehouse
    try:
        with run_lock(wh), connect(wh) as con:
            # the person's channel ids, read before they are erased: outbox files hold them
            ids = outbox_identifiers(con, member_id=args.member_id, mobile=args.mobile,
                                     identifier=args.identifier)
            result = forget(con, member_id=args.member_id, mobile=args.mobile,
                            identifier=args.identifier)
    except ErasureError as exc:
        print(f"siyu forget: {exc}", file=sys.stderr)
        return 2
    except WarehouseBusyError as exc:
        print(f"siyu forget: {exc}", file=sys.stderr)
        return 1
    served, code = _forget_in_serving(result.member_ids)
    # the activation outboxes already written (docs/activation.md)
    outbox_lines = erase_from_outboxes(default_outbox_dir(wh), result.member_ids, ids)
    # no identifier in the output: it ends up in shells' history and logs
    print(json.dumps({"request_hash": result.request_hash, "members_erased": result.members,
                      "identifiers_suppressed": result.identifiers, "counts": result.counts,
                      "serving": served, "outbox_lines_removed": outbox_lines}, indent=2))
    return code


def _forget_in_serving(member_ids: tuple[str, ...]) -> tuple[dict | str, int]:
    """Erase the members in the serving PostgreSQL too (what BI reads), when there is one."""
    import psycopg

    from pipelines.lib.serving import ServingError, ensure_running, erase_members, load_config

    config = load_config()
    if config.embedded and not (config.root / "pgdata").exists():
        return "no serving database", 0
    try:
        return erase_members(ensure_running(config).url, member_ids), 0
    except (ServingError, OSError, psycopg.Error) as exc:
        print(f"siyu forget: erased in the warehouse but NOT in the serving database ({exc}); "
              "it still shows the person until the next successful `siyu run` publishes",
              file=sys.stderr)
        return str(exc), 1


def _cmd_clv_fit(args: argparse.Namespace) -> int:
    from pipelines.lib.ltv import fit_transactions_file

    try:
        result = fit_transactions_file(
            args.transactions, customer_col=args.customer_col, date_col=args.date_col,
            value_col=args.value_col, calibration_end=date.fromisoformat(args.calibration_end),
            period=args.period,
        )
    except ValueError as exc:
        print(f"siyu clv fit: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2, default=str))
    if not result.get("fitted", True):
        print(f"siyu clv fit: not fitted: {result.get('warning')}", file=sys.stderr)
        return 1
    return 0


def _cmd_serving(args: argparse.Namespace) -> int:
    """`siyu serving start|stop|status`: the embedded serving PostgreSQL BI tools read."""
    from pipelines.lib.serving import BI_ROLE, ServingError, ensure_running, status, stop
    from pipelines.lib.serving.roles import RolesError

    try:
        if args.serving_command == "start":
            info = ensure_running()
            if not info.embedded:
                print("SIYU_SERVING_URL is set: the brand's PostgreSQL serves BI; nothing "
                      "was started (its DBA hands out the logins)")
                return 0
            print(f"serving PostgreSQL {'started' if info.started else 'already running'} "
                  f"on {info.host}:{info.port} (data: {info.data_dir})")
            for path in info.granted_traverse:
                print(f"  gave the server user traverse-only access to {path}")
            # the user's own local server, reachable from this machine only: its BI login is
            # shown here (and nowhere else; all passwords are in credentials.json, 0600)
            print(f"BI login (role {BI_ROLE}, reads the bi schema):")
            print(f"  {info.role_urls[BI_ROLE]}")
            print(f"  (your local server, reachable from this machine only; every role's "
                  f"password is in {info.data_dir}/credentials.json, readable by you only)")
            return 0
        if args.serving_command == "stop":
            was = stop()
            print("serving PostgreSQL stopped" if was else "serving PostgreSQL was not running")
            return 0
        st = status()
        where = (f"{st.host}:{st.port}, data {st.data_dir}" if st.embedded
                 else "SIYU_SERVING_URL (the brand's server)")
        print(f"serving PostgreSQL: {'running' if st.running else 'stopped'} ({where})")
        if st.pid:
            print(f"  pid {st.pid}")
        if st.latest_publish:
            p = st.latest_publish
            print(f"  live: run {p['run_id']}, as of {p['as_of']}, published "
                  f"{p['published_at']:%Y-%m-%d %H:%M:%S %Z}")
            print(f"  rows: {json.dumps(p['row_counts'], ensure_ascii=False, sort_keys=True)}")
            if p["totals"]:
                print(f"  totals: {json.dumps(p['totals'], ensure_ascii=False, sort_keys=True)}")
        elif st.running:
            print("  nothing published yet")
        return 0 if st.running else 3
    except (ServingError, RolesError) as exc:
        print(f"siyu serving {args.serving_command}: {exc}", file=sys.stderr)
        return 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="siyu", description="Siyu member-data warehouse")
    sub = p.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="write a synthetic landing zone (landing contract v1)")
    g.add_argument("--out", required=True)
    g.add_argument("--members", type=int, default=5000)
    g.add_argument("--days", type=int, default=90)
    g.add_argument("--seed", type=int, default=42)
    g.add_argument("--end-date", default="2026-10-31")
    g.add_argument("--chunk-persons", type=int, default=None,
                   help="persons held in memory at once (bounds memory; never changes a byte)")
    g.set_defaults(func=_cmd_generate)

    r = sub.add_parser("run", help="materialise every asset for the landed business days")
    r.add_argument("--data-dir", help="landing root (default $SIYU_DATA_DIR)")
    r.add_argument("--warehouse", help="DuckDB file (default $SIYU_WAREHOUSE)")
    r.add_argument("--start", help="first business day (default: first landed)")
    r.add_argument("--end", help="last business day (default: last landed)")
    r.add_argument("--verbose", action="store_true",
                   help="print Dagster's DEBUG log and dbt's log instead of the progress view")
    r.add_argument("--full-refresh", action="store_true",
                   help="rebuild every table derived from raw from the whole raw history "
                   "(the siyu_full_refresh job; landing files are not re-read)")
    r.set_defaults(func=_cmd_run)

    e = sub.add_parser("export", help="write the marts and bi views to Parquet for BI tools")
    e.add_argument("--out", help="output folder (default $SIYU_EXPORT_DIR or export/ beside "
                   "the warehouse)")
    e.add_argument("--warehouse", help="DuckDB file (default $SIYU_WAREHOUSE)")
    e.set_defaults(func=_cmd_export)

    fg = sub.add_parser("forget", help="erase one person's personal data (PIPL Art. 47)")
    fg.add_argument("--warehouse", help="DuckDB file (default $SIYU_WAREHOUSE)")
    who = fg.add_mutually_exclusive_group(required=True)
    who.add_argument("--member-id")
    who.add_argument("--mobile", help="any common spelling; hashed before use")
    who.add_argument("--identifier", help="TYPE:VALUE, e.g. pos_card:C001, mp_openid:o1")
    fg.set_defaults(func=_cmd_forget)

    sv = sub.add_parser("serving", help="the serving PostgreSQL BI tools read "
                        "(embedded; or the brand's own through SIYU_SERVING_URL)")
    svsub = sv.add_subparsers(dest="serving_command", required=True)
    svsub.add_parser("start", help="start it if needed; print the BI login").set_defaults(
        func=_cmd_serving)
    svsub.add_parser("stop", help="stop the embedded server").set_defaults(func=_cmd_serving)
    svsub.add_parser("status", help="running or stopped (exit 3), port, data folder, what is "
                     "live (the latest serving.publishes row)").set_defaults(func=_cmd_serving)

    c = sub.add_parser("clv", help="predictive lifetime-value models")
    csub = c.add_subparsers(dest="clv_command", required=True)
    f = csub.add_parser("fit", help="fit BG/NBD + Gamma-Gamma on a transaction file")
    f.add_argument("--transactions", required=True)
    f.add_argument("--customer-col", required=True)
    f.add_argument("--date-col", required=True)
    f.add_argument("--value-col", required=True)
    f.add_argument("--calibration-end", required=True)
    f.add_argument("--period", choices=["week", "day"], default="week")
    f.set_defaults(func=_cmd_clv_fit)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
