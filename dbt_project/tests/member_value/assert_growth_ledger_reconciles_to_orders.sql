-- The growth ledger reconciles with the orders it is built from: for every member, the
-- order points equal Σ floor(max(net, 0) × points_per_yuan) over the member's purchases
-- (net as known on the as-of day), and the bonuses equal their configured points. Returns
-- the members where either differs.

with

ledger as (
    select
        member_id,
        sum(case when order_key is not null then points else 0 end) as order_points,
        sum(case when event_type = 'registration_bonus' then points else 0 end) as registration_points,
        sum(case when event_type = 'wecom_add_bonus' then points else 0 end) as wecom_points,
        sum(case when event_type = 'registration_bonus' then 1 else 0 end) as registrations
    from {{ ref('member_growth_ledger') }}
    group by member_id
),

orders as (
    select
        member_id,
        sum({{ growth_points('case when net_amount_as_of > 0 then net_amount_as_of else 0 end') }})
            as expected_points
    from {{ ref('int_member_value__orders') }}
    group by member_id
)

select
    coalesce(ledger.member_id, orders.member_id) as member_id,
    ledger.order_points,
    orders.expected_points
from ledger
full outer join orders on ledger.member_id = orders.member_id
where coalesce(ledger.order_points, 0) <> coalesce(orders.expected_points, 0)
    or ledger.registration_points <> ledger.registrations * {{ var('growth_bonus_points').registration | int }}
