-- One row per member, day and kind of activity up to the as-of day: purchases, mini-program
-- behaviour events (by type) and WeCom interactions (the customer adding a store account).
-- Feeds "active", AIPL interest and the driver tree's active members.

{{ config(materialized='table') }}

with

as_of as (
    {{ member_value_as_of() }}
),

assignments as (
    select id_type, id_value, member_id from {{ source('identity', 'member_id_assignments') }}
),

purchases as (
    select member_id, paid_date as activity_date, 'purchase' as activity_type, count(*) as events
    from {{ ref('int_member_value__orders') }}
    group by member_id, paid_date
),

miniprogram_events as (
    select
        assignments.member_id,
        cast(events.event_at as date) as activity_date,
        events.event_type as activity_type,
        count(*) as events
    from {{ ref('stg_miniprogram__events') }} as events
    inner join assignments
        on assignments.id_type = 'mp_openid' and assignments.id_value = events.openid
    group by assignments.member_id, cast(events.event_at as date), events.event_type
),

wecom_adds as (
    select
        assignments.member_id,
        cast(follow.added_at as date) as activity_date,
        'wecom_add' as activity_type,
        count(*) as events
    from {{ ref('stg_wecom__follow_users') }} as follow
    inner join assignments
        on assignments.id_type = 'wecom_external_userid'
        and assignments.id_value = follow.external_userid
    where follow.added_at is not null
    group by assignments.member_id, cast(follow.added_at as date)
),

unioned as (
    select * from purchases
    union all
    select * from miniprogram_events
    union all
    select * from wecom_adds
),

final as (
    select unioned.member_id, unioned.activity_date, unioned.activity_type,
           cast(unioned.events as bigint) as events
    from unioned
    cross join as_of
    where unioned.activity_date <= as_of.as_of_date
)

select * from final
