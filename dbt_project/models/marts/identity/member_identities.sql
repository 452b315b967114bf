-- One row per identifier: which member it belongs to. Mobiles appear only as mobile_sha256.
--
-- Incremental (macros/incremental.sql), keyed by identifier: a night rewrites only the
-- identifiers whose row differs from the stored one — new identifiers, identifiers OneID moved
-- to another member, a newer last_seen_at. Rewriting all 2.8 M rows at a million members cost
-- ≈ 4-5 s a night for a few thousand changes. The post-hook drops identifiers the OneID state
-- no longer lists (shared or forgotten ones; the post_hook below). A full
-- refresh gives the same rows.

{{ config(
    materialized=incremental_materialization(),
    incremental_strategy='delete+insert',
    unique_key=['id_type', 'id_value'],
    on_schema_change='fail',
    post_hook=[
        "{% if is_incremental() %} delete from {{ this }} as kept where not exists (select 1 from {{ source('identity', 'member_id_assignments') }} as current_state where current_state.id_type = kept.id_type and current_state.id_value = kept.id_value) {% endif %}",
    ],
) }}

with

assignments as (
    select
        member_id,
        id_type,
        id_value,
        first_seen_at,
        last_seen_at
    from {{ source('identity', 'member_id_assignments') }}
)

{% if is_incremental() %}

-- the new and changed rows are themselves the rows to write: delete+insert replaces the
-- stored row of each of their keys
select member_id, id_type, id_value, first_seen_at, last_seen_at from assignments
except
select member_id, id_type, id_value, first_seen_at, last_seen_at from {{ this }}

{% else %}

select * from assignments

{% endif %}
