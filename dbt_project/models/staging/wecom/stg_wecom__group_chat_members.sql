-- The member list of every group on every day it was delivered: the landing contract makes
-- each delivery the full current list ("a member who left is simply absent from the next
-- delivery"), so these rows are daily snapshots, the evidence the membership spells are
-- rebuilt from (int_groups__spells). Inside one day the group's last delivered line wins
-- (later file by name, then later line), like every keyed entity; a member listed twice in
-- one list keeps its last entry. The members' names were never ingested.

with

winning_lines as (

    -- one delivery per group and day
    select chat_id, _dt, _source_file, _source_line
    from (
        select
            chat_id,
            _dt,
            _source_file,
            _source_line,
            row_number() over (
                partition by chat_id, _dt
                order by _source_file desc, _source_line desc
            ) as _line_rank
        from {{ source('raw', 'wecom__group_chats') }}
    ) as ranked
    where _line_rank = 1

),

members as (

    select members.*
    from {{ source('raw', 'wecom__group_chats__members') }} as members
    inner join winning_lines
        on members.chat_id = winning_lines.chat_id
        and members._dt = winning_lines._dt
        and members._source_file = winning_lines._source_file
        and members._source_line = winning_lines._source_line

),

deduplicated as (

    select *
    from (
        select
            members.*,
            row_number() over (
                partition by chat_id, _dt, userid
                order by position desc
            ) as _entry_rank
        from members
    ) as ranked
    where _entry_rank = 1

),

renamed as (

    select
        chat_id,
        -- the business day of the delivery: the list is the group's membership that day
        _dt as snapshot_dt,
        -- identifier columns keep their raw names (pipelines/lib/privacy.py erases by them):
        -- a staff userid for staff, the `external_userid` for external contacts
        userid,
        -- API type: 1 = staff member (never a Siyu member), 2 = external contact
        case member_type
            when 1 then 'staff'
            when 2 then 'external'
        end as member_type,
        unionid,
        joined_at,
        -- API join_scene: 1 invited directly, 2 invited by link, 3 scanned the group QR code
        join_scene,
        invitor_userid,
        position,

        _dt,
        _source_file,
        _source_line,
        _ingested_at

    from deduplicated

)

select * from renamed
