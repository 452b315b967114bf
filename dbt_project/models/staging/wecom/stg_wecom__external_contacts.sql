-- Incremental on DuckDB: a night recomputes only the keys it could have changed
-- (macros/incremental.sql, latest_versions_since_last_build); same rows as a rebuild.
{{ config(
    materialized=staging_materialization(),
    incremental_strategy='delete+insert',
    unique_key='external_userid',
    on_schema_change='fail',
    post_hook=[
        "{{ delete_versions_no_longer_delivered(source('raw', 'wecom__external_contacts')) }}",
    ],
) }}
-- depends_on: {{ source('raw', '_load_log') }}

with

source as (

    {{ latest_versions_since_last_build(source('raw', 'wecom__external_contacts'), ['external_userid']) }}

),

renamed as (

    select
        external_userid,
        -- WeChat's unionid: the bridge to mini-program users; absent for WeCom-to-WeCom contacts
        unionid,
        -- API: 1 = a WeChat user, 2 = a WeCom user (another company's employee)
        case contact_type
            when 1 then 'wechat'
            when 2 then 'wecom'
            else 'unknown'
        end as contact_type,
        -- API: 0 unknown, 1 male, 2 female
        case gender
            when 1 then 'male'
            when 2 then 'female'
            else 'unknown'
        end as gender,

        _dt,
        _source_file,
        _source_line,
        _ingested_at

    from source

)

select * from renamed
