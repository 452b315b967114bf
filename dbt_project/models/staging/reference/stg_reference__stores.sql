with

source as (

    -- one file, no days: a store listed twice keeps its last line
    {{ latest_by_key(source('raw', 'reference__stores'), ['store_id']) }}

),

renamed as (

    select
        store_id,
        store_name,
        city,
        province,
        opened_at,

        _source_file,
        _source_line,
        _ingested_at

    from source

)

select * from renamed
