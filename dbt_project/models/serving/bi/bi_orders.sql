-- Orders for BI: fct_orders without the channel's order number (which a channel back office
-- resolves to a buyer). order_hk is a stable hash of order_key for counting and joining.
select
    {{ dbt.hash('order_key') }} as order_hk,
    channel,
    member_id,
    store_id,
    ordered_at,
    paid_at,
    status,
    gross_amount,
    discount_amount,
    paid_amount,
    refund_amount,
    net_amount
from {{ published('fct_orders') }}
