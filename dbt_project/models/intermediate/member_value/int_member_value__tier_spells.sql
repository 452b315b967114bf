-- One row per projected tier spell: the days a member holds one tier, [valid_from, valid_to),
-- from int_member_value__tier_days. valid_to is the next spell's start even when that is after
-- the as-of day (a downgrade already due, points already set to expire); member_tier_history
-- cuts the spells at the as-of day.
--
-- change_reason: enrolment (first spell), upgrade, downgrade (on a review day) or
-- refund_downgrade (a fall on any other day: only a refund can do that, var
-- refund_reverses_upgrade; a refund dated on a review day is part of that day's review).

with

days as (
    select
        member_id,
        change_date,
        held_tier_rank,
        is_review_day,
        lag(held_tier_rank) over (partition by member_id order by change_date) as previous_rank
    from {{ ref('int_member_value__tier_days') }}
),

spell_starts as (
    select member_id, change_date, held_tier_rank, previous_rank, is_review_day
    from days
    where previous_rank is null or previous_rank <> held_tier_rank
),

spells as (
    select
        member_id,
        held_tier_rank,
        previous_rank,
        is_review_day,
        change_date as valid_from,
        lead(change_date) over (partition by member_id order by change_date) as valid_to,
        row_number() over (partition by member_id order by change_date) as spell_number
    from spell_starts
),

final as (
    select
        spells.member_id,
        cast(spells.spell_number as integer) as spell_number,
        cast(spells.held_tier_rank as integer) as tier_rank,
        spells.valid_from,
        spells.valid_to,
        case
            when spells.previous_rank is null then 'enrolment'
            when spells.held_tier_rank > spells.previous_rank then 'upgrade'
            when spells.is_review_day then 'downgrade'
            else 'refund_downgrade'
        end as change_reason
    from spells
)

select * from final
