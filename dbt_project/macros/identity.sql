{# The start of a business day as a timestamp: "last seen" for a record delivered on `_dt`. #}
{% macro day_timestamp(date_expression) -%}
    cast({{ date_expression }} as {{ dbt.type_timestamp() }})
{%- endmacro %}


{# Deterministic string aggregation (sorted), so reruns produce identical text. #}
{% macro string_agg_sorted(expression, separator) -%}
    {{ return(adapter.dispatch('string_agg_sorted', 'siyu')(expression, separator)) }}
{%- endmacro %}

{% macro default__string_agg_sorted(expression, separator) -%}
    string_agg({{ expression }}, {{ separator }} order by {{ expression }})
{%- endmacro %}

{% macro spark__string_agg_sorted(expression, separator) -%}
    array_join(array_sort(collect_list({{ expression }})), {{ separator }})
{%- endmacro %}
