{#
    Use a model's custom schema as-is (`staging`, `intermediate`, `marts`, `bi`) instead of
    dbt's default `<target_schema>_<custom>`: the schema names are part of the warehouse
    contract and must not depend on the target.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
