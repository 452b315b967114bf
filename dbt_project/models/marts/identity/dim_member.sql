-- One row per member. Attributes come from the channel accounts linked to the member, chosen
-- by a documented survivorship rule (see _identity__models.yml):
--   acquisition: the earliest account (registration, or first order for accounts only seen on
--                orders); ties broken by channel priority pos > miniprogram > wecom > tmall
--   mobile_masked: POS (verified at the till) > mini-program (authorised by WeChat) > WeCom
--                remark (typed by staff); newest delivery first inside one source
--   gender: POS > WeCom (the first that is not 'unknown'); birthday: POS only
--   city: the acquisition store's city, else the city of the member's most recent store order
-- No names: personal names stay in staging (PIPL minimisation).

with

assignments as (
    select id_type, id_value, member_id from {{ source('identity', 'member_id_assignments') }}
),

members as (
    select member_id, first_seen_at from {{ source('identity', 'members') }}
),

stores as (
    select store_id, city from {{ ref('stg_reference__stores') }}
),

pos as (
    select assignments.member_id, pos.*
    from {{ ref('stg_pos__members') }} as pos
    inner join assignments
        on assignments.id_type = 'pos_card' and assignments.id_value = pos.member_card_no
),

mp as (
    select assignments.member_id, mp.*
    from {{ ref('stg_miniprogram__users') }} as mp
    inner join assignments
        on assignments.id_type = 'mp_openid' and assignments.id_value = mp.openid
),

tmall as (
    select assignments.member_id, tmall.*
    from {{ ref('stg_tmall__members') }} as tmall
    inner join assignments
        on assignments.id_type = 'tmall_ouid' and assignments.id_value = tmall.ouid
),

wecom_follow as (
    select external_userid, min(added_at) as added_at,
           min(store_id) as store_id
    from {{ ref('stg_wecom__follow_users') }}
    group by external_userid
),

wecom as (
    select assignments.member_id, contacts.external_userid, contacts.gender, contacts._dt,
           coalesce(wecom_follow.added_at, {{ day_timestamp('contacts._dt') }}) as added_at,
           wecom_follow.store_id
    from {{ ref('stg_wecom__external_contacts') }} as contacts
    inner join assignments
        on assignments.id_type = 'wecom_external_userid'
        and assignments.id_value = contacts.external_userid
    left join wecom_follow
        on contacts.external_userid = wecom_follow.external_userid
),

first_orders as (
    select assignments.member_id, orders.channel, orders.store_id, orders.ordered_at
    from {{ ref('int_orders__unioned') }} as orders
    inner join assignments
        on assignments.id_type = orders.buyer_id_type
        and assignments.id_value = orders.buyer_id_value
),

accounts as (
    select member_id, 'pos' as channel, registered_at as acquired_at,
           registered_store_id as store_id, 1 as channel_priority
    from pos
    union all
    select member_id, 'miniprogram', registered_at, {{ dbt.safe_cast('null', dbt.type_string()) }}, 2
    from mp
    union all
    select member_id, 'wecom', added_at, store_id, 3
    from wecom
    union all
    select member_id, 'tmall', registered_at, {{ dbt.safe_cast('null', dbt.type_string()) }}, 4
    from tmall
    union all
    select member_id, channel, ordered_at, store_id,
           case channel when 'pos' then 1 when 'miniprogram' then 2 else 4 end
    from first_orders
),

acquisition as (
    select member_id, channel as acquisition_channel, store_id as acquisition_store_id,
           acquired_at
    from (
        select accounts.*,
               row_number() over (
                   partition by member_id
                   order by acquired_at, channel_priority, store_id
               ) as acquisition_rank
        from accounts
    ) as ranked
    where acquisition_rank = 1
),

wecom_mobiles as (
    select assignments.member_id, remark.mobile_masked, remark._dt
    from {{ ref('stg_wecom__follow_user_remark_mobiles') }} as remark
    inner join assignments
        on assignments.id_type = 'wecom_external_userid'
        and assignments.id_value = remark.external_userid
    where remark.mobile_status = 'valid'
),

mobile_candidates as (
    select member_id, mobile_masked, 1 as source_priority, _dt from pos where mobile_status = 'valid'
    union all
    select member_id, mobile_masked, 2, _dt from mp where mobile_status = 'valid'
    union all
    select member_id, mobile_masked, 3, _dt from wecom_mobiles
),

best_mobile as (
    select member_id, mobile_masked
    from (
        select mobile_candidates.*,
               row_number() over (
                   partition by member_id
                   order by source_priority, _dt desc, mobile_masked
               ) as mobile_rank
        from mobile_candidates
    ) as ranked
    where mobile_rank = 1
),

gender_candidates as (
    select member_id, gender, 1 as source_priority, _dt from pos where gender <> 'unknown'
    union all
    select member_id, gender, 2, _dt from wecom where gender <> 'unknown'
),

best_gender as (
    select member_id, gender
    from (
        select gender_candidates.*,
               row_number() over (
                   partition by member_id order by source_priority, _dt desc, gender
               ) as gender_rank
        from gender_candidates
    ) as ranked
    where gender_rank = 1
),

best_birthday as (
    select member_id, birthday
    from (
        select member_id, birthday,
               row_number() over (
                   partition by member_id order by _dt desc, birthday desc
               ) as birthday_rank
        from pos
        where birthday is not null
    ) as ranked
    where birthday_rank = 1
),

last_store_order as (
    select member_id, store_id
    from (
        select member_id, store_id,
               row_number() over (
                   partition by member_id order by ordered_at desc, store_id
               ) as order_rank
        from first_orders
        where store_id is not null
    ) as ranked
    where order_rank = 1
),

-- shared identifiers as the mart lists them: the per-type rules' and the hubs the identity
-- step split an oversized component at (component_cap), which the rules' model does not hold
flagged as (
    select distinct assignments.member_id
    from {{ ref('int_identity__links') }} as links
    inner join {{ ref('shared_identifiers') }} as shared
        on links.right_type = shared.id_type and links.right_value = shared.id_value
    inner join assignments
        on assignments.id_type = links.left_type and assignments.id_value = links.left_value
),

final as (
    select
        members.member_id,
        members.first_seen_at,
        coalesce(acquisition.acquisition_channel, 'unknown') as acquisition_channel,
        acquisition.acquisition_store_id,
        best_mobile.mobile_masked,
        coalesce(best_gender.gender, 'unknown') as gender,
        best_birthday.birthday,
        coalesce(acquisition_store.city, last_store.city) as city,
        case when flagged.member_id is not null then true else false end
            as is_shared_identifier_flagged
    from members
    left join acquisition on members.member_id = acquisition.member_id
    left join best_mobile on members.member_id = best_mobile.member_id
    left join best_gender on members.member_id = best_gender.member_id
    left join best_birthday on members.member_id = best_birthday.member_id
    left join stores as acquisition_store
        on acquisition.acquisition_store_id = acquisition_store.store_id
    left join last_store_order on members.member_id = last_store_order.member_id
    left join stores as last_store on last_store_order.store_id = last_store.store_id
    left join flagged on members.member_id = flagged.member_id
)

select * from final
