-- One row per tier spell: the days a member held one tier, [valid_from, valid_to). The
-- current spell has valid_to null. The first spell starts the day the member was first seen
-- (regular unless that day's purchases already reach a higher tier).
--
-- The projected spells (int_member_value__tier_spells) cut at the as-of day: spells that
-- start after it are not known yet, and a spell whose end is after it is the current one.

with

as_of as (
    {{ member_value_as_of() }}
),

ladder as (
    {{ tier_ladder() }}
),

final as (
    select
        {{ dbt.concat(['spells.member_id', "':'", 'cast(spells.spell_number as ' ~ dbt.type_string() ~ ')']) }}
            as tier_spell_id,
        spells.member_id,
        spells.spell_number,
        ladder.tier_code,
        ladder.tier_name,
        spells.tier_rank,
        spells.valid_from,
        case when spells.valid_to <= as_of.as_of_date then spells.valid_to end as valid_to,
        spells.change_reason,
        case
            when spells.valid_to is null or spells.valid_to > as_of.as_of_date then true
            else false
        end as is_current,
        as_of.as_of_date
    from {{ ref('int_member_value__tier_spells') }} as spells
    inner join ladder on spells.tier_rank = ladder.tier_rank
    cross join as_of
    where spells.valid_from <= as_of.as_of_date
)

select * from final
