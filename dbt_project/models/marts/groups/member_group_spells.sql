-- Member × WeCom customer group × spell, as of the member-value as-of day: when the member
-- joined and left (null while in the group), how, and whether the leave time is exact (a
-- callback) or only its day (the first member list without them). Spells are rebuilt from
-- the daily member lists and the callbacks in int_groups__spells (rules there and in
-- docs/groups.md); here they get the member id OneID gave the external_userid and are cut
-- at the as-of day (a later join is not yet known, a later leave not yet happened).

with

as_of as (
    {{ member_value_as_of() }}
),

assignments as (
    select id_value, member_id
    from {{ source('identity', 'member_id_assignments') }}
    where id_type = 'wecom_external_userid'
),

spells as (
    select spells.*, {{ day_timestamp(dbt.dateadd('day', 1, 'as_of.as_of_date')) }} as as_of_end,
           as_of.as_of_date
    from {{ ref('int_groups__spells') }} as spells
    cross join as_of
),

final as (
    select
        spells.spell_id,
        members.member_id,
        spells.chat_id,
        spells.joined_at,
        case when spells.left_at < spells.as_of_end then spells.left_at end as left_at,
        spells.join_scene,
        case when spells.left_at < spells.as_of_end then spells.quit_scene end as quit_scene,
        case when spells.left_at < spells.as_of_end then spells.left_at_exact else false end
            as left_at_exact,
        case when spells.left_at < spells.as_of_end then false else true end as is_current,
        spells.spell_source,
        inviters.member_id as invited_by_member_id,
        spells.as_of_date
    from spells
    left join assignments as members
        on spells.external_userid = members.id_value
    left join assignments as inviters
        on spells.invitor_userid = inviters.id_value
    where spells.joined_at < spells.as_of_end
)

select * from final
