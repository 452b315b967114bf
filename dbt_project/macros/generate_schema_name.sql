{#
    Use a model's custom schema as-is (`staging`, `intermediate`, `marts`) instead of dbt's
    default `<target_schema>_<custom>`: the schema names are part of the warehouse contract
    and must not depend on the target.

    Build-then-publish: when the `marts_build_schema` var is set (the Dagster dbt assets set it
    on DuckDB), models configured into `marts` are built into that schema instead; the publish
    asset swaps them into `marts` after every blocking check passed (pipelines/lib/publish.py).
    Without the var (dbt by hand, the Spark target) marts are built in place.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- elif custom_schema_name | trim == 'marts' and var('marts_build_schema', none) -%}
        {{ var('marts_build_schema') | trim }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
