"""Who reads what in the serving PostgreSQL, set up again (idempotently) on every start and
every publish.

* the owner role (`siyu_owner` on the embedded server; whoever `SIYU_SERVING_URL` logs in as
  on the brand's own) owns the database, the `serving` schema and every published table: the
  only role that writes;
* `siyu_bi` reads the PII-free `bi` schema only (and `serving.publishes`);
* `siyu_analyst` reads `bi` and the member-level `marts` (mobiles masked at most);
* store managers' roles (the `serving_store_roles` var of dbt_project.yml, e.g.
  `{store_s01: [S01], store_s02: [S02, S03]}`) are members of the group `siyu_store`, which
  reads `bi` through row-level security: an order's rows by its `store_id`, a member's by the
  member's home store (`bi.members.acquisition_store_id`), and member-level rows without a
  store column (`bi.member_ltv`) through the members the role may see. A `bi` table with
  neither (the brand-wide aggregates of `bi.ltv_cohorts`) is not granted to store roles.

`PUBLIC` may not connect to the database nor create in `public`. Grants and policies are put on
the staging tables inside the load (`grant_staging`): they travel with the schema rename. The
owner bypasses row-level security (PostgreSQL's rule for table owners) and is no BI login.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql

OWNER_ROLE = "siyu_owner"
BI_ROLE = "siyu_bi"
ANALYST_ROLE = "siyu_analyst"
STORE_GROUP = "siyu_store"
DATABASE = "siyu"
SERVING_SCHEMA = "serving"

#: the schemas a publish replaces, and the roles that read each (store roles: see module doc)
READERS: dict[str, tuple[str, ...]] = {"bi": (BI_ROLE, ANALYST_ROLE), "marts": (ANALYST_ROLE,)}
#: schemas store roles may read (row-level security applies there)
STORE_SCHEMAS = ("bi",)
#: a row's own store (an order's store), checked first
ROW_STORE_COLUMNS = ("store_id",)
#: a member's home store: a table with `member_id` and one of these is a members table
MEMBER_HOME_STORE_COLUMNS = ("acquisition_store_id", "home_store_id")
MEMBER_KEY = "member_id"
#: preferred members table per schema when several qualify
MEMBER_TABLES = ("members", "dim_member")

_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_RESERVED = {OWNER_ROLE, BI_ROLE, ANALYST_ROLE, STORE_GROUP, "public", "postgres"}
#: pg_advisory_xact_lock key of the role setup (two processes starting at once)
_ROLES_LOCK = 0x5359_5501


class RolesError(RuntimeError):
    """The access-control configuration is invalid or cannot be applied."""


def validate_store_roles(mapping: Mapping[str, Any] | None) -> dict[str, tuple[str, ...]]:
    """`{role: [store_id, …]}` checked: lower-case PostgreSQL names that are not the project's
    own roles, each with at least one store (a single store may be written without a list)."""
    out: dict[str, tuple[str, ...]] = {}
    for role, stores in (mapping or {}).items():
        if not isinstance(role, str) or not _ROLE_NAME.match(role) or role in _RESERVED \
                or role.startswith("pg_"):
            raise RolesError(f"serving_store_roles: {role!r} is not a usable role name "
                             "(lower-case letters, digits, _; not a siyu_/pg_ system role)")
        values = [stores] if isinstance(stores, str | int) else list(stores or [])
        ids = tuple(sorted({str(s).strip() for s in values if str(s).strip()}))
        if not ids:
            raise RolesError(f"serving_store_roles: {role!r} has no store ids")
        out[role] = ids
    return out


def store_roles_from_config() -> dict[str, tuple[str, ...]]:
    """The `serving_store_roles` var of dbt_project.yml (the project's one config place)."""
    from pipelines.lib.platform.project_vars import var

    return validate_store_roles(var("serving_store_roles"))


def password_verifier(conn: psycopg.Connection, role: str, password: str) -> str:
    """The SCRAM verifier of a password, computed by libpq: the plain password never travels
    in a statement (nor into a server log)."""
    return conn.pgconn.encrypt_password(password.encode(), role.encode(),
                                        b"scram-sha-256").decode()


def _existing_roles(conn: psycopg.Connection, names: Sequence[str]) -> set[str]:
    rows = conn.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)",
                        [list(names)]).fetchall()
    return {r[0] for r in rows}


