{#
    Incremental models (docs/operations.md, "Nightly increments"): the keyed staging tables,
    mini-program events and the order lines, on DuckDB. A night rewrites only the keys it
    touched, so its cost follows the day, not the history. Measured at a million members ×
    730 days (benchmarks/bench_pipeline.py, one run; `incremental_models_full_vs_nightly`
    prints every such model): built in full, stg_miniprogram__events took 12.2 s,
    stg_tmall__order_items 4.1 s, stg_tmall__orders 4.0 s, stg_pos__order_items 3.7 s, and
    none of their increments was among the night's twelve slowest nodes (each < 2.3 s).
    Marts whose increment saved under a second (fct_orders 4.0 against 4.3 s,
    member_identities, member_growth_ledger 4.5 s against < 3.5 s) and the tier chain (≈ 3 s)
    are plain tables since issue 21.

    Which keys a night touches is decided from the data (`_ingested_at` high-water marks and
    the ingestion log), never from what the scheduler believes happened, so a night whose dbt
    step failed is picked up by the next one and a re-run of an older partition re-reads
    exactly what it replaced.

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
    Keyed staging models ("newest delivery of each key", macros/dedup.sql) as increments that
    give exactly the rows a full rebuild gives.

    A night recomputes the keys it could have changed, from ALL their raw versions:
      * keys in raw rows ingested since the model's high-water mark (new days, re-deliveries);
      * keys whose kept row came from a day that was re-ingested since (ingestion replaces a
        day's rows with one `_ingested_at`, so an older stamp means the day no longer carries
        that version: the key falls back to another day's version, or disappears).
    Other keys cannot have changed: their winning version is still in raw and nothing newer
    arrived. delete+insert on the key replaces the recomputed ones; keys left with no version
    at all are deleted by `delete_versions_no_longer_delivered` (the post_hook in the model's config block).

    `key_columns` maps raw column → staging column (a list when staging keeps the names).
    With `group_columns`, the model keeps an order's lines from its newest delivery as a
    whole (`latest_delivery_by_group`): the group is then what is recomputed and replaced.
#}
{% macro latest_versions_since_last_build(relation, key_columns, group_columns=none) -%}
    {%- set keys = column_pairs(key_columns) | map('first') | list -%}
    {%- set versions = relation -%}
    {%- if is_incremental() -%}
        {%- set recompute = column_pairs(group_columns or key_columns) -%}
        {%- set versions -%}
        (
            select versions.*
            from {{ relation }} as versions
            where exists (
                select 1
                from (
                    select {% for raw_col, _ in recompute %}{{ raw_col }}{% if not loop.last %}, {% endif %}{% endfor %}
                    from {{ relation }}
                    where {{ ingested_since_last_build() }}
                    union
                    select {% for raw_col, stg_col in recompute %}kept.{{ stg_col }} as {{ raw_col }}{% if not loop.last %}, {% endif %}{% endfor %}
                    from {{ this }} as kept
                    inner join (
                        {{ newest_ingestion_by_day(raw_entity(relation)) }}
                    ) as days
                        on days._dt = kept._dt
                    where kept._ingested_at < days.newest_ingested_at
                ) as touched_keys
                where
                {%- for raw_col, _ in recompute %}
                    touched_keys.{{ raw_col }} = versions.{{ raw_col }}{% if not loop.last %} and{% endif %}
                {%- endfor %}
            )
        )
        {%- endset -%}
    {%- endif -%}
    {%- if group_columns -%}
        {{ latest_delivery_by_group(versions, group_columns, keys) }}
    {%- else -%}
        {{ latest_by_key(versions, keys) }}
    {%- endif -%}
{%- endmacro %}


{#
    When each business day of an entity was last ingested, from the ingestion log
    (`raw._load_log`, one row per delivered file). Not from the raw rows themselves: a day
    re-delivered with no rows for the entity (an emptied file) leaves no raw row to date it.
    `entity` is (channel, entity) as the log names it; `raw_entity` derives it from a raw
    table (`<channel>__<entity>`; child tables `<channel>__<entity>__<child>` share their
    parent's log rows). The log is a dbt source; the models reading it say so with a
    `-- depends_on:` line, since they read it only when incremental (dbt records a model's
    dependencies when it parses it, where `is_incremental()` is false).
#}
{% macro raw_entity(relation) -%}
    {{ return(relation.identifier.split('__')[:2]) }}
{%- endmacro %}


{% macro newest_ingestion_by_day(entity) -%}
    select dt as _dt, max(ingested_at) as newest_ingested_at
    from {{ source('raw', '_load_log') }}
    where channel = '{{ entity[0] }}' and entity = '{{ entity[1] }}'
    group by dt
{%- endmacro %}


{#
    Post-hook of the incremental staging models: delete kept rows whose day was re-ingested
    after they were built and which no raw version replaced (see above). A no-op on a full
    build and on Spark (tables or views there).
#}
{% macro delete_versions_no_longer_delivered(relation) -%}
    {%- if is_incremental() -%}
    delete from {{ this }} as kept
    where kept._ingested_at < (
        select days.newest_ingested_at
        from ({{ newest_ingestion_by_day(raw_entity(relation)) }}) as days
        where days._dt = kept._dt
    )
    {%- endif -%}
{%- endmacro %}


{# Keyed staging models: incremental on DuckDB (above); views on Spark like the rest of staging. #}
{% macro staging_materialization() -%}
    {{ return('view' if target.type == 'spark' else 'incremental') }}
{%- endmacro %}


{#
    Order lines unioned across channels (int_orders__items_unioned): the channels' line tables
    and the ingestion-log entity their rows come from (mini-program lines are a child of its
    orders). An order is rewritten when lines of it were ingested since the last build, or when
    its kept lines came from a day re-ingested since (their delivery may have fallen back to an
    older day or vanished); lines left stale after the rewrite belong to orders that no longer
    have any and are deleted by `delete_order_lines_no_longer_delivered`.
#}
{% macro order_line_entities() -%}
    {{ return({'pos': 'order_items', 'tmall': 'order_items', 'miniprogram': 'orders'}) }}
{%- endmacro %}


{% macro order_ids_to_rewrite(channel, staging_relation) -%}
    select order_id from {{ staging_relation }}
    where {{ ingested_since_last_build('_ingested_at', 'last_ingested_at') }}
    union
    select substring(kept.order_key, {{ channel | length + 2 }}) as order_id
    from {{ this }} as kept
    inner join (
        {{ newest_ingestion_by_day([channel, order_line_entities()[channel]]) }}
    ) as days
        on days._dt = kept.last_delivered_dt
    where kept.channel = '{{ channel }}' and kept.last_ingested_at < days.newest_ingested_at
{%- endmacro %}


{% macro delete_order_lines_no_longer_delivered() -%}
    {%- if is_incremental() -%}
    delete from {{ this }} as kept
    where
    {%- for channel, entity in order_line_entities().items() %}
        (kept.channel = '{{ channel }}' and kept.last_ingested_at < (
            select days.newest_ingested_at
            from ({{ newest_ingestion_by_day([channel, entity]) }}) as days
            where days._dt = kept.last_delivered_dt
        )){% if not loop.last %} or{% endif %}
    {%- endfor %}
    {%- endif -%}
{%- endmacro %}
