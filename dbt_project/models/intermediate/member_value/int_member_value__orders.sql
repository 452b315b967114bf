-- Members' purchases up to the as-of day: orders with a member and paid_amount > 0, paid on
-- or before as_of_date. A refund dated after as_of_date is not yet known on that day, so the
-- `*_as_of` amounts ignore it (a back-dated run reproduces the past). POS returns whose sale
-- was never loaded (negative orphan rows) are not purchases and are left out.

{{ config(materialized='table') }}

with

as_of as (
    {{ member_value_as_of() }}
),

orders as (
    select
        order_key,
        member_id,
        channel,
        ordered_at,
        coalesce(paid_at, ordered_at) as paid_at,
        refunded_at,
        gross_amount,
        discount_amount,
        paid_amount,
        refund_amount
    from {{ ref('fct_orders') }}
    where member_id is not null and paid_amount > 0
),

final as (
    select
        orders.order_key,
        orders.member_id,
        orders.channel,
        orders.ordered_at,
        orders.paid_at,
        cast(orders.paid_at as date) as paid_date,
        case
            when cast(orders.refunded_at as date) <= as_of.as_of_date then orders.refunded_at
        end as refunded_at,
        orders.gross_amount,
        orders.discount_amount,
        orders.paid_amount,
        cast(
            case
                when cast(orders.refunded_at as date) <= as_of.as_of_date
                    then orders.refund_amount
                else 0
            end as {{ type_amount() }}
        ) as refund_amount_as_of,
        cast(
            case
                when cast(orders.refunded_at as date) <= as_of.as_of_date
                    then orders.paid_amount - orders.refund_amount
                else orders.paid_amount
            end as {{ type_amount() }}
        ) as net_amount_as_of
    from orders
    cross join as_of
    where cast(orders.paid_at as date) <= as_of.as_of_date
)

select * from final
