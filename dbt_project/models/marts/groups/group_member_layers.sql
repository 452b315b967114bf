-- The 圈层 layers of each WeCom customer group's current members on the as-of day, from the
-- last var groups.layer_window_days days (as-of day included):
--   core 核心       the top var groups.core_size members of the group by net purchases (any
--                   channel) in the window, among those with net purchases > 0 (ties: more
--                   orders, then member_id);
--   influence 影响  the other members who bought in the window, and those who engaged: invited
--                   at least var groups.influence_min_invites members who joined this group in
--                   the window, or had at least var groups.influence_min_events mini-program
--                   events in the window;
--   periphery 外围  everyone else.
-- One row per member and group (a member in a group through two WeCom ids counts once).

{% set g = var('groups') %}

with

as_of as (
    {{ member_value_as_of() }}
),

window_start as (
    -- the first day of the window
    select {{ dbt.dateadd('day', 1 - (g.layer_window_days | int), 'as_of.as_of_date') }} as first_day
    from as_of
),

current_members as (
    select chat_id, member_id, min(joined_at) as joined_at
    from {{ ref('member_group_spells') }}
    where is_current and member_id is not null
    group by chat_id, member_id
),

purchases as (
    select
        orders.member_id,
        count(*) as orders_window,
        sum(orders.net_amount_as_of) as net_amount_window
    from {{ ref('int_member_value__orders') }} as orders
    cross join window_start
    where orders.paid_date >= cast(window_start.first_day as date)
    group by orders.member_id
),

events as (
    select activity.member_id, sum(activity.events) as events_window
    from {{ ref('int_member_value__activity') }} as activity
    cross join window_start
    where activity.activity_type not in ('purchase', 'wecom_add')
        and activity.activity_date >= cast(window_start.first_day as date)
    group by activity.member_id
),

invites as (
    select spells.chat_id, spells.invited_by_member_id as member_id, count(*) as invites_window
    from {{ ref('member_group_spells') }} as spells
    cross join window_start
    where spells.invited_by_member_id is not null
        and spells.joined_at >= {{ day_timestamp('window_start.first_day') }}
    group by spells.chat_id, spells.invited_by_member_id
),

facts as (
    select
        current_members.chat_id,
        current_members.member_id,
        current_members.joined_at,
        cast(coalesce(purchases.orders_window, 0) as bigint) as orders_window,
        cast(coalesce(purchases.net_amount_window, 0) as {{ type_amount() }}) as net_amount_window,
        cast(coalesce(invites.invites_window, 0) as bigint) as invites_window,
        cast(coalesce(events.events_window, 0) as bigint) as events_window
    from current_members
    left join purchases on current_members.member_id = purchases.member_id
    left join events on current_members.member_id = events.member_id
    left join invites
        on current_members.chat_id = invites.chat_id
        and current_members.member_id = invites.member_id
),

ranked as (
    select
        facts.*,
        case when facts.net_amount_window > 0 then
            row_number() over (
                partition by facts.chat_id,
                    case when facts.net_amount_window > 0 then 1 else 0 end
                order by facts.net_amount_window desc, facts.orders_window desc, facts.member_id
            )
        end as purchase_rank
    from facts
),

layered as (
    select
        ranked.*,
        case
            when purchase_rank <= {{ g.core_size }} then 'core'
            when orders_window > 0
                or invites_window >= {{ g.influence_min_invites }}
                or events_window >= {{ g.influence_min_events }} then 'influence'
            else 'periphery'
        end as layer
    from ranked
),

final as (
    select
        layered.member_id,
        layered.chat_id,
        layered.layer,
        {{ group_layer_name('layered.layer') }} as layer_name,
        case layered.layer when 'core' then 1 when 'influence' then 2 else 3 end as layer_rank,
        cast(layered.purchase_rank as bigint) as purchase_rank,
        layered.net_amount_window,
        layered.orders_window,
        layered.invites_window,
        layered.events_window,
        layered.joined_at,
        {{ g.layer_window_days }} as window_days,
        as_of.as_of_date
    from layered
    cross join as_of
)

select * from final
