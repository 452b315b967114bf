"""Data-quality helpers that do not depend on Dagster (great-expectations suites)."""
