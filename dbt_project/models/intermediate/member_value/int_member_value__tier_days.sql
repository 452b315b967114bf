-- The tier a member holds on every day their tier could change. Rules (dbt vars):
--   * upgrades take effect the day the growth value reaches the threshold;
--   * downgrades happen on the review day of each month (tier_review_day_of_month), when the
--     tier held becomes the tier the growth value qualifies for;
--   * refund_reverses_upgrade (default true): on a day with a refund or return deduction, a
--     member whose growth value qualified the day before for the tier held (no downgrade
--     waiting for the review day) and whom the day's refunds take below its threshold drops at
--     once to the tier they are left with (growth balance refund_tier_rank: before the points
--     expiring that day leave; that share of the fall waits for the review day like any
--     expiry). A member already waiting for the review day keeps the tier held until then.
-- docs/member-value.md states the rules with worked examples.
--
-- Without refunds, the tier held between two review days is the highest tier qualified for
-- since the last review day: a running max. The refund rule makes that recursive (whether a
-- refund drops the member depends on whether an earlier one did), but per threshold it is
-- not: for a tier rank k >= 2, "held >= k" after day t holds iff the qualified tier reached k
-- on some day since the member's last *cut* for k, a cut being a review day or a day a refund
-- took the qualified tier from >= k the day before to < k. The tier held is the highest k for
-- which it holds. A refund while a downgrade waits (held H above yesterday's qualified tier)
-- cuts only thresholds at or below yesterday's qualified tier, never H, so the member keeps H;
-- otherwise it cuts every threshold above the tier it leaves. This equals the day-by-day rule
-- (tests/integration/test_tier_rules_reference.py walks it on random members), with plain
-- running maxima over one ordering instead of a recursive walk.
--
-- Only days where the qualified tier changes, plus the review days that can lower the tier
-- held (below), are needed; the tier is constant in between. A refund that lowers the tier
-- lowers the qualified tier, so its day is one of them.
--
-- Projected like int_member_value__growth_balance (readers cut it at the as-of day).

{% set review_day = var('tier_review_day_of_month') | int %}
{% if review_day < 1 or review_day > 28 %}
    {{ exceptions.raise_compiler_error('var tier_review_day_of_month must be 1..28 (every month has it), got ' ~ review_day) }}
{% endif %}
{% set refund_reverses_upgrade = var('refund_reverses_upgrade', true) %}
{% if refund_reverses_upgrade is not boolean %}
    {{ exceptions.raise_compiler_error('var refund_reverses_upgrade must be true or false, got ' ~ refund_reverses_upgrade) }}
{% endif %}
{% set tier_ranks = range(2, (var('tiers') | length) + 1) | list %}

with

balance as (
    select
        member_id,
        change_date,
        qualified_tier_rank,
        refund_tier_rank,
        lag(qualified_tier_rank) over (
            partition by member_id order by change_date
        ) as previous_rank
    from {{ ref('int_member_value__growth_balance') }}
),

-- refund_fall_from / refund_fall_to: on a day whose refunds lower the tier qualified for, the
-- tier qualified for the day before and the tier the refunds leave (cuts for the ranks between)
qualified_changes as (
    select
        member_id,
        change_date,
        qualified_tier_rank,
        case when refund_tier_rank < previous_rank then previous_rank end as refund_fall_from,
        case when refund_tier_rank < previous_rank then refund_tier_rank end as refund_fall_to
    from balance
    where previous_rank is null or previous_rank <> qualified_tier_rank
),

-- The review days that can change the tier held: the first one on or after each day the
-- qualified tier falls. Any other review day finds held = qualified already (since the last
-- review that counted or the last refund that lowered the tier held, there were only upgrades,
-- and the running max of rising ranks is the current one), so leaving it out changes no day's
-- held tier. One row per fall instead of one per month while above the lowest tier (9.7 M →
-- 2.7 M rows at a million members).
falls as (
    select
        member_id,
        change_date,
        cast({{ dbt.dateadd('day', review_day - 1, dbt.date_trunc('month', 'change_date')) }} as date)
            as review_in_month
    from balance
    where previous_rank > qualified_tier_rank
),

member_reviews as (
    select
        member_id,
        case
            when review_in_month >= change_date then review_in_month
            else cast({{ dbt.dateadd('month', 1, 'review_in_month') }} as date)
        end as change_date
    from falls
),

points as (
    select
        member_id,
        change_date,
        max(qualified_tier_rank) as qualified_tier_rank,
        max(is_review_day) as is_review_day,
        max(refund_fall_from) as refund_fall_from,
        max(refund_fall_to) as refund_fall_to
    from (
        select member_id, change_date, qualified_tier_rank, 0 as is_review_day,
               refund_fall_from, refund_fall_to
        from qualified_changes
        union all
        select member_id, change_date, cast(null as integer), 1,
               cast(null as integer), cast(null as integer)
        from member_reviews
    ) as unioned
    group by member_id, change_date
),

-- A review day carries the qualified tier of the last change before it (forward fill); the
-- last cut for each tier rank k (a review day, or a refund falling from >= k to < k) up to
-- each day. One pass: the windows share partition and order, so the rows are sorted once.
cuts as (
    select
        member_id,
        change_date,
        is_review_day,
        {{ last_value_ignore_nulls('qualified_tier_rank') }} over (
            partition by member_id order by change_date
            rows between unbounded preceding and current row
        ) as qualified_tier_rank,
        {%- if refund_reverses_upgrade %}
        {%- for k in tier_ranks %}
        max(case
                when is_review_day = 1 or (refund_fall_to < {{ k }} and refund_fall_from >= {{ k }})
                    then change_date
            end) over (
            partition by member_id order by change_date
            rows between unbounded preceding and current row
        ) as last_cut_{{ k }}{{ ',' if not loop.last }}
        {%- endfor %}
        {%- else %}
        max(case when is_review_day = 1 then change_date end) over (
            partition by member_id order by change_date
            rows between unbounded preceding and current row
        ) as last_review
        {%- endif %}
    from points
),

-- the last day up to each day whose qualified tier reached rank k
reached as (
    select
        cuts.*,
        {%- for k in tier_ranks %}
        max(case when qualified_tier_rank >= {{ k }} then change_date end) over (
            partition by member_id order by change_date
            rows between unbounded preceding and current row
        ) as last_reach_{{ k }}{{ ',' if not loop.last }}
        {%- endfor %}
    from cuts
),

-- held >= k when rank k was reached on or after the last cut for k (no cut yet: reached at all)
final as (
    select
        reached.member_id,
        reached.change_date,
        reached.qualified_tier_rank,
        case
            {%- for k in tier_ranks | reverse %}
            {%- set last_cut = 'last_cut_' ~ k if refund_reverses_upgrade else 'last_review' %}
            when reached.last_reach_{{ k }} >= coalesce(reached.{{ last_cut }}, reached.last_reach_{{ k }})
                then {{ k }}
            {%- endfor %}
            else 1
        end as held_tier_rank,
        case when reached.is_review_day = 1 then true else false end as is_review_day
    from reached
)

select * from final
