-- Every member's tier on the as-of day: the growth value counted in the window
-- (var growth_window), the tier held (member_tier_history's current spell: upgrades at once,
-- downgrades on the monthly review day), the tier the value alone qualifies for, and what is
-- needed for the next tier.

with

as_of as (
    {{ member_value_as_of() }}
),

latest_balance as (
    select member_id, growth_value, qualified_tier_rank
    from (
        select
            member_id,
            growth_value,
            qualified_tier_rank,
            row_number() over (partition by member_id order by change_date desc) as recency_rank
        from {{ ref('int_member_value__growth_balance') }}
        -- the balance rows are projected past the as-of day (points due to expire)
        where change_date <= (select as_of_date from as_of)
    ) as ranked
    where recency_rank = 1
),

current_spell as (
    select member_id, tier_rank, valid_from
    from {{ ref('member_tier_history') }}
    where is_current
),

expiring as (
    select ledger.member_id, sum(ledger.points) as points_expiring_30d
    from {{ ref('member_growth_ledger') }} as ledger
    cross join as_of
    where ledger.event_date < ledger.expires_on
        and ledger.expires_on > as_of.as_of_date
        and ledger.expires_on <= {{ dbt.dateadd('day', var('points_expiring_window_days'), 'as_of.as_of_date') }}
    group by ledger.member_id
),

ladder as (
    {{ tier_ladder() }}
),

final as (
    select
        current_spell.member_id,
        as_of.as_of_date,
        latest_balance.growth_value,
        held.tier_code,
        held.tier_name,
        held.tier_rank,
        current_spell.valid_from as tier_since,
        qualified.tier_code as qualified_tier_code,
        next_tier.tier_code as next_tier_code,
        case
            when next_tier.min_growth_value is not null
                then next_tier.min_growth_value - latest_balance.growth_value
        end as points_to_next_tier,
        cast(coalesce(expiring.points_expiring_30d, 0) as bigint) as points_expiring_30d
    from current_spell
    cross join as_of
    inner join latest_balance on current_spell.member_id = latest_balance.member_id
    inner join ladder as held on current_spell.tier_rank = held.tier_rank
    inner join ladder as qualified on latest_balance.qualified_tier_rank = qualified.tier_rank
    left join ladder as next_tier on next_tier.tier_rank = held.tier_rank + 1
    left join expiring on current_spell.member_id = expiring.member_id
)

select * from final
