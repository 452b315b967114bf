-- The GMV driver tree for BI (marts.gmv_drivers): per month and channel (all = every channel,
-- 全部渠道) GMV = members × retention × conversion × repurchase × AOV, and the month-over-month
-- change split across the factors. is_headline_month marks the month dashboards headline: the
-- latest complete month, or the open month so far before any month has closed.

with

drivers as (
    select * from {{ ref('gmv_drivers') }}
),

headline as (
    select coalesce(max(case when is_complete_month then month end), max(month)) as month
    from drivers
)

select
    drivers.month,
    drivers.channel,
    {{ bi_label('drivers.channel', 'channel') }} as channel_name,
    drivers.gmv,
    drivers.members,
    drivers.active_members,
    drivers.buyers,
    drivers.orders,
    drivers.retention_rate,
    drivers.conversion_rate,
    drivers.repurchase_count,
    drivers.average_order_value,
    drivers.gmv_change_mom,
    drivers.members_contribution_mom,
    drivers.retention_rate_contribution_mom,
    drivers.conversion_rate_contribution_mom,
    drivers.repurchase_count_contribution_mom,
    drivers.average_order_value_contribution_mom,
    drivers.is_complete_month,
    drivers.month = headline.month as is_headline_month
from drivers
cross join headline
