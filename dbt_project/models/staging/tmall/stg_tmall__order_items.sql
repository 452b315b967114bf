-- Incremental on DuckDB: a night recomputes only the keys it could have changed
-- (macros/incremental.sql, latest_versions_since_last_build); same rows as a rebuild.
{{ config(
    materialized=staging_materialization(),
    incremental_strategy='delete+insert',
    unique_key='order_id',
    on_schema_change='fail',
    post_hook=[
        "{{ delete_versions_no_longer_delivered(source('raw', 'tmall__order_items')) }}",
    ],
) }}
-- depends_on: {{ source('raw', '_load_log') }}

with

source as (

    -- line files have no parent line to follow: an order's lines come from its newest
    -- delivery as a whole, so a line dropped in a re-delivery disappears
    {{ latest_versions_since_last_build(source('raw', 'tmall__order_items'), ['order_id', 'sku'], group_columns=['order_id']) }}

),

renamed as (

    select
        order_id,
        sku,
        product_title,
        quantity,
        cast(price as {{ type_amount() }}) as unit_price,
        -- Qianniu exports the unit price only
        cast(quantity * price as {{ type_amount() }}) as line_amount,
        -- 退款状态 as exported (free text, e.g. 退款成功), empty when no refund
        refund_status,

        _dt,
        _source_file,
        _source_line,
        _ingested_at

    from source

)

select * from renamed
