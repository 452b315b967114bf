"""The serving publish's pure parts: DuckDB → Arrow → PostgreSQL types (every DuckDB type
either passes to pgpq as is or is cast to one it encodes), the tables it picks, its checks."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest
from pgpq import ArrowToPostgresBinaryEncoder

from pipelines.lib.serving.publish import (
    PublishError,
    Served,
    _check,
    _index_columns,
    duck_expr,
    duck_select,
    pg_type,
    served_from_duckdb,
)

# DuckDB expression → the PostgreSQL column type it becomes
TYPES = {
    "true": "boolean",
    "1::TINYINT": "smallint",
    "1::UTINYINT": "smallint",
    "1::SMALLINT": "smallint",
    "1::USMALLINT": "integer",
    "1::INTEGER": "integer",
    "1::UINTEGER": "bigint",
    "1::BIGINT": "bigint",
    "1::UBIGINT": "numeric(20,0)",
    "1::HUGEINT": "numeric(38,0)",
    "1.5::FLOAT": "real",
    "1.5::DOUBLE": "double precision",
    "1.25::DECIMAL(18,2)": "numeric(18,2)",
    "1.25::DECIMAL(38,10)": "numeric(38,10)",
    "'中文'": "text",
    "'{}'::JSON": "text",
    "uuid()": "text",
    "'\\x01'::BLOB": "bytea",
    "DATE '2024-01-01'": "date",
    "TIME '10:00:00'": "time",
    "TIMESTAMP '2024-01-01 10:00:00'": "timestamp",
    "TIMESTAMP_S '2024-01-01'": "timestamp",
    "TIMESTAMP_MS '2024-01-01'": "timestamp",
    "TIMESTAMP_NS '2024-01-01'": "timestamp",
    "TIMESTAMPTZ '2024-01-01 10:00:00+08'": "timestamptz",
    "[1, 2]": "integer[]",
    "['a', NULL]": "text[]",
    "[1.5::DECIMAL(9,2)]": "numeric(9,2)[]",
    "[1, 2]::INTEGER[2]": "integer[]",
    # pgpq cannot encode these (or would lose meaning): text
    "'金卡'::tier": "text",
    "INTERVAL 1 DAY": "text",
    "TIMETZ '10:00:00+08'": "text",
    "'101'::BIT": "text",
    "{'a': 1}": "text",
    "MAP {'a': 1}": "text",
    "[[1], [2]]": "text",
    "[{'a': 1}]": "text",
    "1::VARINT": "text",
    "NULL": "text",
}


@pytest.fixture(scope="module")
def duck():
    d = duckdb.connect()
    d.execute("CREATE TYPE tier AS ENUM ('普卡', '金卡'); CREATE SCHEMA s")
    d.execute("CREATE TABLE s.zoo AS SELECT " + ", ".join(
        f"{expr} AS c{i}" for i, expr in enumerate(TYPES)))
    return d


def test_every_duckdb_type_gets_a_postgres_type_pgpq_encodes(duck):
    reader = duck.sql(duck_select(duck, ("s", "zoo"))).to_arrow_reader(1000)
    try:
        got = {expr: pg_type(reader.schema.field(f"c{i}").type)
               for i, expr in enumerate(TYPES)}
        encoder = ArrowToPostgresBinaryEncoder(reader.schema)  # rejects what it cannot encode
        chunks = [encoder.write_header(), *(encoder.write_batch(b) for b in reader),
                  encoder.finish()]
    finally:
        reader.close()
    assert got == TYPES
    assert sum(map(len, chunks)) > 0
    # the connection is usable again (the reader was drained/closed)
    assert duck.execute("SELECT 1").fetchall() == [(1,)]


def test_casts_only_what_needs_it():
    assert duck_expr("net_amount", "DECIMAL(18,2)") == '"net_amount"'
    assert duck_expr("tags", "VARCHAR[]") == '"tags"'
    assert duck_expr("tier", "ENUM('a', 'b')") == 'CAST("tier" AS VARCHAR) AS "tier"'
    assert duck_expr('we"ird', "INTERVAL") == 'CAST("we""ird" AS VARCHAR) AS "we""ird"'
    assert duck_expr("t", "TIMESTAMP_NS") == 'CAST("t" AS TIMESTAMP) AS "t"'


def test_unknown_arrow_type_is_an_error():
    with pytest.raises(PublishError, match="no PostgreSQL type"):
        pg_type(pa.duration("s"))


def test_served_from_duckdb_lists_marts_and_bi_without_bookkeeping():
    d = duckdb.connect()
    d.execute("CREATE SCHEMA marts; CREATE SCHEMA bi; CREATE SCHEMA staging;"
              "CREATE TABLE marts.fct_orders (i INT); CREATE TABLE marts._builds (i INT);"
              "CREATE VIEW bi.orders AS SELECT * FROM marts.fct_orders;"
              "CREATE TABLE staging.stg (i INT)")
    assert served_from_duckdb(d) == [Served(("bi", "orders"), "bi"),
                                     Served(("marts", "fct_orders"), "marts")]


def test_checks_and_declarative_index_columns():
    with pytest.raises(PublishError, match="nothing to publish"):
        _check([])
    with pytest.raises(PublishError, match="schema must be one of"):
        _check([Served(("x", "t"), "public")])
    with pytest.raises(PublishError, match="twice"):
        _check([Served(("marts", "t"), "marts"), Served(("bi", "t"), "marts")])
    assert _check([Served(("marts", "t"), "marts"), Served(("bi", "v"), "bi")]) == ["bi",
                                                                                   "marts"]
    cols = {"member_id": "text", "store_id": "text", "order_month": "date", "x": "text"}
    served = Served(("bi", "orders"), "bi")
    assert _index_columns(served, cols, row_security=False) == ["member_id", "order_month"]
    assert _index_columns(served, cols, row_security=True) == ["member_id", "order_month",
                                                               "store_id"]
    assert _index_columns(Served(("marts", "t"), "marts", index_columns=("x",)), cols,
                          row_security=True) == ["x"]
    with pytest.raises(PublishError, match="no column"):
        _index_columns(Served(("marts", "t"), "marts", index_columns=("nope",)), cols, False)
