"""DuckDB 2.0.0's `outer_join_simplification` turned `LEFT JOIN r … WHERE r.key IS NULL` into an
anti-join AND dropped an `IS NULL` filter inside `r` on an aggregate / HAVING / window output,
silently losing left rows (found on member_audience_spells: 8 rows instead of 10). Fixed in
2.0.1, which pyproject.toml now requires; this fails on a downgrade."""

from __future__ import annotations

import duckdb

REPRO = """
SELECT t.m
FROM (VALUES ('M1'), ('M2'), ('M4')) AS t(m)
LEFT JOIN (
    SELECT m, max(l) AS l
    FROM (VALUES ('M1', DATE '2024-06-11'), ('M2', NULL), ('M3', NULL)) AS p(m, l)
    GROUP BY m
    HAVING max(l) IS NULL
) AS o ON o.m = t.m
WHERE o.m IS NULL
ORDER BY 1
"""


def test_anti_join_keeps_rows_an_inner_is_null_filter_removed_from_the_right_side():
    # M2 is filtered out of the right side only (max(l) IS NULL holds); M1 (closed) and M4
    # (absent) have no right row, so both stay
    assert duckdb.sql(REPRO).fetchall() == [("M1",), ("M4",)]
