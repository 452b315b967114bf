{#
    Incremental facts (docs/operations.md, "Nightly runs"). The big facts — orders, order
    lines, mini-program events and the growth ledger — are incremental on DuckDB: a night
    rewrites only the keys it touched, so its cost follows the day, not the history.

    Which keys a night touches is decided from the data, never from what the scheduler
    believes happened, so a night whose dbt step failed is picked up by the next one and a
    re-run of an older partition re-reads exactly what it replaced:

    * fct_orders and the growth ledger compare tonight's rows with the stored ones (a hash
      join, cheap next to rewriting the table) and rewrite only the orders / members that
      differ: new orders, refunds, corrected re-deliveries and OneID merges or splits alike;
    * mini-program events and order lines read only raw rows ingested after the newest
      `_ingested_at` they already hold (their high-water mark).

    Spark builds these as plain tables: its Parquet tables (no Delta Lake jars offline) support
    neither delete+insert nor merge. A full refresh (`siyu_full_refresh` job, or
    `dbt build --full-refresh`) rebuilds them from raw on both engines.
#}

{% macro incremental_materialization() -%}
    {{ return('table' if target.type == 'spark' else 'incremental') }}
{%- endmacro %}


{#
    Raw rows ingested after this model's high-water mark (the newest `_ingested_at` it holds).
    Only meaningful inside `{% if is_incremental() %}`.
#}
{% macro ingested_since_last_build(column='_ingested_at', watermark_column='_ingested_at') -%}
    {{ column }} > (
        select coalesce(max({{ watermark_column }}), cast('1900-01-01 00:00:00' as timestamp))
        from {{ this }}
    )
{%- endmacro %}


{#
    Models whose rows depend on the as-of day cannot be moved to another as-of day by an
    increment (a back-dated run would have to delete the future). Stop with the fix instead.
#}
{% macro fail_if_back_dated_increment() -%}
    {%- if is_incremental() and var('as_of_date', none) -%}
        {{ exceptions.raise_compiler_error(
            this.identifier ~ ": var as_of_date=" ~ var('as_of_date') ~ " back-dates an "
            ~ "incremental model; rebuild it with --full-refresh (Dagster: the "
            ~ "siyu_full_refresh job) when reproducing a past day") }}
    {%- endif -%}
{%- endmacro %}
