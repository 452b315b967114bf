-- Incremental on DuckDB: a night recomputes only the keys it could have changed
-- (macros/incremental.sql, latest_versions_since_last_build); same rows as a rebuild.
{{ config(
    materialized=staging_materialization(),
    incremental_strategy='delete+insert',
    unique_key='order_id',
    on_schema_change='fail',
    post_hook=[
        "{{ delete_versions_no_longer_delivered(source('raw', 'miniprogram__orders')) }}",
    ],
) }}
-- depends_on: {{ source('raw', '_load_log') }}

with

source as (

    {{ latest_versions_since_last_build(source('raw', 'miniprogram__orders'), {'order_no': 'order_id'}) }}

),

renamed as (

    select
        order_no as order_id,
        openid,
        -- set when the order was placed from a store's QR code
        store_id,
        created_at as ordered_at,
        paid_at,

        case status
            when 'NOTPAY' then 'pending'
            when 'PAID' then 'paid'
            when 'REFUND' then 'refunded'
            when 'PARTIAL_REFUND' then 'partially_refunded'
            when 'CLOSED' then 'closed'
        end as order_status,
        status as source_status,

        -- WeChat Pay reports integer fen; the warehouse speaks yuan. Missing optional fees
        -- (no discount, not paid, no refund) are zero.
        {{ fen_to_yuan('total_fee') }} as gross_amount,
        {{ fen_to_yuan('coalesce(discount_fee, 0)') }} as discount_amount,
        {{ fen_to_yuan('coalesce(payer_total, 0)') }} as paid_amount,
        {{ fen_to_yuan('coalesce(refund_fee, 0)') }} as refund_amount,

        _dt,
        _source_file,
        _source_line,
        _ingested_at

    from source

)

select * from renamed
