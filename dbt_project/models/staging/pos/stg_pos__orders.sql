-- Incremental on DuckDB: a night recomputes only the keys it could have changed
-- (macros/incremental.sql, latest_versions_since_last_build); same rows as a rebuild.
{{ config(
    materialized=staging_materialization(),
    incremental_strategy='delete+insert',
    unique_key='order_id',
    on_schema_change='fail',
    post_hook=[
        "{{ delete_versions_no_longer_delivered(source('raw', 'pos__orders')) }}",
    ],
) }}
-- depends_on: {{ source('raw', '_load_log') }}

with

source as (

    {{ latest_versions_since_last_build(source('raw', 'pos__orders'), ['order_id']) }}

),

renamed as (

    select
        order_id,
        store_id,
        -- empty card number = guest purchase
        member_card_no,
        order_time as ordered_at,
        -- a till takes the money at checkout: paid when ordered
        order_time as paid_at,

        -- a receipt is final once printed; a return is a receipt of its own (negative
        -- amounts, original_order_id names the sale), told apart by order_type
        'completed' as order_status,
        order_type as source_status,
        order_type,
        original_order_id,

        cast(total_amount as {{ type_amount() }}) as gross_amount,
        cast(discount_amount as {{ type_amount() }}) as discount_amount,
        cast(paid_amount as {{ type_amount() }}) as paid_amount,
        payment_method,

        _dt,
        _source_file,
        _source_line,
        _ingested_at

    from source

)

select * from renamed
