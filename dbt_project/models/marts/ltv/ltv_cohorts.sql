-- Monthly acquisition cohorts: one row per cohort month × acquisition channel × months since
-- acquisition, plus acquisition_channel = 'all' for every cohort across channels. A member's
-- cohort is the month of the first paid order (int_ltv__member_history). Offsets run from 0 to
-- the oldest cohort's last complete month, so the result is the usual triangle: a cell whose
-- calendar month ends after the as-of date is not fully observed and keeps null measures
-- (never extrapolated). Per-member measures divide by the whole cohort, members who spent
-- nothing (or got everything refunded) included.

with

as_of as (
    select max(as_of_date) as as_of_date from {{ ref('int_ltv__member_history') }}
),

as_of_month as (
    select
        extract(year from as_of_date) * 12
            + extract(month from as_of_date) as as_of_month_index,
        -- the as-of month counts as complete only when the as-of date is its last day
        case
            when extract(day from cast({{ dbt.dateadd('day', 1, 'as_of_date') }} as date)) = 1 then 0
            else 1
        end as incomplete_months
    from as_of
),

observed as (
    select as_of_month_index - incomplete_months as last_complete_month_index
    from as_of_month
),

members as (
    select
        member_id,
        acquisition_channel,
        cast({{ dbt.date_trunc('month', 'first_order_at') }} as date) as cohort_month,
        extract(year from first_order_at) * 12
            + extract(month from first_order_at) as cohort_month_index
    from {{ ref('int_ltv__member_history') }}
),

member_segments as (
    select member_id, cohort_month, cohort_month_index, acquisition_channel from members
    union all
    select member_id, cohort_month, cohort_month_index, 'all' as acquisition_channel from members
),

purchases as (
    select
        margin.member_id,
        extract(year from margin.ordered_at) * 12
            + extract(month from margin.ordered_at) as order_month_index,
        margin.net_revenue,
        margin.gross_profit
    from {{ ref('int_ltv__order_margin') }} as margin
    cross join as_of
    where margin.member_id is not null
        and margin.paid_amount > 0
        and cast(margin.ordered_at as date) <= as_of.as_of_date
),

cohorts as (
    select cohort_month, cohort_month_index, acquisition_channel, count(*) as cohort_size
    from member_segments
    group by cohort_month, cohort_month_index, acquisition_channel
),

digits as (
    select 0 as d union all select 1 union all select 2 union all select 3 union all select 4
    union all select 5 union all select 6 union all select 7 union all select 8
    union all select 9
),

-- 0..999 months; the grid keeps only those up to the oldest cohort's last complete month
numbers as (
    select ones.d + 10 * tens.d + 100 * hundreds.d as n
    from digits as ones
    cross join digits as tens
    cross join digits as hundreds
),

max_offset as (
    select
        case
            when observed.last_complete_month_index - min(cohorts.cohort_month_index) > 0
                then observed.last_complete_month_index - min(cohorts.cohort_month_index)
            else 0
        end as max_months_since_acquisition
    from cohorts
    cross join observed
    group by observed.last_complete_month_index
),

grid as (
    select
        cohorts.cohort_month,
        cohorts.cohort_month_index,
        cohorts.acquisition_channel,
        cohorts.cohort_size,
        numbers.n as months_since_acquisition,
        case
            when cohorts.cohort_month_index + numbers.n <= observed.last_complete_month_index
                then true
            else false
        end as is_fully_observed
    from cohorts
    cross join max_offset
    cross join observed
    inner join numbers
        on numbers.n <= max_offset.max_months_since_acquisition
),

activity as (
    select
        member_segments.cohort_month,
        member_segments.acquisition_channel,
        purchases.order_month_index - member_segments.cohort_month_index
            as months_since_acquisition,
        count(distinct purchases.member_id) as members_active,
        sum(purchases.net_revenue) as net_revenue,
        sum(purchases.gross_profit) as gross_profit
    from purchases
    inner join member_segments
        on purchases.member_id = member_segments.member_id
    group by
        member_segments.cohort_month,
        member_segments.acquisition_channel,
        purchases.order_month_index - member_segments.cohort_month_index
),

cumulative as (
    select
        grid.cohort_month,
        grid.acquisition_channel,
        grid.months_since_acquisition,
        grid.cohort_size,
        grid.is_fully_observed,
        coalesce(activity.members_active, 0) as members_active,
        sum(coalesce(activity.net_revenue, 0)) over (
            partition by grid.cohort_month, grid.acquisition_channel
            order by grid.months_since_acquisition
            rows between unbounded preceding and current row
        ) as cumulative_net_revenue,
        sum(coalesce(activity.gross_profit, 0)) over (
            partition by grid.cohort_month, grid.acquisition_channel
            order by grid.months_since_acquisition
            rows between unbounded preceding and current row
        ) as cumulative_gross_profit
    from grid
    left join activity
        on grid.cohort_month = activity.cohort_month
        and grid.acquisition_channel = activity.acquisition_channel
        and grid.months_since_acquisition = activity.months_since_acquisition
),

final as (
    select
        cohort_month,
        acquisition_channel,
        months_since_acquisition,
        cohort_size,
        is_fully_observed,
        case when is_fully_observed then members_active end as members_active,
        case when is_fully_observed
            then cast(cast(members_active as double) / cohort_size as double)
        end as retention_rate,
        case when is_fully_observed
            then cast(cumulative_net_revenue as {{ type_amount() }})
        end as cumulative_net_revenue,
        case when is_fully_observed
            then cast(cumulative_net_revenue / cohort_size as {{ type_amount() }})
        end as cumulative_net_revenue_per_member,
        case when is_fully_observed
            then cast(cumulative_gross_profit / cohort_size as {{ type_amount() }})
        end as cumulative_gross_profit_per_member
    from cumulative
)

select * from final
