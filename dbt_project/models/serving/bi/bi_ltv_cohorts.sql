-- Acquisition cohorts for BI (aggregates only).
select
    cohort_month,
    acquisition_channel,
    months_since_acquisition,
    cohort_size,
    is_fully_observed,
    members_active,
    retention_rate,
    cumulative_net_revenue,
    cumulative_net_revenue_per_member,
    cumulative_gross_profit_per_member
from {{ published('ltv_cohorts') }}
