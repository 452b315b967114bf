-- The identifiers that become members: everything seen except flagged shared identifiers
-- (a counter phone is nobody). Read by the identity asset together with the edges.
--
-- A view on DuckDB: a plain filter of `int_identity__identifiers`. At 1M members writing it
-- cost ≈ 1.5 s a night, computing it ≈ 0.35 s, and it is computed ≈ 5 times (its tests, the
-- row count on the Dagster asset, the identity asset's read). A table on Spark, where views
-- add planning time to every reader.

{{ config(materialized='view' if target.type == 'duckdb' else 'table') }}

with

identifiers as (
    select * from {{ ref('int_identity__identifiers') }}
),

shared as (
    select id_type, id_value from {{ ref('int_identity__shared_identifiers') }}
),

final as (
    select
        identifiers.id_type,
        identifiers.id_value,
        identifiers.first_seen_at,
        identifiers.last_seen_at,
        identifiers.first_dt
    from identifiers
    left join shared
        on identifiers.id_type = shared.id_type and identifiers.id_value = shared.id_value
    where shared.id_value is null
)

select * from final
