with

source as (

    -- tags belong to the contact's winning API response only (a removed tag disappears)
    {{ from_winning_parent(
        source('raw', 'wecom__external_contacts__follow_users__tags'),
        ref('stg_wecom__external_contacts'),
        ['external_userid']
    ) }}

),

renamed as (

    select
        external_userid,
        userid as staff_userid,
        position,
        group_name as tag_group_name,
        tag_name,
        -- API: 1 = enterprise tag, 2 = the staff member's personal tag, 3 = rule-based tag
        tag_type,

        _dt,
        _source_file,
        _source_line,
        _ingested_at

    from source

)

select * from renamed
