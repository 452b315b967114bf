"""Access-control rules of the serving PostgreSQL that need no server: the store-role config
and how store roles may see each `bi` table (tests/serving/test_postgres_serving.py checks
them against a server)."""

from __future__ import annotations

import pytest

from pipelines.lib.serving.roles import (
    RolesError,
    store_access,
    store_roles_from_config,
    validate_store_roles,
)


def test_store_roles_config_is_validated():
    assert validate_store_roles({"store_s01": ["S01"], "store_s02": ["S03", "S02", "S02"],
                                 "store_s04": "S04", "store_7": [7]}) == {
        "store_s01": ("S01",), "store_s02": ("S02", "S03"), "store_s04": ("S04",),
        "store_7": ("7",)}
    assert validate_store_roles(None) == {} == validate_store_roles({})
    for bad in ({"Store": ["S01"]}, {"siyu_bi": ["S01"]}, {"pg_monitor": ["S01"]},
                {"x;drop": ["S01"]}, {"store_s01": []}, {"store_s01": [" "]}):
        with pytest.raises(RolesError):
            validate_store_roles(bad)


def test_the_config_var_defaults_to_no_store_roles():
    assert store_roles_from_config() == {}


BI = {
    "orders": {"order_hk": "text", "member_id": "text", "store_id": "text"},
    "members": {"member_id": "text", "acquisition_store_id": "text", "city": "text"},
    "member_ltv": {"member_id": "text", "as_of_date": "date"},
    "ltv_cohorts": {"cohort_month": "date", "cohort_size": "integer"},
}


def test_store_access_by_store_column_or_through_members():
    assert store_access(BI) == {
        "orders": ("store", "store_id"),
        "members": ("store", "acquisition_store_id"),
        "member_ltv": ("member", "members"),
    }
    # without a members table, member-level rows are not granted to store roles
    no_members = {k: v for k, v in BI.items() if k != "members"}
    assert store_access(no_members) == {"orders": ("store", "store_id")}
