-- The links used for clustering: every link whose two ends are not flagged as shared.
-- Read by the identity asset (Python, connected components) as Arrow.
--
-- A view on DuckDB: a plain filter of `int_identity__links`. At 1M members writing it
-- cost ≈ 1.5 s a night, computing it ≈ 0.35 s, and it is computed ≈ 5 times (its tests, the
-- row count on the Dagster asset, the identity asset's read). A table on Spark, where views
-- add planning time to every reader.

{{ config(materialized='view' if target.type == 'duckdb' else 'table') }}

with

links as (
    select * from {{ ref('int_identity__links') }}
),

shared as (
    select id_type, id_value from {{ ref('int_identity__shared_identifiers') }}
),

final as (
    select
        links.left_type,
        links.left_value,
        links.right_type,
        links.right_value,
        links.link_source as source,
        links.first_seen_at,
        links.last_seen_at
    from links
    left join shared as shared_left
        on links.left_type = shared_left.id_type and links.left_value = shared_left.id_value
    left join shared as shared_right
        on links.right_type = shared_right.id_type and links.right_value = shared_right.id_value
    where shared_left.id_value is null and shared_right.id_value is null
)

select * from final
