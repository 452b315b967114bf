-- The member GMV driver tree by month × channel (channel 'all' = every channel together):
--   GMV = members × retention_rate × conversion_rate × repurchase_count × average_order_value
--   members             member base: members first seen by the end of the month
--   retention_rate      active members (a purchase, mini-program event or WeCom add that
--                       month) / members
--   conversion_rate     members who bought in the channel that month / active members
--   repurchase_count    the channel's orders / its buyers
--   average_order_value GMV / orders
-- GMV is the paid amount of members' orders paid that month (refunds are not deducted: GMV is
-- what was sold). Each ratio's denominator is the previous factor's numerator, so the product
-- telescopes to GMV (up to floating-point rounding; tested).
-- Month-over-month contributions split the GMV change across the five factors with the
-- logarithmic mean (LMDI): contribution_i = L(GMV_t, GMV_t-1) × ln(f_i,t / f_i,t-1), which
-- sums to the change exactly; null when a factor is 0 in either month.
-- The as-of month is partial (up to as_of_date).

{% set factors = ['members', 'retention_rate', 'conversion_rate', 'repurchase_count', 'average_order_value'] %}

with

as_of as (
    {{ member_value_as_of() }}
),

orders as (
    select member_id, channel, {{ dbt.date_trunc('month', 'paid_date') }} as month_start,
           paid_amount
    from {{ ref('int_member_value__orders') }}
),

channel_orders as (
    select member_id, channel, month_start, paid_amount from orders
    union all
    select member_id, 'all', month_start, paid_amount from orders
),

sales as (
    select
        channel,
        cast(month_start as date) as month_start,
        count(distinct member_id) as buyers,
        count(*) as orders,
        sum(paid_amount) as gmv
    from channel_orders
    group by channel, cast(month_start as date)
),

months as (
    select distinct month_start from sales
),

member_base as (
    select months.month_start, count(members.member_id) as members
    from months
    inner join {{ ref('dim_member') }} as members
        on cast(members.first_seen_at as date)
            < {{ dbt.dateadd('month', 1, 'months.month_start') }}
    cross join as_of
    where cast(members.first_seen_at as date) <= as_of.as_of_date
    group by months.month_start
),

active as (
    select cast({{ dbt.date_trunc('month', 'activity_date') }} as date) as month_start,
           count(distinct member_id) as active_members
    from {{ ref('int_member_value__activity') }}
    group by cast({{ dbt.date_trunc('month', 'activity_date') }} as date)
),

tree as (
    select
        sales.month_start as month,
        sales.channel,
        cast(sales.gmv as {{ type_amount() }}) as gmv,
        cast(member_base.members as bigint) as members,
        cast(active.active_members as bigint) as active_members,
        cast(sales.buyers as bigint) as buyers,
        cast(sales.orders as bigint) as orders,
        cast(active.active_members as double) / member_base.members as retention_rate,
        cast(sales.buyers as double) / active.active_members as conversion_rate,
        cast(sales.orders as double) / sales.buyers as repurchase_count,
        cast(sales.gmv as double) / sales.orders as average_order_value
    from sales
    inner join member_base on sales.month_start = member_base.month_start
    inner join active on sales.month_start = active.month_start
),

with_previous as (
    select
        tree.*,
        lag(tree.month) over (partition by tree.channel order by tree.month) as previous_month,
        lag(cast(tree.gmv as double)) over (partition by tree.channel order by tree.month)
            as previous_gmv
        {%- for f in factors %},
        lag(cast(tree.{{ f }} as double)) over (partition by tree.channel order by tree.month)
            as previous_{{ f }}
        {%- endfor %}
    from tree
),

-- contributions only between consecutive months
comparable as (
    select
        with_previous.*,
        case
            when previous_month = cast({{ dbt.dateadd('month', -1, 'month') }} as date)
                and previous_gmv > 0 and gmv > 0
                {%- for f in factors %}
                and previous_{{ f }} > 0 and {{ f }} > 0
                {%- endfor %}
            then case
                when cast(gmv as double) = previous_gmv then previous_gmv
                else (cast(gmv as double) - previous_gmv) / (ln(cast(gmv as double)) - ln(previous_gmv))
            end
        end as log_mean_gmv
    from with_previous
),

final as (
    select
        month,
        channel,
        gmv,
        members,
        active_members,
        buyers,
        orders,
        retention_rate,
        conversion_rate,
        repurchase_count,
        average_order_value,
        case
            when previous_month = cast({{ dbt.dateadd('month', -1, 'month') }} as date)
                then cast(gmv as double) - previous_gmv
        end as gmv_change_mom
        {%- for f in factors %},
        log_mean_gmv * ln(cast({{ f }} as double) / previous_{{ f }}) as {{ f }}_contribution_mom
        {%- endfor %},
        case when month = cast({{ dbt.date_trunc('month', 'as_of.as_of_date') }} as date)
             then false else true end as is_complete_month
    from comparable
    cross join as_of
)

select * from final
