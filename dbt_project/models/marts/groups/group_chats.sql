-- One row per WeCom customer group known on the as-of day: owner (staff), store where
-- derivable, created / dismissed, size, lifecycle status and the layer mix.
--
-- Lifecycle (docs/groups.md): a group is `active` from its creation; it is a `zombie` (僵尸群)
-- on a day when nobody joined it and no member bought (any channel, while in the group) in
-- the last var groups.zombie_days days, the as-of day included — a join or a member's
-- purchase makes it active again; it is `dismissed` from its dismissal callback on (a
-- dismissed group is not delivered again), for good.
-- Store: the store whose QR code (`state = store_<id>`) most of the owner's WeCom contacts
-- scanned (ties: the smaller store_id); null when the owner has no such contact.

{% set g = var('groups') %}

with

as_of as (
    {{ member_value_as_of() }}
),

chats as (
    select chats.*
    from {{ ref('stg_wecom__group_chats') }} as chats
    cross join as_of
    where cast(chats.created_at as date) <= as_of.as_of_date
),

dismissals as (
    select events.chat_id, min(events.event_at) as dismissed_at
    from {{ ref('stg_wecom__group_events') }} as events
    cross join as_of
    where events.change_type = 'dismiss' and cast(events.event_at as date) <= as_of.as_of_date
    group by events.chat_id
),

-- the last delivered member list up to the as-of day (staff and customers)
last_lists as (
    select members.chat_id, members.snapshot_dt, count(*) as listed_members
    from {{ ref('stg_wecom__group_chat_members') }} as members
    inner join (
        select members.chat_id, max(members.snapshot_dt) as snapshot_dt
        from {{ ref('stg_wecom__group_chat_members') }} as members
        cross join as_of
        where members.snapshot_dt <= as_of.as_of_date
        group by members.chat_id
    ) as latest
        on members.chat_id = latest.chat_id and members.snapshot_dt = latest.snapshot_dt
    group by members.chat_id, members.snapshot_dt
),

owner_stores as (
    select staff_userid, store_id
    from (
        select
            staff_userid,
            store_id,
            row_number() over (
                partition by staff_userid order by count(*) desc, store_id
            ) as store_rank
        from {{ ref('stg_wecom__follow_users') }}
        where store_id is not null
        group by staff_userid, store_id
    ) as ranked
    where store_rank = 1
),

spells as (
    select chat_id,
           sum(case when is_current then 1 else 0 end) as current_customers,
           count(distinct member_id) as customers_ever,
           max(joined_at) as last_joined_at
    from {{ ref('member_group_spells') }}
    group by chat_id
),

daily as (
    select
        daily.chat_id,
        max(case when daily.orders > 0 then daily.day end) as last_member_purchase_date,
        sum(case when daily.day > {{ dbt.dateadd('day', -(g.zombie_days | int), 'as_of.as_of_date') }}
                 then daily.joins else 0 end) as joins_zombie_window,
        sum(case when daily.day > {{ dbt.dateadd('day', -(g.zombie_days | int), 'as_of.as_of_date') }}
                 then daily.orders else 0 end) as member_orders_zombie_window,
        sum(case when daily.day > {{ dbt.dateadd('day', -(g.zombie_days | int), 'as_of.as_of_date') }}
                 then daily.gmv else 0 end) as member_gmv_zombie_window
    from {{ ref('group_daily') }} as daily
    cross join as_of
    group by daily.chat_id
),

layers as (
    select
        chat_id,
        sum(case when layer = 'core' then 1 else 0 end) as core_members,
        sum(case when layer = 'influence' then 1 else 0 end) as influence_members,
        sum(case when layer = 'periphery' then 1 else 0 end) as periphery_members
    from {{ ref('group_member_layers') }}
    group by chat_id
),

final as (
    select
        chats.chat_id,
        chats.owner_userid,
        owner_stores.store_id,
        chats.created_at,
        dismissals.dismissed_at,
        case
            when dismissals.dismissed_at is not null then 'dismissed'
            when coalesce(daily.joins_zombie_window, 0) = 0
                and coalesce(daily.member_orders_zombie_window, 0) = 0 then 'zombie'
            else 'active'
        end as status,
        case when dismissals.dismissed_at is not null then 0
             else cast(coalesce(last_lists.listed_members, 0) as bigint)
        end as current_size,
        cast(coalesce(spells.current_customers, 0) as bigint) as current_customers,
        cast(coalesce(spells.customers_ever, 0) as bigint) as customers_ever,
        spells.last_joined_at,
        daily.last_member_purchase_date,
        cast(coalesce(daily.joins_zombie_window, 0) as bigint) as joins_zombie_window,
        cast(coalesce(daily.member_orders_zombie_window, 0) as bigint) as member_orders_zombie_window,
        cast(coalesce(daily.member_gmv_zombie_window, 0) as {{ type_amount() }}) as member_gmv_zombie_window,
        cast(coalesce(layers.core_members, 0) as bigint) as core_members,
        cast(coalesce(layers.influence_members, 0) as bigint) as influence_members,
        cast(coalesce(layers.periphery_members, 0) as bigint) as periphery_members,
        last_lists.snapshot_dt as last_delivered_dt,
        as_of.as_of_date
    from chats
    cross join as_of
    left join dismissals on chats.chat_id = dismissals.chat_id
    left join last_lists on chats.chat_id = last_lists.chat_id
    left join owner_stores on chats.owner_userid = owner_stores.staff_userid
    left join spells on chats.chat_id = spells.chat_id
    left join daily on chats.chat_id = daily.chat_id
    left join layers on chats.chat_id = layers.chat_id
)

select * from final
