-- Each member's growth value after every day it changes: points enter the window on the day
-- they are earned (or deducted) and leave it on expires_on (var growth_window), so the value
-- is a running sum of signed deltas. Every member also gets a zero delta on the day they were
-- first seen, so members who never bought still start a (regular) tier spell.
--
-- On a day with a refund or return deduction (ledger `order_refund`), refund_tier_rank is the
-- tier the value qualifies for before the points expiring that day leave: what the day's
-- refunds (and purchases) alone leave the member, for the refund rule of
-- int_member_value__tier_days (var refund_reverses_upgrade; an expiry's share of the fall waits
-- for the review day). Null on other days. It does not depend on the var, so switching the
-- rule recomputes the tier days, not this model.
--
-- Projected: points leave on expires_on even when that day is after the as-of day, so a
-- member's rows depend on their ledger rows and first-seen day only. Readers cut at the
-- as-of day (change_date <= as_of_date); the rows up to it are those of a history computed
-- up to it, since a running sum only looks back.
--
-- A table rebuilt every night. It was incremental by member (per-member input fingerprints
-- and delete post-hooks along the tier chain) until issue 21: that saved ≈ 3 s of a night at
-- a million members (tier chain 8.6 s against 11.6 s, docs/operations.md), not worth the
-- machinery.

with

ledger as (
    select member_id, ledger_event_id, event_type, event_date, expires_on, points
    from {{ ref('member_growth_ledger') }}
    -- a deduction dated after its points expired changes nothing
    where event_date < expires_on
),

members as (
    {{ members_known_as_of() }}
),

-- expiring: the points leaving the window that day (a row's points on its expires_on);
-- is_refund: 1 for a refund or return deduction entering that day
deltas as (
    select
        member_id,
        event_date as change_date,
        points as delta,
        cast(0 as bigint) as expiring,
        case when event_type = 'order_refund' then 1 else 0 end as is_refund
    from ledger
    union all
    select member_id, expires_on, -points, points, 0
    from ledger
    union all
    select member_id, first_seen_date, cast(0 as bigint), cast(0 as bigint), 0
    from members
),

daily as (
    select
        member_id,
        change_date,
        sum(delta) as delta,
        sum(expiring) as expiring,
        max(is_refund) as has_refund
    from deltas
    group by member_id, change_date
),

balance as (
    select
        member_id,
        change_date,
        expiring,
        has_refund,
        cast(sum(delta) over (
            partition by member_id order by change_date
            rows between unbounded preceding and current row
        ) as bigint) as growth_value
    from daily
),

final as (
    select
        balance.member_id,
        balance.change_date,
        balance.growth_value,
        {{ qualified_tier_rank('balance.growth_value') }} as qualified_tier_rank,
        case
            when balance.has_refund = 1
                then {{ qualified_tier_rank('balance.growth_value + balance.expiring') }}
        end as refund_tier_rank
    from balance
)

select * from final
