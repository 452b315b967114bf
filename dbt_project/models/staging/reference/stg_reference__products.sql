with

source as (

    -- one file, no days: a SKU listed twice keeps its last line
    {{ latest_by_key(source('raw', 'reference__products'), ['sku']) }}

),

renamed as (

    select
        sku,
        product_name,
        category,
        cast(list_price as {{ type_amount() }}) as list_price,
        -- for gross profit in member_ltv
        cast(unit_cost as {{ type_amount() }}) as unit_cost,

        _source_file,
        _source_line,
        _ingested_at

    from source

)

select * from renamed
