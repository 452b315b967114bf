-- WeCom contacts the customer or every staff member has deleted since their last export:
-- their links are withdrawn, which can split a member (the split is logged by identity).

with

contacts as (
    select external_userid, _dt
    from {{ ref('stg_wecom__external_contacts') }}
),

last_event as (
    select external_userid, change_type, event_at
    from (
        select
            external_userid,
            change_type,
            event_at,
            row_number() over (
                partition by external_userid
                order by event_at desc, change_type desc
            ) as event_rank
        from {{ ref('stg_wecom__contact_events') }}
    ) as ranked
    where event_rank = 1
),

final as (
    select last_event.external_userid, last_event.event_at as deleted_at
    from last_event
    inner join contacts
        on last_event.external_userid = contacts.external_userid
    where last_event.change_type in ('del_external_contact', 'del_follow_user')
        and cast(last_event.event_at as date) >= contacts._dt
)

select * from final
