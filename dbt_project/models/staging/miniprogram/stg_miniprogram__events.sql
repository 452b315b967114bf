{%- set business_columns = ['openid', 'event', 'sku', 'event_at'] -%}

with

source as (

    -- events have no key: the whole business row is the key, so the same event delivered
    -- twice (a re-sent file under another name or day) counts once
    {{ latest_by_key(source('raw', 'miniprogram__events'), business_columns) }}

),

renamed as (

    select
        {{ surrogate_key(business_columns) }} as event_id,
        openid,
        event as event_type,
        -- the item viewed / carted / favourited; null for shares and coupon claims
        sku,
        event_at,

        _dt,
        _source_file,
        _source_line,
        _ingested_at

    from source

)

select * from renamed
