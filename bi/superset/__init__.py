"""Apache Superset 6.1 for Siyu (`make bi`): see bi/__init__.py and docs/bi.md."""
