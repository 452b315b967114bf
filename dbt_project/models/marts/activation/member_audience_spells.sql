-- Audience history: one row per member × audience × spell [entered_on, left_on), and the arm
-- (treated / holdout) the member was given on entering (docs/activation.md).
--
-- An ACCUMULATING STATE, not a function of raw. The audience on day d is the rules of var
-- audiences applied to member_profile as of d, and the warehouse computes the profile as of
-- one day only (tonight): reconstructing every past day would mean the whole member-value
-- stack once per day of history (at a million members and two years, ~730 M profile rows a
-- night), and it would also rewrite the past with data that arrived later (a late file, a
-- refund, a merge) — entries of members who were already tagged and couponed on the night the
-- outbox said so. What a sender did is what the lift must be measured on. So each night adds
-- its evaluation (member_audiences as of tonight) to the spells it finds:
--   * a member in tonight's list without an open spell enters (entered_on = tonight, the arm
--     from the hash of member, audience and salt: macros/activation.sql);
--   * an open spell whose member is not in tonight's list ends (left_on = tonight);
--   * spells of member ids retired by OneID follow their survivor (member_id_merges, two hops),
--     overlapping spells of one member and audience are joined (the first spell's arm wins);
--     spells of ids that are no longer members at all end tonight's state (dropped).
-- Idempotent: a night first forgets what that night (or a later one) wrote — spells entered
-- on or after tonight are dropped, spells that ended on or after tonight are open again — so
-- re-running a night rewrites exactly the same rows, and a back-dated run rewinds the history
-- to its day. A full build (one run over many days) evaluates its last day only: the history
-- starts there; a nightly sequence records each night. `--full-refresh` keeps the history
-- (full_refresh=false): it is a record of decisions, not a derivation of raw.
-- Spark (Parquet, no incremental): the state of tonight only.

-- depends_on: {{ ref('member_id_merges') }}

{{ config(
    materialized=incremental_materialization(),
    incremental_strategy='delete+insert',
    unique_key='audience_code',
    full_refresh=false,
    on_schema_change='fail',
) }}

with

as_of as (
    {{ member_value_as_of() }}
),

shares as (
    {{ audience_holdout_shares() }}
),

tonight as (
    select distinct member_id, audience_code
    from {{ ref('member_audiences') }}
),

current_members as (
    select member_id from {{ ref('dim_member') }}
),

{% if is_incremental() %}

-- what the nights before tonight left: later rows forgotten (idempotent re-runs)
stored as (
    select
        spells.member_id,
        spells.audience_code,
        spells.entered_on,
        case when spells.left_on >= as_of.as_of_date then null else spells.left_on end as left_on,
        spells.arm
    from {{ this }} as spells
    cross join as_of
    where spells.entered_on < as_of.as_of_date
),

-- the newest retirement of each retired id
merges as (
    select old_member_id, member_id
    from (
        select
            old_member_id,
            member_id,
            row_number() over (partition by old_member_id order by merged_at desc, member_id) as merge_rank
        from {{ ref('member_id_merges') }}
    ) as ranked
    where merge_rank = 1
),

hop_1 as (
    select
        case
            when current_members.member_id is not null then stored.member_id
            else coalesce(merges.member_id, stored.member_id)
        end as member_id,
        stored.audience_code, stored.entered_on, stored.left_on, stored.arm
    from stored
    left join current_members on stored.member_id = current_members.member_id
    left join merges on stored.member_id = merges.old_member_id
),

hop_2 as (
    select
        case
            when current_members.member_id is not null then hop_1.member_id
            else coalesce(merges.member_id, hop_1.member_id)
        end as member_id,
        hop_1.audience_code, hop_1.entered_on, hop_1.left_on, hop_1.arm
    from hop_1
    left join current_members on hop_1.member_id = current_members.member_id
    left join merges on hop_1.member_id = merges.old_member_id
),

remapped as (
    select hop_2.*
    from hop_2
    inner join current_members on hop_2.member_id = current_members.member_id
),

-- overlapping (or touching) spells of one member and audience after a merge become one
ordered as (
    select
        remapped.*,
        max(coalesce(left_on, cast('9999-12-31' as date))) over (
            partition by member_id, audience_code order by entered_on, arm
            rows between unbounded preceding and 1 preceding
        ) as reach_before
    from remapped
),

islands as (
    select
        ordered.*,
        sum(case when reach_before is null or entered_on > reach_before then 1 else 0 end) over (
            partition by member_id, audience_code order by entered_on, arm
            rows between unbounded preceding and current row
        ) as island
    from ordered
),

prior as (
    select
        member_id,
        audience_code,
        min(entered_on) as entered_on,
        case
            when max(case when left_on is null then 1 else 0 end) = 1 then null
            else max(left_on)
        end as left_on,
        -- the arm of the island's first spell
        substr(min({{ dbt.concat(["cast(entered_on as " ~ dbt.type_string() ~ ")", "'|'", "arm"]) }}), 12) as arm
    from islands
    group by member_id, audience_code, island
),

{% else %}

prior as (
    select
        cast(null as {{ dbt.type_string() }}) as member_id,
        cast(null as {{ dbt.type_string() }}) as audience_code,
        cast(null as date) as entered_on,
        cast(null as date) as left_on,
        cast(null as {{ dbt.type_string() }}) as arm
    where 1 = 0
),

{% endif %}

-- one pass over the spells open before tonight and tonight's list: a spell goes on (in both),
-- ends tonight (only open before) or starts tonight (only in tonight's list). (An anti-join
-- formulation, left join ... is null, lost rows under DuckDB 2.0's optimizer.)
open_or_new as (
    select
        coalesce(open_prior.member_id, tonight.member_id) as member_id,
        coalesce(open_prior.audience_code, tonight.audience_code) as audience_code,
        open_prior.entered_on,
        open_prior.arm,
        case when open_prior.member_id is not null then 1 else 0 end as was_open,
        case when tonight.member_id is not null then 1 else 0 end as is_listed
    from (select * from prior where left_on is null) as open_prior
    full outer join tonight
        on open_prior.member_id = tonight.member_id
        and open_prior.audience_code = tonight.audience_code
),

spells as (
    -- spells that had ended before tonight
    select member_id, audience_code, entered_on, left_on, arm
    from prior
    where left_on is not null
    union all
    select
        open_or_new.member_id,
        open_or_new.audience_code,
        case when open_or_new.was_open = 1 then open_or_new.entered_on else as_of.as_of_date end
            as entered_on,
        case when open_or_new.is_listed = 0 then as_of.as_of_date end as left_on,
        case
            when open_or_new.was_open = 1 then open_or_new.arm
            else {{ holdout_arm('open_or_new.audience_code', 'open_or_new.member_id', 'coalesce(shares.holdout_share, 0)') }}
        end as arm
    from open_or_new
    cross join as_of
    left join shares on open_or_new.audience_code = shares.audience_code
),

final as (
    select
        spells.member_id,
        spells.audience_code,
        cast(row_number() over (
            partition by spells.member_id, spells.audience_code order by spells.entered_on
        ) as integer) as spell_number,
        spells.entered_on,
        spells.left_on,
        spells.arm,
        case when spells.left_on is null then true else false end as is_open,
        as_of.as_of_date
    from spells
    cross join as_of
)

select * from final
