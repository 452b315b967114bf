-- Membership spells of external members in WeCom customer groups: one row per group,
-- external_userid and spell (a re-join is a new spell). Staff (member type 1) have none.
--
-- Evidence (landing contract v1.1):
--   * member lists (stg_wecom__group_chat_members): each delivery is the group's full
--     membership at the end of its business day, and each member carries its exact
--     `join_time` — so the lists alone give every spell that was seen in one (its join
--     exact), and that a spell ended after the last day it was listed;
--   * callbacks (stg_wecom__group_event_members, stg_wecom__group_events): exact leave times
--     (del_member with QuitScene, dismiss), and joins no list saw (a member who joined and
--     left between two deliveries). Duplicates were removed in staging; order is by
--     `event_at`, never by arrival.
--
-- Rules:
--   1. List spells: the member's rows with one join_time, listed first_listed_dt ..
--      last_listed_dt; present at least until the end of last_listed_dt.
--   2. A join callback within var groups.join_match_seconds before a list spell's join_time,
--      or inside the time the lists show it present, is that spell's join; any other join
--      callback of a known external member (listed as external somewhere, or a WeCom
--      contact) starts a callback spell (callbacks do not say whether a userid is staff).
--   3. A spell ends at the first leave callback (del_member naming the member, or the
--      group's dismissal) at or after the end of the last day a list showed it (a callback
--      inside that time contradicts the list, which is the truth for its day), no later than
--      the member's next join and before the end of the day of the first later list without
--      it (a dismissal after the member left is not their leave): left_at exact, quit_scene
--      from the callback.
--   4. Otherwise it ended when the first later list of the group no longer shows it, or at
--      the member's next join, whichever is first: left_at is the start of that business day
--      (the day is known, the time is not; never before the join), left_at_exact false,
--      quit_scene unknown. Every change to a group makes the day's delivery, so that day is
--      the day the member left.
--   5. Else the spell is open (left_at null).

{% set g = var('groups') %}

with

listed as (
    select chat_id, snapshot_dt, userid, joined_at, join_scene, invitor_userid
    from {{ ref('stg_wecom__group_chat_members') }}
    where member_type = 'external'
),

-- the days each group was delivered (a list may be empty: everybody left)
group_days as (
    select distinct chat_id, _dt as snapshot_dt
    from {{ source('raw', 'wecom__group_chats') }}
),

known_external as (
    select userid from listed
    union
    select external_userid as userid from {{ ref('stg_wecom__external_contacts') }}
),

list_spells as (
    select
        chat_id,
        userid,
        joined_at as started_at,
        min(snapshot_dt) as first_listed_dt,
        max(snapshot_dt) as last_listed_dt,
        -- present at least until the end of the last day listed
        {{ day_timestamp(dbt.dateadd('day', 1, 'max(snapshot_dt)')) }} as present_until,
        max(join_scene) as list_join_scene,
        max(invitor_userid) as invitor_userid
    from listed
    group by chat_id, userid, joined_at
),

member_events as (
    select chat_id, userid, change, join_scene, quit_scene, event_at
    from {{ ref('stg_wecom__group_event_members') }}
),

join_events as (
    select member_events.chat_id, member_events.userid, member_events.event_at,
           member_events.join_scene
    from member_events
    inner join known_external
        on member_events.userid = known_external.userid
    where member_events.change = 'join'
),

callback_joins as (
    -- joins no list spell accounts for (rule 2); the same join named twice counts once
    select chat_id, userid, event_at as started_at, max(join_scene) as event_join_scene
    from join_events
    where not exists (
        select 1
        from list_spells
        where list_spells.chat_id = join_events.chat_id
            and list_spells.userid = join_events.userid
            and join_events.event_at >= {{ dbt.dateadd('second', -g.join_match_seconds, 'list_spells.started_at') }}
            and join_events.event_at < list_spells.present_until
    )
    group by chat_id, userid, event_at
),

starts as (
    select
        chat_id, userid, started_at, 'member_list' as spell_source, first_listed_dt,
        last_listed_dt, present_until,
        case list_join_scene
            when 1 then 'invited_directly'
            when 2 then 'invited_by_link'
            when 3 then 'qr_code'
            else 'unknown'
        end as join_scene,
        invitor_userid
    from list_spells
    union all
    select
        chat_id, userid, started_at, 'callbacks', {{ dbt.safe_cast('null', 'date') }},
        {{ dbt.safe_cast('null', 'date') }}, started_at,
        case event_join_scene
            when 0 then 'invited_by_member'
            when 3 then 'qr_code'
            else 'unknown'
        end,
        {{ dbt.safe_cast('null', dbt.type_string()) }}
    from callback_joins
),

