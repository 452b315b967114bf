-- Incremental on DuckDB: a night recomputes only the keys it could have changed
-- (macros/incremental.sql, latest_versions_since_last_build); same rows as a rebuild.
{{ config(
    materialized=staging_materialization(),
    incremental_strategy='delete+insert',
    unique_key='order_id',
    on_schema_change='fail',
) }}

with

source as (

    -- line files have no parent line to follow: an order's lines come from its newest
    -- delivery as a whole, so a line dropped in a re-delivery disappears
    {{ latest_versions_since_last_build(source('raw', 'pos__order_items'), ['order_id', 'line_no'], group_columns=['order_id']) }}

),

renamed as (

    select
        order_id,
        line_no,
        sku,
        quantity,
        cast(unit_price as {{ type_amount() }}) as unit_price,
        cast(line_amount as {{ type_amount() }}) as line_amount,

        _dt,
        _source_file,
        _source_line,
        _ingested_at

    from source

)

select * from renamed