def _create_or_alter(conn: psycopg.Connection, role: str, exists: bool,
                     password: str | None) -> None:
    ident = sql.Identifier(role)
    if password is not None:
        login = sql.SQL("LOGIN PASSWORD {}").format(
            sql.Literal(password_verifier(conn, role, password)))
        verb = "ALTER ROLE" if exists else "CREATE ROLE"
        conn.execute(sql.SQL(verb + " {} {}").format(ident, login))
    elif not exists:
        # no password known (a publish, the brand's server): the role exists, the DBA or the
        # next `siyu serving start` gives it a login
        conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(ident))


def ensure_roles(conn: psycopg.Connection, *, store_roles: Mapping[str, Sequence[str]],
                 passwords: Mapping[str, str] | None = None) -> None:
    """Create or update the reader roles, the `serving` schema (publish log, store mapping)
    and the database-level grants; run as the owner role, in one transaction.

    `passwords` (role → password) sets logins; a role missing from it is created NOLOGIN if
    it does not exist and left as it is otherwise. Store roles removed from the config lose
    their `siyu_store` membership (and with it every grant)."""
    store_roles = validate_store_roles(store_roles)
    passwords = passwords or {}
    readers = [BI_ROLE, ANALYST_ROLE, *store_roles]
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [_ROLES_LOCK])
            existing = _existing_roles(conn, [*readers, STORE_GROUP])
            for role in readers:
                _create_or_alter(conn, role, role in existing, passwords.get(role))
            if STORE_GROUP not in existing:
                conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(
                    sql.Identifier(STORE_GROUP)))
            members = {r[0] for r in conn.execute(
                "SELECT m.rolname FROM pg_auth_members a JOIN pg_roles g ON g.oid = a.roleid "
                "JOIN pg_roles m ON m.oid = a.member WHERE g.rolname = %s",
                [STORE_GROUP]).fetchall()}
            group = sql.Identifier(STORE_GROUP)
            for role in sorted(set(store_roles) - members):
                conn.execute(sql.SQL("GRANT {} TO {}").format(group, sql.Identifier(role)))
            for role in sorted(members - set(store_roles)):
                conn.execute(sql.SQL("REVOKE {} FROM {}").format(group, sql.Identifier(role)))
            _database_grants(conn)
            _serving_schema(conn, store_roles)
    except psycopg.errors.InsufficientPrivilege as exc:
        raise RolesError(
            f"cannot set up the serving roles as {conn.info.user!r}: {exc}. The owner role "
            f"needs CREATEROLE and its own database, or a DBA creates {', '.join(readers)} "
            f"and {STORE_GROUP} first") from exc


def _database_grants(conn: psycopg.Connection) -> None:
    db = sql.Identifier(conn.info.dbname)
    conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(db))
    conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
        db, sql.SQL(", ").join(map(sql.Identifier, (BI_ROLE, ANALYST_ROLE, STORE_GROUP)))))
    conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")


def _serving_schema(conn: psycopg.Connection, store_roles: Mapping[str, Sequence[str]]) -> None:
    """`serving.publishes` (what is live) and `serving.store_roles` (store → role), which are
    not swapped: they outlive every publish."""
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SERVING_SCHEMA}")
    conn.execute(f"""
        CREATE TABLE IF NOT EXISTS {SERVING_SCHEMA}.publishes (
            publish_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            run_id text NOT NULL,
            as_of date,
            published_at timestamptz NOT NULL,
            schemas text[] NOT NULL,
            row_counts jsonb NOT NULL,
            totals jsonb NOT NULL,
            load_seconds numeric(12, 3)
        )""")
    conn.execute(f"""
        CREATE TABLE IF NOT EXISTS {SERVING_SCHEMA}.store_roles (
            role_name text NOT NULL,
            store_id text NOT NULL,
            PRIMARY KEY (role_name, store_id)
        )""")
    # a store role sees its own mapping rows only (the policies of the bi tables read them as
    # the querying role: current_user is the store role there). Only when missing: ALTER
    # TABLE and CREATE POLICY lock the table against the store roles' running queries.
    secured = conn.execute(
        "SELECT c.relrowsecurity, EXISTS (SELECT FROM pg_policy p WHERE p.polrelid = c.oid "
        "AND p.polname = 'own_rows') FROM pg_class c WHERE c.oid = %s::regclass",
        [f"{SERVING_SCHEMA}.store_roles"]).fetchone()
    if not secured or not secured[0]:
        conn.execute(f"ALTER TABLE {SERVING_SCHEMA}.store_roles ENABLE ROW LEVEL SECURITY")
    if not secured or not secured[1]:
        conn.execute(f"CREATE POLICY own_rows ON {SERVING_SCHEMA}.store_roles FOR SELECT "
                     "USING (role_name = current_user)")
    conn.execute(f"GRANT USAGE ON SCHEMA {SERVING_SCHEMA} TO {BI_ROLE}, {ANALYST_ROLE}, "
                 f"{STORE_GROUP}")
    conn.execute(f"GRANT SELECT ON {SERVING_SCHEMA}.publishes TO {BI_ROLE}, {ANALYST_ROLE}")
    conn.execute(f"REVOKE ALL ON {SERVING_SCHEMA}.publishes FROM {STORE_GROUP}")
    conn.execute(f"GRANT SELECT ON {SERVING_SCHEMA}.store_roles TO {STORE_GROUP}")
    rows = [(role, store) for role, stores in sorted(store_roles.items()) for store in stores]
    current = conn.execute(f"SELECT role_name, store_id FROM {SERVING_SCHEMA}.store_roles "
                           "ORDER BY 1, 2").fetchall()
    if current != rows:  # one transaction: a store role's query sees the old or new mapping
        conn.execute(f"DELETE FROM {SERVING_SCHEMA}.store_roles")
        if rows:
            with conn.cursor() as cur:
                cur.executemany(f"INSERT INTO {SERVING_SCHEMA}.store_roles VALUES (%s, %s)",
                                rows)


