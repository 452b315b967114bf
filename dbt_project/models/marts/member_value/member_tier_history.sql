-- One row per tier spell: the days a member held one tier, [valid_from, valid_to). The
-- current spell has valid_to null. The first spell starts the day the member was first seen
-- (regular unless that day's purchases already reach a higher tier).

with

days as (
    select member_id, change_date, held_tier_rank,
           lag(held_tier_rank) over (partition by member_id order by change_date) as previous_rank
    from {{ ref('int_member_value__tier_days') }}
),

spell_starts as (
    select member_id, change_date, held_tier_rank, previous_rank
    from days
    where previous_rank is null or previous_rank <> held_tier_rank
),

spells as (
    select
        member_id,
        held_tier_rank,
        previous_rank,
        change_date as valid_from,
        lead(change_date) over (partition by member_id order by change_date) as valid_to,
        row_number() over (partition by member_id order by change_date) as spell_number
    from spell_starts
),

ladder as (
    {{ tier_ladder() }}
),

as_of as (
    {{ member_value_as_of() }}
),

final as (
    select
        {{ dbt.concat(['spells.member_id', "':'", 'cast(spells.spell_number as ' ~ dbt.type_string() ~ ')']) }}
            as tier_spell_id,
        spells.member_id,
        cast(spells.spell_number as integer) as spell_number,
        ladder.tier_code,
        ladder.tier_name,
        cast(spells.held_tier_rank as integer) as tier_rank,
        spells.valid_from,
        spells.valid_to,
        case
            when spells.previous_rank is null then 'enrolment'
            when spells.held_tier_rank > spells.previous_rank then 'upgrade'
            else 'downgrade'
        end as change_reason,
        case when spells.valid_to is null then true else false end as is_current,
        as_of.as_of_date
    from spells
    inner join ladder on spells.held_tier_rank = ladder.tier_rank
    cross join as_of
)

select * from final
