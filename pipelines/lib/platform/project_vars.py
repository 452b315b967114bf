"""The business rules of `dbt_project.yml` (`vars:`), read by the Python steps as well.

Rules live in one documented place — the dbt project's vars — whether SQL or Python applies
them: the ingestion's row rules (`max_order_amount_yuan`) and the quarantine gate read the
same file dbt does. A `--vars` override on a dbt command does not reach Python; change the file.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

DBT_PROJECT_FILE = Path(__file__).resolve().parents[3] / "dbt_project" / "dbt_project.yml"


@cache
def project_vars(path: Path = DBT_PROJECT_FILE) -> dict[str, Any]:
    """The `vars:` mapping of the dbt project (plain YAML values, no Jinja)."""
    with open(path, encoding="utf-8") as f:
        return dict(yaml.safe_load(f).get("vars") or {})


def var(name: str, path: Path = DBT_PROJECT_FILE) -> Any:
    """One var; a missing one is a configuration error naming the file."""
    values = project_vars(path)
    if name not in values:
        raise KeyError(f"{path}: vars has no {name!r}")
    return values[name]
