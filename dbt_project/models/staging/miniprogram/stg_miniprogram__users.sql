with

source as (

    {{ latest_by_key(source('raw', 'miniprogram__users'), ['openid']) }}

),

renamed as (

    select
        openid,
        -- null for users who joined before the mini-program was bound to the Open Platform
        unionid,
        mobile_sha256,
        mobile_masked,
        mobile_status,
        country_code,
        -- personal data (WeChat nickname), never carried into marts
        nickname,
        created_at as registered_at,

        _dt,
        _source_file,
        _source_line,
        _ingested_at

    from source

)

select * from renamed
