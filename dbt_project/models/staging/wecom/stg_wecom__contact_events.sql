{%- set business_columns = ['change_type', 'userid', 'external_userid', 'state', 'event_at'] -%}

with

source as (

    -- callbacks have no id: the whole business row is the key, so a callback delivered
    -- twice counts once
    {{ latest_by_key(source('raw', 'wecom__contact_events'), business_columns) }}

),

renamed as (

    select
        {{ surrogate_key(business_columns) }} as event_id,
        change_type,
        userid as staff_userid,
        external_userid,
        state,
        {{ store_id_from_state('state') }} as store_id,
        event_at,

        _dt,
        _source_file,
        _source_line,
        _ingested_at

    from source

)

select * from renamed
