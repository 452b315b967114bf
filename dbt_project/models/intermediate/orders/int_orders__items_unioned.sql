-- Order lines of POS, Tmall and the mini-program in one shape (yuan), keyed like
-- int_orders__unioned, with the product category from the product master.

with

pos as (
    select 'pos' as channel, order_id, sku, quantity, line_amount
    from {{ ref('stg_pos__order_items') }}
),

tmall as (
    select 'tmall' as channel, order_id, sku, quantity, line_amount
    from {{ ref('stg_tmall__order_items') }}
),

miniprogram as (
    select 'miniprogram' as channel, order_id, sku, quantity, line_amount
    from {{ ref('stg_miniprogram__order_items') }}
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
        unioned.line_amount
    from unioned
    left join products on unioned.sku = products.sku
)

select * from final
