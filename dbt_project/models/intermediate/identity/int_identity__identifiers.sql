-- Every identifier value seen anywhere (members, users, contacts, orders), one row each,
-- with when it was first and last seen. Orders count: a card or ouid that only ever appears
-- on orders is still somebody.

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

),

final as (
    select
        id_type,
        id_value,
        min(seen_at) as first_seen_at,
        max(last_seen_at) as last_seen_at
    from seen
    where id_value is not null and trim(id_value) <> ''
    group by id_type, id_value
)

select * from final
