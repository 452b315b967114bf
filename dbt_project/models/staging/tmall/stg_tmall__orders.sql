-- Incremental on DuckDB: a night recomputes only the keys it could have changed
-- (macros/incremental.sql, latest_versions_since_last_build); same rows as a rebuild.
{{ config(
    materialized=staging_materialization(),
    incremental_strategy='delete+insert',
    unique_key='order_id',
    on_schema_change='fail',
    post_hook=[
        "{{ delete_versions_no_longer_delivered(source('raw', 'tmall__orders')) }}",
    ],
) }}
-- depends_on: {{ source('raw', '_load_log') }}

with

source as (

    {{ latest_versions_since_last_build(source('raw', 'tmall__orders'), ['order_id']) }}

),

renamed as (

    select
        order_id,
        -- null for buyers who are not brand members
        ouid,
        shop_name,
        receiver_mobile_masked,
        created_at as ordered_at,
        paid_at,

        order_status as source_status,
        cast(payable_amount as {{ type_amount() }}) as payable_amount,
        cast(paid_amount as {{ type_amount() }}) as paid_amount,
        cast(coalesce(refund_amount, 0) as {{ type_amount() }}) as refund_amount,

        _dt,
        _source_file,
        _source_line,
        _ingested_at

    from source

),

final as (

    select
        order_id,
        ouid,
        shop_name,
        receiver_mobile_masked,
        ordered_at,
        paid_at,
        -- Qianniu has no refund status of its own: a refund shows as 退款金额 > 0 on a
        -- 交易成功 (after-sale refund) or 交易关闭 (closed by a refund) order
        case
            when source_status = '等待买家付款' then 'pending'
            when source_status = '买家已付款，等待卖家发货' then 'paid'
            when source_status = '卖家已发货，等待买家确认' then 'shipped'
            when source_status = '交易成功' and refund_amount > 0 and refund_amount >= paid_amount
                then 'refunded'
            when source_status = '交易成功' and refund_amount > 0 then 'partially_refunded'
            when source_status = '交易成功' then 'completed'
            -- a closed order with money back was paid, then refunded (often less postage)
            when source_status = '交易关闭' and refund_amount > 0 then 'refunded'
            when source_status = '交易关闭' then 'closed'
        end as order_status,
        source_status,
        payable_amount,
        paid_amount,
        refund_amount,

        _dt,
        _source_file,
        _source_line,
        _ingested_at

    from renamed

)

select * from final
