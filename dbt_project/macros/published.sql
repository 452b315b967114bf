{#
    The published copy of a mart, for BI-facing views (models/serving/).

    On DuckDB tonight's marts are built into a build schema and swapped into `marts` only after
    the blocking checks pass (pipelines/lib/publish.py); BI views must read the published
    tables, never the build ones. `ref()` is still called so dbt (and Dagster) see the
    dependency; only the rendered schema changes. Other targets build marts in place.
#}
{% macro published(model_name) %}
    {%- set relation = ref(model_name) -%}
    {%- if target.type == 'duckdb' and relation is not none and relation.incorporate is defined -%}
        {{ return(relation.incorporate(path={'schema': 'marts'})) }}
    {%- endif -%}
    {{ return(relation) }}
{% endmacro %}
