"""Publish cost into the serving PostgreSQL: a synthetic `fct_orders` (15 columns, the mart's
types: strings with Chinese text, decimal(18,2) amounts, timestamps, a date, NULLs) of N rows,
copied from DuckDB, indexed, analysed, swapped in and checkpointed — the whole `publish()`.

    python benchmarks/bench_serving_publish.py [--rows 1000000] [--bi] [--repeat 2]
        [--url postgresql://siyu_owner:…@127.0.0.1:54329/siyu]

Without `--url` it starts a private embedded server in a temporary folder on a free port and
stops it afterwards. `--bi` also publishes the `bi.orders` shape (12 columns) of the same
rows, as a night does. The first publish of a server creates the schemas; later ones also
swap out and drop the previous night, so `--repeat 2` shows the steady state.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import tempfile
import time
from datetime import date
from pathlib import Path

import duckdb

from pipelines.lib.serving import Served, ServingConfig, ensure_running, publish, stop

FCT_ORDERS = """
CREATE SCHEMA IF NOT EXISTS marts;
CREATE OR REPLACE TABLE marts.fct_orders AS
SELECT
    'ord-' || lpad(i::VARCHAR, 9, '0') AS order_key,
    ['pos', 'tmall', 'miniprogram'][1 + i % 3] AS channel,
    'SO' || (i * 7919 % 1000000007)::VARCHAR AS source_order_id,
    CASE WHEN i % 11 = 0 THEN NULL ELSE 'M' || lpad((i % {members})::VARCHAR, 8, '0') END
        AS member_id,
    CASE WHEN i % 3 = 0 THEN 'S' || lpad((i % 40)::VARCHAR, 3, '0') END AS store_id,
    TIMESTAMP '2024-01-01' + to_seconds(i * 37 % 31536000) AS ordered_at,
    TIMESTAMP '2024-01-01' + to_seconds(i * 37 % 31536000 + 60) AS paid_at,
    ['已支付 paid', '已退款 refunded', '已完成 completed'][1 + i % 3] AS status,
    (10 + i % 990)::DECIMAL(18, 2) + 0.5 AS gross_amount,
    (i % 7)::DECIMAL(18, 2) AS discount_amount,
    (10 + i % 990)::DECIMAL(18, 2) + 0.5 - (i % 7) AS paid_amount,
    CASE WHEN i % 3 = 1 THEN (i % 5)::DECIMAL(18, 2) ELSE 0 END AS refund_amount,
    (10 + i % 990)::DECIMAL(18, 2) + 0.5 - (i % 7)
        - CASE WHEN i % 3 = 1 THEN (i % 5)::DECIMAL(18, 2) ELSE 0 END AS net_amount,
    CASE WHEN i % 3 = 1 THEN TIMESTAMP '2024-02-01' + to_seconds(i % 86400) END AS refunded_at,
    DATE '2024-01-01' + (i % 365)::INTEGER AS last_delivered_dt
FROM range({rows}) t(i)
"""

BI_ORDERS = """
CREATE SCHEMA IF NOT EXISTS bi;
CREATE OR REPLACE VIEW bi.orders AS
SELECT md5(order_key) AS order_hk, channel, member_id, store_id, ordered_at, paid_at, status,
       gross_amount, discount_amount, paid_amount, refund_amount, net_amount
FROM marts.fct_orders
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--bi", action="store_true", help="also publish bi.orders")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--url", help="owner URL of a running serving PostgreSQL")
    args = ap.parse_args()

    duck = duckdb.connect()
    t0 = time.perf_counter()
    duck.execute(FCT_ORDERS.format(rows=args.rows, members=max(args.rows // 5, 1)))
    tables = [Served(("marts", "fct_orders"), "marts")]
    if args.bi:
        duck.execute(BI_ORDERS)
        tables.append(Served(("bi", "orders"), "bi"))
    print(f"DuckDB: {args.rows:,} synthetic orders in {time.perf_counter() - t0:.1f} s")

    tmp = None
    url = args.url
    if not url:
        tmp = Path(tempfile.mkdtemp(prefix="siyu-bench-serving-"))
        config = ServingConfig(root=tmp / "serving", port=_free_port())
        t0 = time.perf_counter()
        url = ensure_running(config, store_roles={}).url
        print(f"embedded server: initdb + start in {time.perf_counter() - t0:.1f} s")
    try:
        for i in range(args.repeat):
            result = publish(duck, url, tables, run_id=f"bench-{i}", as_of=date(2024, 12, 31),
                             store_roles={})
            rows = sum(result.row_counts.values())
            print(f"publish {i + 1}: {rows:,} rows in {result.seconds:.2f} s "
                  f"({rows / result.seconds:,.0f} rows/s)")
    finally:
        if tmp:
            stop(config)
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
