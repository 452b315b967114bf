-- Incremental on DuckDB: a night recomputes only the keys it could have changed
-- (macros/incremental.sql, latest_versions_since_last_build); same rows as a rebuild.
{{ config(
    materialized=staging_materialization(),
    incremental_strategy='delete+insert',
    unique_key='member_card_no',
    on_schema_change='fail',
    post_hook=[
        "{{ delete_versions_no_longer_delivered(source('raw', 'pos__members')) }}",
    ],
) }}
-- depends_on: {{ source('raw', '_load_log') }}

with

source as (

    {{ latest_versions_since_last_build(source('raw', 'pos__members'), ['member_card_no']) }}

),

renamed as (

    select
        member_card_no,
        mobile_sha256,
        mobile_masked,
        mobile_status,
        -- keyed hash of the name (the name itself never enters the warehouse): the couple
        -- rule compares it for equality only (int_identity__shared_identifiers)
        name_hash as member_name_hash,
        case gender
            when 'M' then 'male'
            when 'F' then 'female'
            else 'unknown'
        end as gender,
        birthday,
        store_id as registered_store_id,
        registered_at,

        _dt,
        _source_file,
        _source_line,
        _ingested_at

    from source

)

select * from renamed
