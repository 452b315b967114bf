-- One row per identifier: which member it belongs to. Mobiles appear only as mobile_sha256.
--
-- A table rebuilt every night (a copy of the OneID state). It was incremental (rewrite the
-- identifiers whose row changed) until issue 21: at a million members the increment took
-- 3.1 s against < 3.5 s for the whole table (benchmarks/bench_pipeline.py, one run).

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

select * from assignments
