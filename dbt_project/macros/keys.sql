{#
    A stable row id from several columns (for entities without a natural key). Nulls get a
    marker so (a, null) and (null, a) differ; the separator keeps ('ab','c') apart from
    ('a','bc'). md5 via dbt.hash, so the same row hashes alike on DuckDB and Spark.
#}
{% macro surrogate_key(columns) -%}
    {%- set parts = [] -%}
    {%- for c in columns -%}
        {%- do parts.append("coalesce(cast(" ~ c ~ " as " ~ dbt.type_string() ~ "), '<null>')") -%}
        {%- if not loop.last -%}{%- do parts.append("'|'") -%}{%- endif -%}
    {%- endfor -%}
    {{ dbt.hash(dbt.concat(parts)) }}
{%- endmacro %}


{# WeCom contact-way codes: `store_<store_id>` means the customer scanned that store's QR
   code; anything else (campaign codes, empty) has no store. #}
{% macro store_id_from_state(column) -%}
    case
        when substr({{ column }}, 1, 6) = 'store_' and length({{ column }}) > 6
            then substr({{ column }}, 7)
    end
{%- endmacro %}
