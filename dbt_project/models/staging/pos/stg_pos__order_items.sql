with

source as (

    -- line files have no parent line to follow: an order's lines come from its newest
    -- delivery as a whole, so a line dropped in a re-delivery disappears
    {{ latest_delivery_by_group(source('raw', 'pos__order_items'), ['order_id'], ['order_id', 'line_no']) }}

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
