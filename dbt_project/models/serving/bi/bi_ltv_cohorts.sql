-- Acquisition cohorts for BI (aggregates only), with the channel's Chinese label (全部渠道 = all).
select
    cohort_month,
    acquisition_channel,
    {{ bi_label('acquisition_channel', 'channel') }} as acquisition_channel_name,
    months_since_acquisition,
    cohort_size,
    is_fully_observed,
    members_active,
    retention_rate,
    cumulative_net_revenue,
    cumulative_net_revenue_per_member,
    cumulative_gross_profit_per_member
from {{ ref('ltv_cohorts') }}
