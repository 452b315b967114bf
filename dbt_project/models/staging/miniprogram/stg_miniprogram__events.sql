{%- set business_columns = ['openid', 'event', 'sku', 'event_at'] -%}

-- The one staging model that is a table: events are the largest landing entity (about 16k a
-- day per million members) and their de-duplication needs a window over every delivery.
-- Incremental (macros/incremental.sql): a night reads only the raw rows ingested since the
-- last build and replaces an event only by a delivery at least as new as the one kept. The
-- post_hook below drops events a re-ingested day no longer delivers.

{{ config(
    materialized=incremental_materialization(),
    incremental_strategy='delete+insert',
    unique_key='event_id',
    on_schema_change='fail',
    post_hook=[
        "{{ delete_versions_no_longer_delivered(source('raw', 'miniprogram__events')) }}",
    ],
) }}
-- depends_on: {{ source('raw', '_load_log') }}

with

{% if is_incremental() %}
delivered as (
    select * from {{ source('raw', 'miniprogram__events') }}
    where {{ ingested_since_last_build() }}
),
{% endif %}

source as (

    -- events have no key: the whole business row is the key, so the same event delivered
    -- twice (a re-sent file under another name or day) counts once
    {% if is_incremental() %}
    {{ latest_by_key('delivered', business_columns) }}
    {% else %}
    {{ latest_by_key(source('raw', 'miniprogram__events'), business_columns) }}
    {% endif %}

),

renamed as (

    select
        {{ surrogate_key(business_columns) }} as event_id,
        openid,
        event as event_type,
        -- the item viewed / carted / favourited; null for shares and coupon claims
        sku,
        event_at,

        _dt,
        _source_file,
        _source_line,
        _ingested_at

    from source

),

final as (

    select renamed.*
    from renamed
    {% if is_incremental() %}
    -- re-running an older day must not replace a newer delivery of the same event
    where not exists (
        select 1 from {{ this }} as kept
        where kept.event_id = renamed.event_id
            and (kept._dt > renamed._dt
                 or (kept._dt = renamed._dt and kept._source_file > renamed._source_file))
    )
    {% endif %}

)

select * from final
