-- Each member's growth value after every day it changes: points enter the window on the day
-- they are earned (or deducted) and leave it on expires_on (var growth_window), so the value
-- is a running sum of signed deltas. Every member also gets a zero delta on the day they were
-- first seen, so members who never bought still start a (regular) tier spell.

{{ config(materialized='table') }}

with

as_of as (
    {{ member_value_as_of() }}
),

ledger as (
    select member_id, event_date, expires_on, points
    from {{ ref('member_growth_ledger') }}
    -- a deduction dated after its points expired changes nothing
    where event_date < expires_on
),

deltas as (
    select member_id, event_date as change_date, points as delta
    from ledger
    union all
    select ledger.member_id, ledger.expires_on, -ledger.points
    from ledger
    cross join as_of
    where ledger.expires_on <= as_of.as_of_date
    union all
    select members.member_id, cast(members.first_seen_at as date), cast(0 as bigint)
    from {{ ref('dim_member') }} as members
    cross join as_of
    where cast(members.first_seen_at as date) <= as_of.as_of_date
),

daily as (
    select member_id, change_date, sum(delta) as delta
    from deltas
    group by member_id, change_date
),

balance as (
    select
        member_id,
        change_date,
        cast(sum(delta) over (
            partition by member_id order by change_date
            rows between unbounded preceding and current row
        ) as bigint) as growth_value
    from daily
),

final as (
    select
        member_id,
        change_date,
        growth_value,
        {{ qualified_tier_rank('growth_value') }} as qualified_tier_rank
    from balance
)

select * from final
