-- Orders for BI: fct_orders without the channel's order number (which a channel back office
-- resolves to a buyer). order_hk is a stable hash of order_key for counting and joining;
-- order_month (the month ordered) is the dashboards' time axis, channel_name the Chinese label.
select
    {{ dbt.hash('order_key') }} as order_hk,
    channel,
    {{ bi_label('channel', 'channel') }} as channel_name,
    member_id,
    store_id,
    ordered_at,
    cast({{ dbt.date_trunc('month', 'ordered_at') }} as date) as order_month,
    paid_at,
    status,
    gross_amount,
    discount_amount,
    paid_amount,
    refund_amount,
    net_amount
from {{ ref('fct_orders') }}
