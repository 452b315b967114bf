-- Every identifier value seen anywhere (members, users, contacts, orders), one row each,
-- with when it was first and last seen. Orders count: a card or ouid that only ever appears
-- on orders is still somebody.
--
-- first_dt: the business day the identifier was first delivered, the smallest landing `_dt`
-- of any raw row naming it — every delivered version, not only the newest one staging keeps
-- (a card re-delivered with a new phone on day 30 was still first delivered on day 1), so rows
-- delivered later never move it. OneID founds members in this order (pipelines/lib/identity/):
-- first_seen_at is no good for that, a member row delivered on day 8 can say day 1.

with

seen as (

    select 'pos_card' as id_type, member_card_no as id_value, 'pos_members' as seen_in,
           registered_at as seen_at, {{ day_timestamp('_dt') }} as last_seen_at
    from {{ ref('stg_pos__members') }}

    union all
    select 'pos_card', member_card_no, 'pos_orders', ordered_at, {{ day_timestamp('_dt') }}
    from {{ ref('stg_pos__orders') }}
    where member_card_no is not null

    union all
    select 'tmall_ouid', ouid, 'tmall_members', registered_at, {{ day_timestamp('_dt') }}
    from {{ ref('stg_tmall__members') }}

    union all
    select 'tmall_ouid', ouid, 'tmall_orders', ordered_at, {{ day_timestamp('_dt') }}
    from {{ ref('stg_tmall__orders') }}
    where ouid is not null

    union all
    select 'mp_openid', openid, 'miniprogram_users', registered_at, {{ day_timestamp('_dt') }}
    from {{ ref('stg_miniprogram__users') }}

    union all
    select 'mp_openid', openid, 'miniprogram_orders', ordered_at, {{ day_timestamp('_dt') }}
    from {{ ref('stg_miniprogram__orders') }}

    union all
    select left_type, left_value, link_source, first_seen_at, last_seen_at
    from {{ ref('int_identity__links') }}

    union all
    select right_type, right_value, link_source, first_seen_at, last_seen_at
    from {{ ref('int_identity__links') }}

    union all
    select 'wecom_external_userid', contacts.external_userid, 'wecom_contacts',
           {{ day_timestamp('contacts._dt') }}, {{ day_timestamp('contacts._dt') }}
    from {{ ref('stg_wecom__external_contacts') }} as contacts
    left join {{ ref('int_identity__deleted_wecom_contacts') }} as deleted
        on contacts.external_userid = deleted.external_userid
    where deleted.external_userid is null

    -- a WeCom customer-group member who is no contact (yet) is somebody too; staff are not
    union all
    select 'wecom_external_userid', userid, 'wecom_group_members', joined_at,
           {{ day_timestamp('_dt') }}
    from {{ ref('stg_wecom__group_chat_members') }}
    where member_type = 'external'

),

delivered as (

    select 'pos_card' as id_type, member_card_no as id_value, _dt
    from {{ source('raw', 'pos__members') }}

    union all
    select 'pos_card', member_card_no, _dt from {{ source('raw', 'pos__orders') }}

    union all
    select 'tmall_ouid', ouid, _dt from {{ source('raw', 'tmall__members') }}

    union all
    select 'tmall_ouid', ouid, _dt from {{ source('raw', 'tmall__orders') }}

    union all
    select 'mp_openid', openid, _dt from {{ source('raw', 'miniprogram__users') }}

    union all
    select 'mp_openid', openid, _dt from {{ source('raw', 'miniprogram__orders') }}

    union all
    select 'wechat_unionid', unionid, _dt from {{ source('raw', 'miniprogram__users') }}

    union all
    select 'wechat_unionid', unionid, _dt from {{ source('raw', 'wecom__external_contacts') }}

    union all
    select 'wecom_external_userid', external_userid, _dt
    from {{ source('raw', 'wecom__external_contacts') }}

    union all
    select 'wecom_external_userid', userid, _dt
    from {{ source('raw', 'wecom__group_chats__members') }}
    where member_type = 2

    union all
    select 'wechat_unionid', unionid, _dt
    from {{ source('raw', 'wecom__group_chats__members') }}
    where member_type = 2

    union all
    select 'mobile_sha256', mobile_sha256, _dt from {{ source('raw', 'pos__members') }}
    where mobile_status = 'valid'

    union all
    select 'mobile_sha256', mobile_sha256, _dt from {{ source('raw', 'tmall__members') }}
    where mobile_status = 'valid'

    union all
    select 'mobile_sha256', mobile_sha256, _dt from {{ source('raw', 'miniprogram__users') }}
    where mobile_status = 'valid'

    union all
    select 'mobile_sha256', mobile_sha256, _dt
    from {{ source('raw', 'wecom__external_contacts__follow_users__remark_mobiles') }}
    where mobile_status = 'valid'

),

first_delivered as (
    select id_type, id_value, min(_dt) as first_dt
    from delivered
    where id_value is not null
    group by id_type, id_value
),

seen_once as (
    select
        id_type,
        id_value,
        min(seen_at) as first_seen_at,
        max(last_seen_at) as last_seen_at
    from seen
    where id_value is not null and trim(id_value) <> ''
    group by id_type, id_value
),

final as (
    select
        seen_once.id_type,
        seen_once.id_value,
        seen_once.first_seen_at,
        seen_once.last_seen_at,
        first_delivered.first_dt
    from seen_once
    left join first_delivered
        on seen_once.id_type = first_delivered.id_type
        and seen_once.id_value = first_delivered.id_value
)

select * from final
