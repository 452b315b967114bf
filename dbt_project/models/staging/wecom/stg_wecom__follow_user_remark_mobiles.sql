with

source as (

    -- mobiles belong to the contact's winning API response only (a corrected number
    -- replaces the old one)
    {{ from_winning_parent(
        source('raw', 'wecom__external_contacts__follow_users__remark_mobiles'),
        ref('stg_wecom__external_contacts'),
        ['external_userid']
    ) }}

),

renamed as (

    select
        external_userid,
        userid as staff_userid,
        position,
        -- typed by staff, so often dirty: only `valid` ones carry a hash and may link members
        mobile_sha256,
        mobile_masked,
        mobile_status,

        _dt,
        _source_file,
        _source_line,
        _ingested_at

    from source

)

select * from renamed
