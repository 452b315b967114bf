{#
    Engine differences, one dispatched macro each (`duckdb__` / `spark__`; `default__` is the
    ANSI-ish fallback). Models call these instead of engine functions, and
    scripts/check_portable_sql.py rejects the engine functions in models.
#}

{# dbt-duckdb 1.11 ships no duckdb__safe_cast, so dbt.safe_cast renders a plain cast that
   fails on bad input; try_cast returns null like Spark's non-ANSI cast. #}
{% macro duckdb__safe_cast(field, type) -%}
    try_cast({{ field }} as {{ type }})
{%- endmacro %}


{# Money in yuan everywhere: two decimals, wide enough for any order or lifetime sum. #}
{% macro type_amount() -%}
    {{ return(adapter.dispatch('type_amount', 'siyu')()) }}
{%- endmacro %}

{% macro default__type_amount() -%}
    decimal(18,2)
{%- endmacro %}


{# Integer fen (WeChat Pay) to yuan. Multiplying by the decimal 0.01 stays exact on both
   engines; dividing by 100 gives a DOUBLE on DuckDB. #}
{% macro fen_to_yuan(column) -%}
    cast(cast({{ column }} as decimal(20,0)) * 0.01 as {{ type_amount() }})
{%- endmacro %}


{# Replace every match of a regex. DuckDB replaces only the first match unless given 'g';
   Spark always replaces all. #}
{% macro regexp_replace_all(expression, pattern, replacement) -%}
    {{ return(adapter.dispatch('regexp_replace_all', 'siyu')(expression, pattern, replacement)) }}
{%- endmacro %}

{% macro default__regexp_replace_all(expression, pattern, replacement) -%}
    regexp_replace({{ expression }}, {{ pattern }}, {{ replacement }})
{%- endmacro %}

{% macro duckdb__regexp_replace_all(expression, pattern, replacement) -%}
    regexp_replace({{ expression }}, {{ pattern }}, {{ replacement }}, 'g')
{%- endmacro %}


{# Lowercase hex SHA-256 of a string (the `mobile_sha256` convention of the landing contract). #}
{% macro sha256_hex(expression) -%}
    {{ return(adapter.dispatch('sha256_hex', 'siyu')(expression)) }}
{%- endmacro %}

{% macro default__sha256_hex(expression) -%}
    sha256({{ expression }})
{%- endmacro %}

{% macro spark__sha256_hex(expression) -%}
    sha2({{ expression }}, 256)
{%- endmacro %}


{# A ratio as DOUBLE on both engines. decimal / decimal is a DOUBLE on DuckDB but a DECIMAL
   rounded to 6+ places on Spark, so a ratio just under a threshold (0.0499999…) lands in
   different bands. Divide doubles wherever a ratio is compared or banded; keep amounts
   (decimal(18,2)) for sums and differences. #}
{% macro ratio(numerator, denominator) -%}
    (cast({{ numerator }} as double) / cast({{ denominator }} as double))
{%- endmacro %}


{# The last non-null value of an expression in a window frame (a forward fill); call it
   with an OVER clause. #}
{% macro last_value_ignore_nulls(expression) -%}
    {{ return(adapter.dispatch('last_value_ignore_nulls', 'siyu')(expression)) }}
{%- endmacro %}

{% macro default__last_value_ignore_nulls(expression) -%}
    last_value({{ expression }} ignore nulls)
{%- endmacro %}

{% macro spark__last_value_ignore_nulls(expression) -%}
    last({{ expression }}, true)
{%- endmacro %}
