-- The members a group callback names (`MemChangeList` of add_member / del_member), one row
-- per event and userid, from the event's kept copy (stg_wecom__group_events).

with

events as (
    select * from {{ ref('stg_wecom__group_events') }}
    where update_detail in ('add_member', 'del_member')
),

members as (

    select
        events.event_id,
        events.chat_id,
        members.userid,
        events.update_detail,
        events.join_scene,
        events.quit_scene,
        events.event_at,
        members.position,
        events._dt,
        events._source_file,
        events._source_line,
        events._ingested_at
    from events
    inner join {{ source('raw', 'wecom__group_events__members') }} as members
        on events._dt = members._dt
        and events._source_file = members._source_file
        and events._source_line = members._source_line

),

deduplicated as (

    select *
    from (
        select
            members.*,
            row_number() over (
                partition by event_id, userid
                order by position desc
            ) as _entry_rank
        from members
    ) as ranked
    where _entry_rank = 1

),

renamed as (

    select
        event_id,
        chat_id,
        -- a staff userid or an external_userid: the callback does not say which
        userid,
        case update_detail
            when 'add_member' then 'join'
            when 'del_member' then 'leave'
        end as change,
        join_scene,
        quit_scene,
        event_at,

        _dt,
        _source_file,
        _source_line,
        _ingested_at

    from deduplicated

)

select * from renamed
