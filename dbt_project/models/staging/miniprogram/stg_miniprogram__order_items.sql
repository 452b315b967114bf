with

source as (

    -- items are nested in the order line: keep only the items of the order's winning
    -- delivery, so an order re-delivered with other items does not keep the old ones
    {{ from_winning_parent(
        source('raw', 'miniprogram__orders__items'),
        ref('stg_miniprogram__orders'),
        {'order_no': 'order_id'}
    ) }}

),

renamed as (

    select
        order_no as order_id,
        position as line_no,
        sku,
        quantity,
        {{ fen_to_yuan('price') }} as unit_price,
        cast(quantity * {{ fen_to_yuan('price') }} as {{ type_amount() }}) as line_amount,

        _dt,
        _source_file,
        _source_line,
        _ingested_at

    from source

)

select * from renamed
