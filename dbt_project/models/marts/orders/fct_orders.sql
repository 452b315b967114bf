-- One row per order across POS, Tmall and the mini-program, amounts in yuan, with the buyer's
-- member_id (null for guests; Tmall buyers are members only through their ouid).

with

orders as (
    select * from {{ ref('int_orders__unioned') }}
),

assignments as (
    select id_type, id_value, member_id from {{ source('identity', 'member_id_assignments') }}
),

final as (
    select
        orders.order_key,
        orders.channel,
        orders.source_order_id,
        assignments.member_id,
        orders.store_id,
        orders.ordered_at,
        orders.paid_at,
        orders.order_status as status,
        orders.gross_amount,
        orders.discount_amount,
        orders.paid_amount,
        orders.refund_amount,
        orders.net_amount,
        orders.refunded_at
    from orders
    left join assignments
        on orders.buyer_id_type = assignments.id_type
        and orders.buyer_id_value = assignments.id_value
)

select * from final
