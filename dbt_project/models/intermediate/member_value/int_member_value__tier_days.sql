-- The tier a member holds on every day their tier could change. Rules (dbt vars):
--   * upgrades take effect the day the growth value reaches the threshold;
--   * downgrades only happen on the review day of each month (tier_review_day_of_month),
--     when the tier held becomes the tier the growth value qualifies for.
-- Between two review days the tier held is therefore the highest tier qualified for since the
-- last review day: a running max over "review periods". Only days where the qualified tier
-- changes, plus review days while a member is above the lowest tier, are needed; the tier is
-- constant in between.
--
-- Projected like int_member_value__growth_balance (readers cut it at the as-of day):
-- review days run until a month after the member's last projected change, and a night
-- recomputes only the members whose growth-balance rows changed (their fingerprint). Review
-- days after the as-of day's cut never change the tier held up to it: once a review day has
-- followed the last change, every later one finds held = qualified.

{{ config(
    materialized=incremental_materialization(),
    incremental_strategy='delete+insert',
    unique_key='member_id',
    on_schema_change='sync_all_columns',
) }}

{% set review_day = var('tier_review_day_of_month') | int %}
{% if review_day < 1 or review_day > 28 %}
    {{ exceptions.raise_compiler_error('var tier_review_day_of_month must be 1..28 (every month has it), got ' ~ review_day) }}
{% endif %}

with

fingerprints as (
    {{ fingerprints_downstream_of(ref('int_member_value__growth_balance'), increment_signature(review_day | string)) }}
),

{% if is_incremental() %}
recomputed as (
    {{ members_with_new_fingerprint('fingerprints') }}
),
{% endif %}

balance as (
    select
        member_id,
        change_date,
        qualified_tier_rank,
        lag(qualified_tier_rank) over (
            partition by member_id order by change_date
        ) as previous_rank
    from {{ ref('int_member_value__growth_balance') }}
    {% if is_incremental() %}
    where member_id in (select member_id from recomputed)
    {% endif %}
),

qualified_changes as (
    select member_id, change_date, qualified_tier_rank
    from balance
    where previous_rank is null or previous_rank <> qualified_tier_rank
),

-- members above the lowest tier at some point: review days from the first day above it
-- until the first review day after their last change (then everything is settled)
above_lowest as (
    select
        member_id,
        min(case when qualified_tier_rank > 1 then change_date end) as first_above_lowest,
        max(change_date) as last_change
    from qualified_changes
    group by member_id
    having max(qualified_tier_rank) > 1
),

review_days as (
    select
        cast({{ dbt.dateadd('day', review_day - 1, 'cast(date_month as date)') }} as date)
            as review_date
    from (
        {{ dbt.date_spine(
            'month',
            "(select " ~ dbt.date_trunc('month', 'min(change_date)') ~ " from " ~ ref('int_member_value__growth_balance') ~ ")",
            dbt.dateadd('month', 2, "(select max(change_date) from " ~ ref('int_member_value__growth_balance') ~ ")")
        ) }}
    ) as spine
),

member_reviews as (
    select above_lowest.member_id, review_days.review_date as change_date
    from above_lowest
    inner join review_days
        on review_days.review_date > above_lowest.first_above_lowest
        and review_days.review_date <= {{ dbt.dateadd('month', 1, 'above_lowest.last_change') }}
),

points as (
    select member_id, change_date, max(qualified_tier_rank) as qualified_tier_rank,
           max(is_review_day) as is_review_day
    from (
        select member_id, change_date, qualified_tier_rank, 0 as is_review_day
        from qualified_changes
        union all
        select member_id, change_date, cast(null as integer), 1
        from member_reviews
    ) as unioned
    group by member_id, change_date
),

-- A review day carries the qualified tier of the last change before it (forward fill) and
-- starts a new review period. One pass: both windows share partition and order, so the rows
-- are sorted once (the former count-then-max fill took two more sorts: 6.5 → 4.2 s at 1M).
periods as (
    select
        member_id,
        change_date,
        is_review_day,
        {{ last_value_ignore_nulls('qualified_tier_rank') }} over (
            partition by member_id order by change_date
            rows between unbounded preceding and current row
        ) as qualified_tier_rank,
        sum(is_review_day) over (
            partition by member_id order by change_date
            rows between unbounded preceding and current row
        ) as review_period
    from points
),

final as (
    select
        periods.member_id,
        periods.change_date,
        periods.qualified_tier_rank,
        max(periods.qualified_tier_rank) over (
            partition by periods.member_id, periods.review_period order by periods.change_date
            rows between unbounded preceding and current row
        ) as held_tier_rank,
        case when periods.is_review_day = 1 then true else false end as is_review_day,
        fingerprints.inputs_fingerprint
    from periods
    inner join fingerprints on periods.member_id = fingerprints.member_id
)

select * from final
