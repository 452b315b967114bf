-- The signed growth-value event log up to the as-of day. A purchase earns
-- floor(paid_amount × points_per_yuan) on the day it is paid; a refund deducts, on the day it
-- is known, what the order no longer earns: floor(net × points_per_yuan) − earned (partial
-- refunds pro rata, to the point). So per order the ledger sums to floor(net × rate), and the
-- whole ledger to Σ floor(net × rate) + bonuses. A deduction leaves the growth window together
-- with the points it claws back (same expires_on), so an expired order cannot go negative.
--
--
-- A table rebuilt every night. It was incremental by member (compare tonight's entries with
-- the stored ones) until issue 21: at a million members the increment took 4.5 s, more than
-- building the whole table (< 3.5 s; benchmarks/bench_pipeline.py, one run).


with

as_of as (
    {{ member_value_as_of() }}
),

orders as (
    select * from {{ ref('int_member_value__orders') }}
),

earned as (
    select
        member_id,
        paid_at as event_at,
        'order_paid' as event_type,
        order_key,
        paid_amount as amount,
        {{ growth_points('paid_amount') }} as points,
        paid_date as earned_on
    from orders
),

deducted as (
    select
        member_id,
        refunded_at as event_at,
        'order_refund' as event_type,
        order_key,
        cast(-refund_amount_as_of as {{ type_amount() }}) as amount,
        {{ growth_points('case when net_amount_as_of > 0 then net_amount_as_of else 0 end') }}
            - {{ growth_points('paid_amount') }} as points,
        paid_date as earned_on
    from orders
    where refund_amount_as_of > 0
),

{% set bonus = var('growth_bonus_points') %}

registration_bonus as (
    select
        member_id,
        first_seen_at as event_at,
        'registration_bonus' as event_type,
        {{ dbt.safe_cast('null', dbt.type_string()) }} as order_key,
        cast(null as {{ type_amount() }}) as amount,
        cast({{ bonus.registration | int }} as bigint) as points,
        cast(first_seen_at as date) as earned_on
    from {{ ref('dim_member') }}
    where {{ bonus.registration | int }} <> 0
),

first_wecom_add as (
    select member_id, min(activity_date) as added_on
    from {{ ref('int_member_value__activity') }}
    where activity_type = 'wecom_add'
    group by member_id
),

wecom_bonus as (
    select
        member_id,
        {{ day_timestamp('added_on') }} as event_at,
        'wecom_add_bonus' as event_type,
        {{ dbt.safe_cast('null', dbt.type_string()) }} as order_key,
        cast(null as {{ type_amount() }}) as amount,
        cast({{ bonus.first_wecom_add | int }} as bigint) as points,
        added_on as earned_on
    from first_wecom_add
    where {{ bonus.first_wecom_add | int }} <> 0
),

events as (
    select * from earned
    union all
    select * from deducted
    union all
    select * from registration_bonus
    union all
    select * from wecom_bonus
),

entries as (
    select
        {{ dbt.concat(["coalesce(events.order_key, events.member_id)", "':'", "events.event_type"]) }}
            as ledger_event_id,
        events.member_id,
        events.event_at,
        cast(events.event_at as date) as event_date,
        events.event_type,
        events.order_key,
        events.amount,
        cast(events.points as bigint) as points,
        events.earned_on,
        {{ growth_expires_on('events.earned_on') }} as expires_on
    from events
    cross join as_of
    where cast(events.event_at as date) <= as_of.as_of_date
),

final as (
    select * from entries
)

select * from final
