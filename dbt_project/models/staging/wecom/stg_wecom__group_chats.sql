-- WeCom customer groups: the newest delivered `groupchat/get` response per group. A dismissed
-- group is not delivered again, so its row is the last state before the dismissal (the
-- dismissal itself is a callback: stg_wecom__group_events).

with

source as (

    {{ latest_by_key(source('raw', 'wecom__group_chats'), ['chat_id']) }}

),

deliveries as (

    select chat_id, min(_dt) as first_delivered_dt
    from {{ source('raw', 'wecom__group_chats') }}
    group by chat_id

),

renamed as (

    select
        source.chat_id,
        -- a staff userid (the group owner)
        source.owner as owner_userid,
        source.created_at,
        source.member_version,
        deliveries.first_delivered_dt,

        source._dt,
        source._source_file,
        source._source_line,
        source._ingested_at

    from source
    inner join deliveries
        on source.chat_id = deliveries.chat_id

)

select * from renamed
