-- Every link between two identifiers that the landing contract implies, before any
-- protection against shared identifiers. The right-hand side is the "hub" identifier
-- (a mobile hash or a unionid) that several accounts can point at; shared-identifier
-- detection counts accounts per hub. Masked and invalid mobiles never reach this model:
-- only rows with mobile_status = 'valid' carry a hash.

with

pos_members as (
    select member_card_no, mobile_sha256, mobile_status, registered_at, _dt
    from {{ ref('stg_pos__members') }}
),

tmall_members as (
    select ouid, mobile_sha256, mobile_status, registered_at, _dt
    from {{ ref('stg_tmall__members') }}
),

mp_users as (
    select openid, unionid, mobile_sha256, mobile_status, registered_at, _dt
    from {{ ref('stg_miniprogram__users') }}
),

wecom_contacts as (
    select contacts.external_userid, contacts.unionid, contacts._dt, follows.first_added_at
    from {{ ref('stg_wecom__external_contacts') }} as contacts
    left join (
        select external_userid, min(added_at) as first_added_at
        from {{ ref('stg_wecom__follow_users') }}
        group by external_userid
    ) as follows
        on contacts.external_userid = follows.external_userid
    left join {{ ref('int_identity__deleted_wecom_contacts') }} as deleted
        on contacts.external_userid = deleted.external_userid
    where deleted.external_userid is null
),

wecom_remark_mobiles as (
    select mobiles.external_userid, mobiles.mobile_sha256, mobiles.mobile_status,
           wecom_contacts.first_added_at, wecom_contacts._dt
    from {{ ref('stg_wecom__follow_user_remark_mobiles') }} as mobiles
    inner join wecom_contacts
        on mobiles.external_userid = wecom_contacts.external_userid
),

-- External members of WeCom customer groups (landing contract v1.1), from every delivered
-- member list: the member's userid is its external_userid, its unionid (when the API gives
-- one) the same WeChat unionid the contacts carry. A person seen only in groups links too,
-- and a contact deleted since is still linked here while the group lists them: membership is
-- its own evidence, independent of the contact relation. Staff members never link.
wecom_group_members as (
    select userid as external_userid, unionid, joined_at, _dt
    from {{ ref('stg_wecom__group_chat_members') }}
    where member_type = 'external'
),

links as (

    select
        'pos_card' as left_type,
        member_card_no as left_value,
        'mobile_sha256' as right_type,
        mobile_sha256 as right_value,
        'pos_members' as link_source,
        registered_at as first_seen_at,
        {{ day_timestamp('_dt') }} as last_seen_at
    from pos_members
    where mobile_status = 'valid'

    union all

    select
        'tmall_ouid', ouid, 'mobile_sha256', mobile_sha256, 'tmall_members',
        registered_at, {{ day_timestamp('_dt') }}
    from tmall_members
    where mobile_status = 'valid'

    union all

    select
        'mp_openid', openid, 'wechat_unionid', unionid, 'miniprogram_users',
        registered_at, {{ day_timestamp('_dt') }}
    from mp_users

    union all

    select
        'mp_openid', openid, 'mobile_sha256', mobile_sha256, 'miniprogram_phone_auth',
        registered_at, {{ day_timestamp('_dt') }}
    from mp_users
    where mobile_status = 'valid'

    union all

    select
        'wecom_external_userid', external_userid, 'wechat_unionid', unionid,
        'wecom_contacts', coalesce(first_added_at, {{ day_timestamp('_dt') }}),
        {{ day_timestamp('_dt') }}
    from wecom_contacts

    union all

    select
        'wecom_external_userid', external_userid, 'mobile_sha256', mobile_sha256,
        'wecom_remark_mobiles', coalesce(first_added_at, {{ day_timestamp('_dt') }}),
        {{ day_timestamp('_dt') }}
    from wecom_remark_mobiles
    where mobile_status = 'valid'

    union all

    select
        'wecom_external_userid', external_userid, 'wechat_unionid', unionid,
        'wecom_group_members', joined_at, {{ day_timestamp('_dt') }}
    from wecom_group_members

),

final as (

    -- an empty or NULL key never links anything
    select
        left_type,
        left_value,
        right_type,
        right_value,
        link_source,
        min(first_seen_at) as first_seen_at,
        max(last_seen_at) as last_seen_at
    from links
    where left_value is not null and trim(left_value) <> ''
        and right_value is not null and trim(right_value) <> ''
    group by left_type, left_value, right_type, right_value, link_source

)

select * from final
