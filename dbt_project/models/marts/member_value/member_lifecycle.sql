-- Each member's lifecycle stage on the as-of day (rules from var lifecycle, first match wins):
--   introduction 引入期  known, never purchased
--   churned      流失    no purchase for churn_days
--   decline      衰退期  >= decline_min_orders_365d purchases in the last 365 days, and the days
--                        since the last purchase exceed the member's mean gap × multiplier
--   maturity     成熟期  >= maturity_min_orders_365d purchases in the last 365 days
--   growth       成长期  bought, not (yet) a habit
-- and the AIPL stage (var aipl): loyalty (>= loyalty_min_orders_365d purchases in the last 365
-- days), purchase (>= 1), interest (a mini-program event or WeCom interaction in the last
-- interest_days), awareness (known, nothing of the above).

{% set lc = var('lifecycle') %}
{% set aipl = var('aipl') %}

with

metrics as (
    select * from {{ ref('int_member_value__member_metrics') }}
),

staged as (
    select
        metrics.*,
        case
            when orders_total = 0 then 'introduction'
            when days_since_last_purchase >= {{ lc.churn_days }} then 'churned'
            when orders_365d >= {{ lc.decline_min_orders_365d }}
                and days_since_last_purchase > mean_purchase_gap_days * {{ lc.decline_gap_multiplier }}
                then 'decline'
            when orders_365d >= {{ lc.maturity_min_orders_365d }} then 'maturity'
            else 'growth'
        end as lifecycle_stage,
        case
            when orders_365d >= {{ aipl.loyalty_min_orders_365d }} then 'loyalty'
            when orders_365d >= 1 then 'purchase'
            when has_recent_interest then 'interest'
            else 'awareness'
        end as aipl_stage
    from metrics
),

final as (
    select
        member_id,
        as_of_date,
        lifecycle_stage,
        case lifecycle_stage
            when 'introduction' then '引入期'
            when 'growth' then '成长期'
            when 'maturity' then '成熟期'
            when 'decline' then '衰退期'
            when 'churned' then '流失'
        end as lifecycle_stage_name,
        aipl_stage,
        orders_total,
        orders_365d,
        first_purchase_date,
        last_purchase_date,
        days_since_last_purchase,
        cast(mean_purchase_gap_days as double) as mean_purchase_gap_days
    from staged
)

select * from final
