-- One wide row per member for BI and audiences: static attributes, consumption and
-- behaviour tags, and the value labels (tier, RFM segment of the primary window, lifecycle).
-- No names, birthdays, mobiles or channel ids: the birthday only survives as an age band and
-- a "birthday this month" flag.

{% set windows = var('behaviour_windows') %}
{% if var('rfm_primary_window_days') not in var('rfm_windows_days') %}
    {{ exceptions.raise_compiler_error('var rfm_primary_window_days (' ~ var('rfm_primary_window_days') ~ ') must be one of rfm_windows_days ' ~ var('rfm_windows_days')) }}
{% endif %}

with

as_of as (
    {{ member_value_as_of() }}
),

members as (
    select member_id, acquisition_channel, gender, birthday, city
    from {{ ref('dim_member') }}
),

metrics as (
    select * from {{ ref('int_member_value__member_metrics') }}
),

tiers as (
    select member_id, tier_code, growth_value from {{ ref('member_tiers') }}
),

rfm as (
    select member_id, segment_code, segment_11_code
    from {{ ref('member_rfm') }}
    where window_days = {{ var('rfm_primary_window_days') }}
),

lifecycle as (
    select member_id, lifecycle_stage, aipl_stage from {{ ref('member_lifecycle') }}
),

group_facts as (
    select member_id, groups_count, best_group_layer, zombie_groups_as_core
    from {{ ref('int_groups__member_facts') }}
),

aged as (
    select
        metrics.member_id,
        case
            when members.birthday is null or members.birthday > as_of.as_of_date then null
            else {{ dbt.datediff('members.birthday', 'as_of.as_of_date', 'year') }}
                - case
                    when extract(month from as_of.as_of_date) * 100
                         + extract(day from as_of.as_of_date)
                       < extract(month from members.birthday) * 100
                         + extract(day from members.birthday)
                    then 1 else 0
                  end
        end as age,
        case
            when extract(month from members.birthday)
                = extract(month from as_of.as_of_date) then true
            else false
        end as is_birthday_month
    from metrics
    inner join members on metrics.member_id = members.member_id
    cross join as_of
),

final as (
    select
        metrics.member_id,
        metrics.as_of_date,
        -- static
        members.gender,
        case
            when aged.age is null or aged.age > {{ var('max_plausible_age') }} then 'unknown'
            else {{ band_case('aged.age', var('age_bands')) }}
        end as age_band,
        aged.is_birthday_month,
        coalesce(members.city, 'unknown') as city,
        -- consumption (last 365 days)
        case
            when metrics.orders_365d = 0 then 'no_purchase'
            else {{ band_case(ratio('metrics.net_amount_365d', 'metrics.orders_365d'), var('aov_bands')) }}
        end as aov_band,
        coalesce(metrics.preferred_category, 'unknown') as preferred_category,
        case
            when metrics.gross_amount_365d <= 0 then 'unknown'
            else {{ band_case(ratio('metrics.discount_amount_365d', 'metrics.gross_amount_365d'),
                              var('price_sensitivity_bands')) }}
        end as price_sensitivity,
        coalesce(metrics.preferred_channel, 'none') as preferred_channel,
        -- behaviour
        members.acquisition_channel as source_channel,
        metrics.wecom_friend_status,
        metrics.recent_favourites,
        metrics.recent_cart_adds,
        case
            when metrics.days_since_last_active < {{ windows.active_days }} then true else false
        end as is_recently_active,
        metrics.days_since_last_active,
        metrics.days_since_first_purchase,
        metrics.days_since_last_purchase,
        metrics.orders_365d,
        metrics.net_amount_365d,
        -- value
        tiers.tier_code,
        tiers.growth_value,
        coalesce(rfm.segment_code, 'no_purchase') as rfm_segment_code,
        coalesce(rfm.segment_11_code, 'no_purchase') as rfm_segment_11_code,
        lifecycle.lifecycle_stage,
        lifecycle.aipl_stage,
        -- WeCom customer groups (int_groups__member_facts)
        case when group_facts.member_id is not null then true else false end as in_any_group,
        cast(coalesce(group_facts.groups_count, 0) as integer) as groups_count,
        group_facts.best_group_layer,
        cast(coalesce(group_facts.zombie_groups_as_core, 0) as integer) as zombie_groups_as_core
    from metrics
    inner join members on metrics.member_id = members.member_id
    inner join aged on metrics.member_id = aged.member_id
    left join tiers on metrics.member_id = tiers.member_id
    left join rfm on metrics.member_id = rfm.member_id
    left join lifecycle on metrics.member_id = lifecycle.member_id
    left join group_facts on metrics.member_id = group_facts.member_id
)

select * from final
