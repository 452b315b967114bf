"""Siyu's BI dashboards as code: Apache Superset over the serving PostgreSQL (docs/bi.md).

* `bi/superset/bundle/` — the dashboards, charts, datasets and database as YAML (Superset's
  import/export format), labelled in Chinese first;
* `bi/superset/setup.py` — `make bi`: metadata database, upgrade/init/admin, import, server;
* `bi/superset/bundle.py` — the import zip, and the export back after a change in the UI;
* `bi/superset/bootstrap.py` — the part that runs inside Superset's own venv (.venv-superset);
* `bi/superset/superset_config.py`, `bi/superset/requirements.txt` — configuration and pins.
"""
