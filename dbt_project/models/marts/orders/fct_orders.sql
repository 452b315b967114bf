-- One row per order across POS, Tmall and the mini-program, amounts in yuan, with the buyer's
-- member_id (null for guests; Tmall buyers are members only through their ouid).
--
-- Incremental (macros/incremental.sql): tonight's rows are compared with the stored ones and
-- only the orders that differ are rewritten — new orders, refunds and status changes, corrected
-- re-deliveries, buyers that OneID moved to another member. The post-hook drops orders that no
-- longer exist upstream (a corrected re-delivery without them; the post_hook below).
-- A full refresh gives the same rows.

{{ config(
    materialized=incremental_materialization(),
    incremental_strategy='delete+insert',
    unique_key='order_key',
    on_schema_change='fail',
    post_hook=[
        "{% if is_incremental() %} delete from {{ this }} where order_key not in (select order_key from {{ ref('int_orders__unioned') }}) {% endif %}",
    ],
) }}

with

orders as (
    select * from {{ ref('int_orders__unioned') }}
),

assignments as (
    select id_type, id_value, member_id from {{ source('identity', 'member_id_assignments') }}
),

resolved as (
    select
        orders.*,
        assignments.member_id
    from orders
    left join assignments
        on orders.buyer_id_type = assignments.id_type
        and orders.buyer_id_value = assignments.id_value
),

final as (
    select
        resolved.order_key,
        resolved.channel,
        resolved.source_order_id,
        resolved.member_id,
        resolved.store_id,
        resolved.ordered_at,
        resolved.paid_at,
        resolved.order_status as status,
        resolved.gross_amount,
        resolved.discount_amount,
        resolved.paid_amount,
        resolved.refund_amount,
        resolved.net_amount,
        resolved.refunded_at,
        resolved.last_delivered_dt
    from resolved
)

{% if is_incremental() %}

select * from final
where order_key in (
    select order_key from (
        select * from final
        except
        select * from {{ this }}
    ) as new_or_changed
)

{% else %}

select * from final

{% endif %}
