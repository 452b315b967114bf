-- One row per order of fct_orders with its cost of goods and gross profit (yuan). Cost of
-- goods = Σ quantity × unit_cost over the order's items (stg_reference__products), netted for
-- refunds like revenue: scaled by net_amount / paid_amount when something was paid, so a full
-- refund leaves no cost and a partial refund keeps the unrefunded share. Orders without a
-- payment (pending, closed, POS returns without their sale) carry no cost. A SKU without a
-- product cost counts 0 and flags the order (has_uncosted_items).

with

orders as (
    select order_key, channel, source_order_id, member_id, ordered_at, paid_amount, net_amount
    from {{ ref('fct_orders') }}
),

items as (
    select 'pos' as channel, order_id, sku, quantity
    from {{ ref('stg_pos__order_items') }}
    union all
    select 'tmall' as channel, order_id, sku, quantity
    from {{ ref('stg_tmall__order_items') }}
    union all
    select 'miniprogram' as channel, order_id, sku, quantity
    from {{ ref('stg_miniprogram__order_items') }}
),

products as (
    select sku, unit_cost from {{ ref('stg_reference__products') }}
),

order_costs as (
    select
        items.channel,
        items.order_id,
        count(*) as item_lines,
        sum(case when products.unit_cost is null then 1 else 0 end) as uncosted_item_lines,
        cast(sum(items.quantity * coalesce(products.unit_cost, 0)) as {{ type_amount() }})
            as item_cost
    from items
    left join products
        on items.sku = products.sku
    group by items.channel, items.order_id
),

final as (
    select
        orders.order_key,
        orders.channel,
        orders.member_id,
        orders.ordered_at,
        orders.paid_amount,
        orders.net_amount as net_revenue,
        coalesce(order_costs.item_cost, cast(0 as {{ type_amount() }})) as gross_item_cost,
        cast(
            case
                when orders.paid_amount > 0 and order_costs.item_cost is not null
                    then order_costs.item_cost * orders.net_amount / orders.paid_amount
                else 0
            end as {{ type_amount() }}
        ) as cost_of_goods,
        coalesce(order_costs.item_lines, 0) as item_lines,
        case when coalesce(order_costs.uncosted_item_lines, 0) > 0 then true else false end
            as has_uncosted_items
    from orders
    left join order_costs
        on orders.channel = order_costs.channel
        and orders.source_order_id = order_costs.order_id
)

select
    order_key,
    channel,
    member_id,
    ordered_at,
    paid_amount,
    net_revenue,
    gross_item_cost,
    cost_of_goods,
    cast(net_revenue - cost_of_goods as {{ type_amount() }}) as gross_profit,
    item_lines,
    has_uncosted_items
from final