def store_access(tables: Mapping[str, Mapping[str, str]]) -> dict[str, tuple[str, str]]:
    """How store roles may see each table of one schema (table → column → PostgreSQL type):
    `("store", column)` — rows whose column is one of the role's stores; `("member", table)`
    — rows of the members the role sees in that members table; a table with neither is not
    in the result (not granted to store roles)."""
    access: dict[str, tuple[str, str]] = {}
    members: list[str] = []
    for name, columns in tables.items():
        col = next((c for c in (*ROW_STORE_COLUMNS, *MEMBER_HOME_STORE_COLUMNS)
                    if c in columns), None)
        if col:
            access[name] = ("store", col)
            if MEMBER_KEY in columns and col in MEMBER_HOME_STORE_COLUMNS:
                members.append(name)
    if members:
        preferred = [t for t in MEMBER_TABLES if t in members]
        member_table = preferred[0] if preferred else sorted(members)[0]
        for name, columns in tables.items():
            if name not in access and MEMBER_KEY in columns:
                access[name] = ("member", member_table)
    return access


def grant_staging(conn: psycopg.Connection, *, live_schema: str, staging_schema: str,
                  tables: Mapping[str, Mapping[str, str]], row_security: bool
                  ) -> dict[str, str]:
    """Grants (and, with store roles configured, row-level security) on tonight's staging
    tables of `live_schema`, inside the load transaction. Returns table → how store roles see
    it (`store_id`, `via members`, …) for the tables granted to them."""
    readers = READERS[live_schema]
    schema = sql.Identifier(staging_schema)
    reader_list = sql.SQL(", ").join(map(sql.Identifier, readers))
    conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, reader_list))
    conn.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(
        schema, reader_list))
    if not row_security or live_schema not in STORE_SCHEMAS:
        return {}
    access = store_access(tables)
    if not access:
        return {}
    group = sql.Identifier(STORE_GROUP)
    conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, group))
    described: dict[str, str] = {}
    for name, (kind, target) in sorted(access.items()):
        table = sql.Identifier(staging_schema, name)
        if kind == "store":
            col = sql.Identifier(target)
            if tables[name][target] != "text":
                col = sql.SQL("{}::text").format(col)
            using = sql.SQL(
                "{} IN (SELECT store_id FROM {}.store_roles WHERE role_name = current_user)"
            ).format(col, sql.Identifier(SERVING_SCHEMA))
            described[name] = target
        else:
            using = sql.SQL("{} IN (SELECT {} FROM {})").format(
                sql.Identifier(MEMBER_KEY), sql.Identifier(MEMBER_KEY),
                sql.Identifier(staging_schema, target))
            described[name] = f"via {target}"
        conn.execute(sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(table))
        # row-level security on = no row without a policy: the readers keep every row
        conn.execute(sql.SQL("CREATE POLICY readers ON {} FOR SELECT TO {} USING (true)").format(
            table, reader_list))
        conn.execute(sql.SQL("CREATE POLICY stores ON {} FOR SELECT TO {} USING ({})").format(
            table, group, using))
        conn.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(table, group))
    return described