sequenced as (
    select
        starts.*,
        lead(started_at) over (partition by chat_id, userid order by started_at) as next_started_at
    from starts
),

dismissals as (
    select chat_id, min(event_at) as dismissed_at
    from {{ ref('stg_wecom__group_events') }}
    where change_type = 'dismiss'
    group by chat_id
),

leave_evidence as (
    select chat_id, userid, event_at,
           case quit_scene when 0 then 'left' when 1 then 'removed' else 'unknown' end as quit_scene,
           2 as evidence_rank
    from member_events
    where change = 'leave'
),

first_absence as (
    -- rule 4: the first later delivery of the group that does not show the spell
    select
        sequenced.chat_id,
        sequenced.userid,
        sequenced.started_at,
        min(group_days.snapshot_dt) as absent_dt
    from sequenced
    inner join group_days
        on sequenced.chat_id = group_days.chat_id
        and group_days.snapshot_dt >= cast(sequenced.present_until as date)
    left join listed
        on listed.chat_id = sequenced.chat_id
        and listed.userid = sequenced.userid
        and listed.snapshot_dt = group_days.snapshot_dt
    where sequenced.spell_source = 'member_list' or listed.userid is null
    group by sequenced.chat_id, sequenced.userid, sequenced.started_at
),

exact_leaves as (
    -- rule 3: the first leave callback in [present_until, next join]; a member's own
    -- callback before the dismissal of the group at the same second
    select chat_id, userid, started_at, left_at, quit_scene
    from (
        select
            sequenced.chat_id,
            sequenced.userid,
            sequenced.started_at,
            evidence.event_at as left_at,
            evidence.quit_scene,
            row_number() over (
                partition by sequenced.chat_id, sequenced.userid, sequenced.started_at
                order by evidence.event_at, evidence.evidence_rank desc, evidence.quit_scene
            ) as leave_rank
        from sequenced
        left join first_absence
            on sequenced.chat_id = first_absence.chat_id
            and sequenced.userid = first_absence.userid
            and sequenced.started_at = first_absence.started_at
        inner join (
            select chat_id, userid, event_at, quit_scene, evidence_rank from leave_evidence
            union all
            select listed_members.chat_id, listed_members.userid, dismissals.dismissed_at,
                   'group_dismissed', 1
            from (select distinct chat_id, userid from sequenced) as listed_members
            inner join dismissals
                on listed_members.chat_id = dismissals.chat_id
        ) as evidence
            on sequenced.chat_id = evidence.chat_id
            and sequenced.userid = evidence.userid
            and evidence.event_at >= sequenced.present_until
            and (sequenced.next_started_at is null or evidence.event_at <= sequenced.next_started_at)
            and (first_absence.absent_dt is null
                 or evidence.event_at < {{ day_timestamp(dbt.dateadd('day', 1, 'first_absence.absent_dt')) }})
    ) as ranked
    where leave_rank = 1
),

ended as (
    select
        sequenced.*,
        exact_leaves.left_at as exact_left_at,
        exact_leaves.quit_scene as exact_quit_scene,
        case
            when first_absence.absent_dt is not null and sequenced.next_started_at is not null
                then case
                    when {{ day_timestamp('first_absence.absent_dt') }} < sequenced.next_started_at
                        then {{ day_timestamp('first_absence.absent_dt') }}
                    else sequenced.next_started_at
                end
            when first_absence.absent_dt is not null
                then {{ day_timestamp('first_absence.absent_dt') }}
            else sequenced.next_started_at
        end as inferred_left_at
    from sequenced
    left join exact_leaves
        on sequenced.chat_id = exact_leaves.chat_id
        and sequenced.userid = exact_leaves.userid
        and sequenced.started_at = exact_leaves.started_at
    left join first_absence
        on sequenced.chat_id = first_absence.chat_id
        and sequenced.userid = first_absence.userid
        and sequenced.started_at = first_absence.started_at
),

final as (
    select
        {{ surrogate_key(['chat_id', 'userid', 'started_at']) }} as spell_id,
        chat_id,
        userid as external_userid,
        started_at as joined_at,
        case
            when exact_left_at is not null then exact_left_at
            when inferred_left_at is null then {{ dbt.safe_cast('null', dbt.type_timestamp()) }}
            when inferred_left_at < started_at then started_at
            else inferred_left_at
        end as left_at,
        case when exact_left_at is not null then true else false end as left_at_exact,
        join_scene,
        case
            when exact_left_at is not null then exact_quit_scene
            when inferred_left_at is not null then 'unknown'
        end as quit_scene,
        spell_source,
        invitor_userid,
        first_listed_dt,
        last_listed_dt
    from ended
)

select * from final
