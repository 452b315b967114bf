-- Incremental on DuckDB: a night recomputes only the keys it could have changed
-- (macros/incremental.sql, latest_versions_since_last_build); same rows as a rebuild.
{{ config(
    materialized=staging_materialization(),
    incremental_strategy='delete+insert',
    unique_key='order_id',
    on_schema_change='fail',
    post_hook=[
        "{{ delete_versions_no_longer_delivered(source('raw', 'pos__order_items')) }}",
    ],
) }}
-- depends_on: {{ source('raw', '_load_log') }}

with

source as (

    -- line files have no parent line to follow: an order's lines come from its newest
    -- delivery as a whole, so a line dropped in a re-delivery disappears
    {{ latest_versions_since_last_build(source('raw', 'pos__order_items'), ['order_id', 'line_no'], group_columns=['order_id']) }}

),

renamed as (

    -- One sign convention for return lines: tills export a returned line either as a negative
    -- quantity at a positive price or as a positive quantity at a negative price (both are the
    -- landing contract's "negative amounts"; ingestion quarantines a line negative in both).
    -- Here a line is a return line when any of the three is negative, and then the quantity
    -- and the amount carry the minus sign, the unit price never does: Σ quantity × unit_cost
    -- then reverses the cost of goods whichever way the till wrote it.
    select
        order_id,
        line_no,
        sku,
        case when is_return_line then -abs(quantity) else quantity end as quantity,
        cast(abs(unit_price) as {{ type_amount() }}) as unit_price,
        cast(case when is_return_line then -abs(line_amount) else line_amount end
             as {{ type_amount() }}) as line_amount,

        _dt,
        _source_file,
        _source_line,
        _ingested_at

    from (
        select *, (quantity < 0 or unit_price < 0 or line_amount < 0) as is_return_line
        from source
    ) as signed

)

select * from renamed
