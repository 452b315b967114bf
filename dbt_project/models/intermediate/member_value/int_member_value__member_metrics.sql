-- One row per member known on the as-of day with the behaviour numbers the lifecycle, tags,
-- profile and audiences are computed from (windows from dbt vars).

{{ config(materialized='table') }}

{% set windows = var('behaviour_windows') %}
{% set aipl = var('aipl') %}

with

as_of as (
    {{ member_value_as_of() }}
),

members as (
    {{ members_known_as_of() }}
),

purchases as (
    select orders.*,
           case when orders.paid_date > {{ dbt.dateadd('day', -var('metrics_window_days'), 'as_of.as_of_date') }}
                then 1 else 0 end as in_last_365d
    from {{ ref('int_member_value__orders') }} as orders
    cross join as_of
),

purchase_summary as (
    select
        member_id,
        min(paid_date) as first_purchase_date,
        max(paid_date) as last_purchase_date,
        count(*) as orders_total,
        sum(in_last_365d) as orders_365d,
        sum(case when in_last_365d = 1 then net_amount_as_of else 0 end) as net_amount_365d,
        sum(case when in_last_365d = 1 then gross_amount else 0 end) as gross_amount_365d,
        sum(case when in_last_365d = 1 then discount_amount else 0 end) as discount_amount_365d
    from purchases
    group by member_id
),

-- the channel with the most purchases in the last 365 days (ties: more net, then name)
channel_ranked as (
    select
        member_id,
        channel,
        row_number() over (
            partition by member_id
            order by count(*) desc, sum(net_amount_as_of) desc, channel
        ) as channel_rank
    from purchases
    where in_last_365d = 1
    group by member_id, channel
),

-- the category with the most spend in the last 365 days (ties: name)
category_ranked as (
    select
        purchases.member_id,
        items.category,
        row_number() over (
            partition by purchases.member_id
            order by sum(items.line_amount) desc, items.category
        ) as category_rank
    from purchases
    inner join {{ ref('int_orders__items_unioned') }} as items
        on purchases.order_key = items.order_key
    where purchases.in_last_365d = 1 and items.category <> 'unknown'
    group by purchases.member_id, items.category
),

activity as (
    select
        activity.member_id,
        max(activity.activity_date) as last_active_date,
        sum(case when activity.activity_type = 'favorite'
                  and activity.activity_date > {{ dbt.dateadd('day', -windows.recent_days, 'as_of.as_of_date') }}
                 then activity.events else 0 end) as recent_favourites,
        sum(case when activity.activity_type = 'add_to_cart'
                  and activity.activity_date > {{ dbt.dateadd('day', -windows.recent_days, 'as_of.as_of_date') }}
                 then activity.events else 0 end) as recent_cart_adds,
        max(case when activity.activity_type <> 'purchase'
                  and activity.activity_date > {{ dbt.dateadd('day', -aipl.interest_days, 'as_of.as_of_date') }}
                 then 1 else 0 end) as has_recent_interest
    from {{ ref('int_member_value__activity') }} as activity
    cross join as_of
    group by activity.member_id
),

assignments as (
    select id_type, id_value, member_id from {{ source('identity', 'member_id_assignments') }}
),

wecom_contacts as (
    select
        assignments.member_id,
        max(case when deleted.external_userid is null then 1 else 0 end) as has_live_contact
    from {{ ref('stg_wecom__external_contacts') }} as contacts
    inner join assignments
        on assignments.id_type = 'wecom_external_userid'
        and assignments.id_value = contacts.external_userid
    left join {{ ref('int_identity__deleted_wecom_contacts') }} as deleted
        on contacts.external_userid = deleted.external_userid
    group by assignments.member_id
),

final as (
    select
        members.member_id,
        as_of.as_of_date,
        members.first_seen_date,
        purchase_summary.first_purchase_date,
        purchase_summary.last_purchase_date,
        cast(coalesce(purchase_summary.orders_total, 0) as integer) as orders_total,
        cast(coalesce(purchase_summary.orders_365d, 0) as integer) as orders_365d,
        cast(coalesce(purchase_summary.net_amount_365d, 0) as {{ type_amount() }}) as net_amount_365d,
        cast(coalesce(purchase_summary.gross_amount_365d, 0) as {{ type_amount() }}) as gross_amount_365d,
        cast(coalesce(purchase_summary.discount_amount_365d, 0) as {{ type_amount() }})
            as discount_amount_365d,
        cast({{ dbt.datediff('purchase_summary.first_purchase_date', 'as_of.as_of_date', 'day') }} as integer)
            as days_since_first_purchase,
        cast({{ dbt.datediff('purchase_summary.last_purchase_date', 'as_of.as_of_date', 'day') }} as integer)
            as days_since_last_purchase,
        -- the member's own usual gap: mean days between purchases over their history
        case
            when purchase_summary.orders_total >= 2
                then {{ dbt.datediff('purchase_summary.first_purchase_date', 'purchase_summary.last_purchase_date', 'day') }}
                    / (purchase_summary.orders_total - 1.0)
        end as mean_purchase_gap_days,
        channel_ranked.channel as preferred_channel,
        category_ranked.category as preferred_category,
        cast({{ dbt.datediff('activity.last_active_date', 'as_of.as_of_date', 'day') }} as integer)
            as days_since_last_active,
        cast(coalesce(activity.recent_favourites, 0) as integer) as recent_favourites,
        cast(coalesce(activity.recent_cart_adds, 0) as integer) as recent_cart_adds,
        case when activity.has_recent_interest = 1 then true else false end as has_recent_interest,
        case
            when wecom_contacts.has_live_contact = 1 then 'friend'
            when wecom_contacts.has_live_contact = 0 then 'deleted'
            else 'none'
        end as wecom_friend_status
    from members
    cross join as_of
    left join purchase_summary on members.member_id = purchase_summary.member_id
    left join channel_ranked
        on members.member_id = channel_ranked.member_id and channel_ranked.channel_rank = 1
    left join category_ranked
        on members.member_id = category_ranked.member_id and category_ranked.category_rank = 1
    left join activity on members.member_id = activity.member_id
    left join wecom_contacts on members.member_id = wecom_contacts.member_id
)

select * from final
