-- Member lifetime value for BI (no direct identifiers in the mart; listed explicitly so a new
-- mart column is a deliberate decision here, not a silent exposure).
select
    member_id,
    as_of_date,
    historical_net_revenue,
    historical_gross_profit,
    first_order_at,
    last_order_at,
    orders,
    tenure_days,
    p_alive,
    expected_purchases_90d,
    expected_purchases_180d,
    expected_purchases_365d,
    expected_spend_per_order,
    predicted_clv_365d,
    prediction_source
from {{ ref('member_ltv') }}
