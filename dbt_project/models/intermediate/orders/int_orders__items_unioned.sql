-- Order lines of POS, Tmall and the mini-program in one shape (yuan), keyed like
-- int_orders__unioned, with the product category from the product master.
--
-- Incremental (macros/incremental.sql, order_ids_to_rewrite): an order's lines are replaced
-- as a whole when rows of it were ingested since the last build or its kept lines came from a
-- day re-ingested since (staging keeps only an order's newest delivery of lines, so the batch
-- carries every line the order now has); orders left without lines are deleted (post-hook).

{{ config(
    materialized=incremental_materialization(),
    incremental_strategy='delete+insert',
    unique_key='order_key',
    on_schema_change='fail',
    post_hook=[
        '{{ delete_order_lines_no_longer_delivered() }}',
    ],
) }}
-- depends_on: {{ source('raw', '_load_log') }}

with

pos as (
    select 'pos' as channel, order_id, sku, quantity, line_amount, _dt, _ingested_at
    from {{ ref('stg_pos__order_items') }}
    {% if is_incremental() %}
    where order_id in (
        {{ order_ids_to_rewrite('pos', ref('stg_pos__order_items')) }}
    )
    {% endif %}
),

tmall as (
    select 'tmall' as channel, order_id, sku, quantity, line_amount, _dt, _ingested_at
    from {{ ref('stg_tmall__order_items') }}
    {% if is_incremental() %}
    where order_id in (
        {{ order_ids_to_rewrite('tmall', ref('stg_tmall__order_items')) }}
    )
    {% endif %}
),

miniprogram as (
    select 'miniprogram' as channel, order_id, sku, quantity, line_amount, _dt, _ingested_at
    from {{ ref('stg_miniprogram__order_items') }}
    {% if is_incremental() %}
    where order_id in (
        {{ order_ids_to_rewrite('miniprogram', ref('stg_miniprogram__order_items')) }}
    )
    {% endif %}
),

unioned as (
    select * from pos
    union all
    select * from tmall
    union all
    select * from miniprogram
),

products as (
    select sku, category from {{ ref('stg_reference__products') }}
),

final as (
    select
        {{ dbt.concat(['unioned.channel', "':'", 'unioned.order_id']) }} as order_key,
        unioned.channel,
        unioned.sku,
        coalesce(products.category, 'unknown') as category,
        unioned.quantity,
        unioned.line_amount,
        unioned._dt as last_delivered_dt,
        unioned._ingested_at as last_ingested_at
    from unioned
    left join products on unioned.sku = products.sku
)

select * from final
