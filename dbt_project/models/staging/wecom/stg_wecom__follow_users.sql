with

source as (

    -- follow users are nested in the contact's API response: keep those of the contact's
    -- winning response, so a staff member who later dropped the contact disappears
    {{ from_winning_parent(
        source('raw', 'wecom__external_contacts__follow_users'),
        ref('stg_wecom__external_contacts'),
        ['external_userid']
    ) }}

),

deduplicated as (

    -- the API lists each staff member once; should a response repeat one, the last entry
    -- wins so (external_userid, staff_userid) stays a key for the tag and mobile tables
    select *
    from (
        select
            source.*,
            row_number() over (
                partition by external_userid, userid
                order by position desc
            ) as _entry_rank
        from source
    ) as ranked
    where _entry_rank = 1

),

renamed as (

    select
        external_userid,
        userid as staff_userid,
        position,
        created_at as added_at,
        -- API contact-way code (how the contact was added: QR code, search, share, ...)
        add_way,
        -- the contact-way `state` set on the QR code; `store_<id>` marks a store's code
        state,
        {{ store_id_from_state('state') }} as store_id,

        _dt,
        _source_file,
        _source_line,
        _ingested_at

    from deduplicated

)

select * from renamed
