{#
    On DuckDB, render ref() and source() without the catalog (the database file's stem).
    A view stores its SQL text: with `"siyu"."raw"."pos__members"` inside, every staging
    view breaks as soon as the file is copied, renamed or ATTACHed under another alias (a BI
    tool, a backup, a test fixture). Unqualified names resolve in the view's own catalog.
    Other engines keep dbt's default rendering.
#}
{% macro ref() %}
    {%- set relation = builtins.ref(*varargs, **kwargs) -%}
    {{ return(_siyu_without_catalog(relation)) }}
{% endmacro %}

{% macro source() %}
    {%- set relation = builtins.source(*varargs, **kwargs) -%}
    {{ return(_siyu_without_catalog(relation)) }}
{% endmacro %}

{% macro _siyu_without_catalog(relation) %}
    {%- if target.type == 'duckdb' and relation is not none and relation.include is defined -%}
        {{ return(relation.include(database=false)) }}
    {%- endif -%}
    {{ return(relation) }}
{% endmacro %}
