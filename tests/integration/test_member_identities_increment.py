"""`marts.member_identities` is incremental: a night rewrites the identifiers whose row changed
and its post-hook drops the ones the OneID state no longer lists. The generated zone never
drops an identifier between nights, so the drop is pinned here on the hand-made run."""

from __future__ import annotations

from pipelines.lib.platform.warehouse import connect
from tests.conftest import Built, copy_built
from tests.dbt import dbt_ok


def test_the_increment_drops_gone_identifiers_and_rewrites_changed_ones(built: Built, tmp_path):
    b = copy_built(built, tmp_path / "run")
    with connect(b.warehouse) as con:
        (gone_type, gone_value), (moved_type, moved_value) = con.execute(
            "SELECT id_type, id_value FROM identity.member_id_assignments "
            "ORDER BY id_type, id_value LIMIT 2").fetchall()
        other_member = con.execute(
            "SELECT member_id FROM identity.member_id_assignments WHERE NOT (id_type = ? AND "
            "id_value = ?) AND member_id <> (SELECT member_id FROM identity.member_id_assignments "
            "WHERE id_type = ? AND id_value = ?) LIMIT 1",
            [moved_type, moved_value, moved_type, moved_value]).fetchall()[0][0]
        con.execute("DELETE FROM identity.member_id_assignments WHERE id_type = ? AND id_value = ?",
                    [gone_type, gone_value])
        con.execute("UPDATE identity.member_id_assignments SET member_id = ? "
                    "WHERE id_type = ? AND id_value = ?", [other_member, moved_type, moved_value])
    dbt_ok("run", "--select", "member_identities", warehouse=b.warehouse, workdir=tmp_path)
    with connect(b.warehouse, read_only=True) as con:
        built_rows = set(con.execute("SELECT * FROM marts.member_identities").fetchall())
        state = set(con.execute("SELECT member_id, id_type, id_value, first_seen_at, "
                                "last_seen_at FROM identity.member_id_assignments").fetchall())
        kind = con.execute("SELECT table_type FROM information_schema.tables WHERE "
                           "table_schema = 'marts' AND table_name = 'member_identities'"
                           ).fetchall()[0][0]
    assert kind == "BASE TABLE"
    assert built_rows == state
    assert not any(r[1:3] == (gone_type, gone_value) for r in built_rows)
    assert any(r[:3] == (other_member, moved_type, moved_value) for r in built_rows)
    # dbt took the incremental path (on last night's rows), not a rebuild: delete+insert
    ran = (tmp_path / "target" / "run" / "siyu" / "models" / "marts" / "identity"
           / "member_identities.sql").read_text()
    assert "dbt_incremental_target" in ran.lower()
