-- WeCom customer group × business day, from the group's creation to the as-of day (or its
-- dismissal): customers in the group at the end of the day, joins and leaves, what the
-- group's members bought that day (any channel, while in the group: paid at or after their
-- join and before their leave), and the purchase conversion of the day's joiners — the share
-- who bought (any channel, in or out of the group) within var groups.conversion_days.short /
-- .long days of joining; null until that window has passed for every joiner of the day.

{% set g = var('groups') %}
{% set short = g.conversion_days.short | int %}
{% set long = g.conversion_days.long | int %}

with

as_of as (
    {{ member_value_as_of() }}
),

groups as (
    select
        chats.chat_id,
        cast(chats.created_at as date) as created_date,
        cast(dismissals.dismissed_at as date) as dismissed_date
    from {{ ref('stg_wecom__group_chats') }} as chats
    left join (
        select chat_id, min(event_at) as dismissed_at
        from {{ ref('stg_wecom__group_events') }}
        where change_type = 'dismiss'
        group by chat_id
    ) as dismissals
        on chats.chat_id = dismissals.chat_id
),

calendar as (
    select {{ dbt.dateadd('day', '-1 * numbers.n', 'as_of.as_of_date') }} as day
    from ({{ integers_below_power_of_ten(4) }}) as numbers
    cross join as_of
),

group_days as (
    select groups.chat_id, cast(calendar.day as date) as day
    from groups
    inner join calendar
        on cast(calendar.day as date) >= groups.created_date
        and (groups.dismissed_date is null or cast(calendar.day as date) <= groups.dismissed_date)
),

spells as (
    select * from {{ ref('member_group_spells') }}
),

purchases as (
    select order_key, member_id, paid_at, paid_date, paid_amount, net_amount_as_of
    from {{ ref('int_member_value__orders') }}
),

-- an order counts for each group its buyer was in when paying (once per group)
member_purchases as (
    select distinct
        spells.chat_id, purchases.order_key, purchases.member_id, purchases.paid_date,
        purchases.paid_amount, purchases.net_amount_as_of
    from purchases
    inner join spells
        on purchases.member_id = spells.member_id
        and purchases.paid_at >= spells.joined_at
        and (spells.left_at is null or purchases.paid_at < spells.left_at)
),

daily_purchases as (
    select
        chat_id,
        paid_date as day,
        count(distinct member_id) as buying_members,
        count(*) as orders,
        sum(paid_amount) as gmv,
        sum(net_amount_as_of) as net_amount
    from member_purchases
    group by chat_id, paid_date
),

joins as (
    select chat_id, cast(joined_at as date) as day, count(*) as joins
    from spells
    group by chat_id, cast(joined_at as date)
),

leaves as (
    select chat_id, cast(left_at as date) as day, count(*) as leaves
    from spells
    where left_at is not null
    group by chat_id, cast(left_at as date)
),

members_at_day_end as (
    select group_days.chat_id, group_days.day, count(distinct spells.member_id) as members
    from group_days
    inner join spells
        on group_days.chat_id = spells.chat_id
        and spells.joined_at < {{ day_timestamp(dbt.dateadd('day', 1, 'group_days.day')) }}
        and (spells.left_at is null
             or spells.left_at >= {{ day_timestamp(dbt.dateadd('day', 1, 'group_days.day')) }})
    group by group_days.chat_id, group_days.day
),

joiner_conversion as (
    select
        joiners.chat_id,
        joiners.day,
        count(distinct joiners.member_id) as joiners,
        count(distinct case when bought.within_days <= {{ short }} then joiners.member_id end)
            as converted_short,
        count(distinct case when bought.within_days <= {{ long }} then joiners.member_id end)
            as converted_long
    from (
        select chat_id, member_id, joined_at, cast(joined_at as date) as day from spells
    ) as joiners
    left join (
        -- a purchase at t counts within N days of a join at j when j <= t < j + N days:
        -- within_days is the smallest N for which that holds
        select
            spells.chat_id,
            spells.member_id,
            spells.joined_at,
            min(case
                when purchases.paid_at < {{ dbt.dateadd('day', 1 * short, 'spells.joined_at') }}
                    then {{ short }}
                when purchases.paid_at < {{ dbt.dateadd('day', 1 * long, 'spells.joined_at') }}
                    then {{ long }}
            end) as within_days
        from spells
        inner join purchases
            on purchases.member_id = spells.member_id
            and purchases.paid_at >= spells.joined_at
        group by spells.chat_id, spells.member_id, spells.joined_at
    ) as bought
        on joiners.chat_id = bought.chat_id
        and joiners.member_id = bought.member_id
        and joiners.joined_at = bought.joined_at
    group by joiners.chat_id, joiners.day
),

final as (
    select
        group_days.chat_id,
        group_days.day,
        cast(coalesce(members_at_day_end.members, 0) as bigint) as members,
        cast(coalesce(joins.joins, 0) as bigint) as joins,
        cast(coalesce(leaves.leaves, 0) as bigint) as leaves,
        cast(coalesce(daily_purchases.buying_members, 0) as bigint) as buying_members,
        cast(coalesce(daily_purchases.orders, 0) as bigint) as orders,
        cast(coalesce(daily_purchases.gmv, 0) as {{ type_amount() }}) as gmv,
        cast(coalesce(daily_purchases.net_amount, 0) as {{ type_amount() }}) as net_amount,
        cast(coalesce(joiner_conversion.joiners, 0) as bigint) as joiners,
        case when {{ dbt.dateadd('day', short, 'group_days.day') }} <= as_of.as_of_date
             then cast(coalesce(joiner_conversion.converted_short, 0) as bigint)
        end as converted_short,
        case when {{ dbt.dateadd('day', short, 'group_days.day') }} <= as_of.as_of_date
                  and joiner_conversion.joiners > 0
             then {{ ratio('joiner_conversion.converted_short', 'joiner_conversion.joiners') }}
        end as conversion_rate_short,
        case when {{ dbt.dateadd('day', long, 'group_days.day') }} <= as_of.as_of_date
             then cast(coalesce(joiner_conversion.converted_long, 0) as bigint)
        end as converted_long,
        case when {{ dbt.dateadd('day', long, 'group_days.day') }} <= as_of.as_of_date
                  and joiner_conversion.joiners > 0
             then {{ ratio('joiner_conversion.converted_long', 'joiner_conversion.joiners') }}
        end as conversion_rate_long,
        as_of.as_of_date
    from group_days
    cross join as_of
    left join members_at_day_end
        on group_days.chat_id = members_at_day_end.chat_id and group_days.day = members_at_day_end.day
    left join joins
        on group_days.chat_id = joins.chat_id and group_days.day = joins.day
    left join leaves
        on group_days.chat_id = leaves.chat_id and group_days.day = leaves.day
    left join daily_purchases
        on group_days.chat_id = daily_purchases.chat_id and group_days.day = daily_purchases.day
    left join joiner_conversion
        on group_days.chat_id = joiner_conversion.chat_id and group_days.day = joiner_conversion.day
)

select * from final
