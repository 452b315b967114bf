"""What `siyu forget` does with a table's rows of an erased member — declared per dbt model (and
per dbt source table the Python steps write) in `meta.pii`, read from the dbt manifest:

* `delete` — the row is the person or their behaviour (profiles, tiers, ledgers, audiences);
* `anonymise` — order facts: the row stays with `member_id` NULL, so revenue totals do not
  change when a person is erased (`fct_orders`, `bi.orders`);
* `none` — holds no member (aggregates, pre-identity models).

Declared, not inferred from names: a new mart keyed on members but named like an order fact
(or the reverse) would otherwise be deleted or kept by accident. Every model of the
intermediate, marts and serving layers declares one (tests/unit/test_pii_declarations.py), and
a member-keyed table without a declaration stops `siyu forget` before it changes anything.
"""

from __future__ import annotations

import json
from pathlib import Path

PII_ACTIONS = ("delete", "anonymise", "none")
#: dbt layers whose every model must declare `meta.pii`
DECLARED_LAYERS = ("intermediate", "marts", "serving")


def _pii(node: dict) -> str | None:
    return (node.get("config", {}).get("meta") or {}).get("pii") or \
        (node.get("meta") or {}).get("pii")


def pii_declarations(manifest: dict) -> dict[tuple[str, str], str]:
    """(schema, relation) → declared action, for dbt models and source tables."""
    out: dict[tuple[str, str], str] = {}
    for node in manifest["nodes"].values():
        if node.get("resource_type") == "model" and _pii(node):
            out[(node["schema"], node.get("alias") or node["name"])] = _pii(node)
    for src in manifest.get("sources", {}).values():
        if _pii(src):
            out[(src["schema"], src.get("identifier") or src["name"])] = _pii(src)
    return out


def undeclared_models(manifest: dict) -> list[str]:
    """Models of DECLARED_LAYERS without a valid `meta.pii` (unique ids), sorted."""
    return sorted(uid for uid, n in manifest["nodes"].items()
                  if n.get("resource_type") == "model"
                  and n.get("fqn", [None, None])[1] in DECLARED_LAYERS
                  and _pii(n) not in PII_ACTIONS)


def load_declarations(target: str = "duckdb") -> dict[tuple[str, str], str]:
    """The declarations of the project's current manifest (parsed first when stale)."""
    from pipelines.lib.platform.dbt_manifest import ensure_manifest
    from pipelines.settings import DBT_PROJECT_DIR

    path: Path = ensure_manifest(DBT_PROJECT_DIR, target)
    return pii_declarations(json.loads(path.read_text(encoding="utf-8")))
