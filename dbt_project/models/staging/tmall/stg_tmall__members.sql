-- Incremental on DuckDB: a night recomputes only the keys it could have changed
-- (macros/incremental.sql, latest_versions_since_last_build); same rows as a rebuild.
{{ config(
    materialized=staging_materialization(),
    incremental_strategy='delete+insert',
    unique_key='ouid',
    on_schema_change='fail',
    post_hook=[
        "{{ delete_versions_no_longer_delivered(source('raw', 'tmall__members')) }}",
    ],
) }}
-- depends_on: {{ source('raw', '_load_log') }}

with

source as (

    {{ latest_versions_since_last_build(source('raw', 'tmall__members'), ['ouid']) }}

),

renamed as (

    select
        ouid,
        -- Tmall never shows the mobile itself, only this hash (checked to be 64 hex digits
        -- at ingestion; anything else is null with mobile_status = 'invalid')
        mobile_sha256,
        mobile_status,
        joined_at as registered_at,
        -- 会员等级 1-4 is Tmall's own level, not Siyu's tier
        {{ dbt.safe_cast('member_level', dbt.type_int()) }} as tmall_member_level,

        _dt,
        _source_file,
        _source_line,
        _ingested_at

    from source

)

select * from renamed
