-- Lifecycle and AIPL stage per member on the as-of day for BI (marts.member_lifecycle): the
-- Chinese stage names (引入期, 成长期, 成熟期, 衰退期, 流失 from the mart; AIPL 认知, 兴趣, 购买,
-- 忠诚), each stage's funnel position for sorting, whether the member has bought, and whether
-- the member is new (first seen in the 30 days up to the as-of day). No personal data.

with

lifecycle as (
    select * from {{ ref('member_lifecycle') }}
),

members as (
    select member_id, cast(first_seen_at as date) as first_seen_date
    from {{ ref('dim_member') }}
)

select
    lifecycle.member_id,
    lifecycle.as_of_date,
    lifecycle.lifecycle_stage,
    lifecycle.lifecycle_stage_name,
    {{ bi_order_of('lifecycle.lifecycle_stage', 'lifecycle_stage') }} as lifecycle_stage_order,
    lifecycle.aipl_stage,
    {{ bi_label('lifecycle.aipl_stage', 'aipl_stage') }} as aipl_stage_name,
    {{ bi_order_of('lifecycle.aipl_stage', 'aipl_stage') }} as aipl_stage_order,
    lifecycle.orders_total > 0 as is_buyer,
    lifecycle.orders_total,
    lifecycle.orders_365d,
    lifecycle.first_purchase_date,
    lifecycle.last_purchase_date,
    lifecycle.days_since_last_purchase,
    members.first_seen_date,
    coalesce(
        members.first_seen_date <= lifecycle.as_of_date
        and {{ dbt.datediff('members.first_seen_date', 'lifecycle.as_of_date', 'day') }} < 30,
        false
    ) as is_new_30d
from lifecycle
left join members
    on members.member_id = lifecycle.member_id
