-- WeCom `change_external_chat` callbacks, one row per event. Callbacks have no id and arrive
-- twice (a retried callback) and out of order (a late one, or one delivered on a later day):
-- an event is identified by all its business content — its fields and the sorted list of
-- userids it names — so a second copy counts once wherever it was delivered; readers order
-- events by `event_at`, never by arrival.

{% set business_columns = ['change_type', 'chat_id', 'update_detail', 'join_scene',
                            'quit_scene', 'mem_change_cnt', 'event_at', 'member_userids'] %}

with

member_lists as (

    select
        _dt,
        _source_file,
        _source_line,
        {{ string_agg_sorted('userid', "','") }} as member_userids
    from {{ source('raw', 'wecom__group_events__members') }}
    group by _dt, _source_file, _source_line

),

events as (

    select
        events.change_type,
        events.chat_id,
        events.update_detail,
        events.join_scene,
        events.quit_scene,
        events.mem_change_cnt,
        events.event_at,
        coalesce(member_lists.member_userids, '') as member_userids,
        events._dt,
        events._source_file,
        events._source_line,
        events._ingested_at
    from {{ source('raw', 'wecom__group_events') }} as events
    left join member_lists
        on events._dt = member_lists._dt
        and events._source_file = member_lists._source_file
        and events._source_line = member_lists._source_line

),

source as (

    {{ latest_by_key('events', business_columns) }}

),

renamed as (

    select
        {{ surrogate_key(business_columns) }} as event_id,
        change_type,
        chat_id,
        update_detail,
        -- JoinScene: 0 invited by a member, 3 scanned the QR code
        join_scene,
        -- QuitScene: 0 left by themselves, 1 removed by the owner or an admin
        quit_scene,
        mem_change_cnt,
        event_at,

        _dt,
        _source_file,
        _source_line,
        _ingested_at

    from source

)

select * from renamed
