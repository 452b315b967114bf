-- One row per member who has purchased (a member's order with paid_amount > 0) up to the
-- as-of date: historical value after refunds, first/last purchase, tenure and the member's
-- acquisition channel. The as-of date is var('as_of_date'), by default the last order day in
-- fct_orders; purchases after it are ignored, so a back-dated run reproduces a past state.

with

as_of as (
    {% if var('as_of_date', none) %}
    select cast('{{ var("as_of_date") }}' as date) as as_of_date
    {% else %}
    select max(cast(ordered_at as date)) as as_of_date from {{ ref('fct_orders') }}
    {% endif %}
),

purchases as (
    select
        margin.member_id,
        margin.ordered_at,
        margin.net_revenue,
        margin.gross_profit
    from {{ ref('int_ltv__order_margin') }} as margin
    cross join as_of
    where margin.member_id is not null
        and margin.paid_amount > 0
        and cast(margin.ordered_at as date) <= as_of.as_of_date
),

members as (
    select member_id, acquisition_channel from {{ ref('dim_member') }}
),

history as (
    select
        member_id,
        cast(sum(net_revenue) as {{ type_amount() }}) as historical_net_revenue,
        cast(sum(gross_profit) as {{ type_amount() }}) as historical_gross_profit,
        min(ordered_at) as first_order_at,
        max(ordered_at) as last_order_at,
        count(*) as orders
    from purchases
    group by member_id
),

final as (
    select
        history.member_id,
        as_of.as_of_date,
        history.historical_net_revenue,
        history.historical_gross_profit,
        history.first_order_at,
        history.last_order_at,
        cast(history.orders as bigint) as orders,
        cast(
            {{ dbt.datediff('cast(history.first_order_at as date)', 'as_of.as_of_date', 'day') }}
            as integer
        ) as tenure_days,
        coalesce(members.acquisition_channel, 'unknown') as acquisition_channel
    from history
    cross join as_of
    left join members
        on history.member_id = members.member_id
)

select * from final
