-- Orders of the three selling channels in one shape, amounts in yuan. A POS return is not an
-- order of its own: it refunds the sale it names (original_order_id). A return whose sale is
-- not in the warehouse (sold before the first loaded day) stays a row of its own so that
-- totals still reconcile with staging.

with

pos_orders as (
    select * from {{ ref('stg_pos__orders') }}
),

pos_returns as (
    select
        original_order_id,
        -- returns carry negative amounts
        cast(-sum(paid_amount) as {{ type_amount() }}) as refund_amount,
        max(ordered_at) as last_refund_at,
        -- the day the newest return was delivered: it changes the sale it refunds
        max(_dt) as last_return_dt
    from pos_orders
    where order_type = 'return' and original_order_id is not null
    group by original_order_id
),

pos_sales as (
    select
        'pos' as channel,
        sales.order_id as source_order_id,
        'pos_card' as buyer_id_type,
        sales.member_card_no as buyer_id_value,
        sales.store_id,
        sales.ordered_at,
        sales.paid_at,
        case
            when pos_returns.refund_amount >= sales.paid_amount then 'refunded'
            when pos_returns.refund_amount > 0 then 'partially_refunded'
            else 'completed'
        end as order_status,
        sales.gross_amount,
        sales.discount_amount,
        sales.paid_amount,
        coalesce(pos_returns.refund_amount, 0) as refund_amount,
        pos_returns.last_refund_at as refunded_at,
        case
            when pos_returns.last_return_dt > sales._dt then pos_returns.last_return_dt
            else sales._dt
        end as _dt
    from pos_orders as sales
    left join pos_returns
        on sales.order_id = pos_returns.original_order_id
    where sales.order_type = 'sale'
),

pos_orphan_returns as (
    select
        'pos' as channel,
        returns.order_id as source_order_id,
        'pos_card' as buyer_id_type,
        returns.member_card_no as buyer_id_value,
        returns.store_id,
        returns.ordered_at,
        returns.paid_at,
        'refunded' as order_status,
        returns.gross_amount,
        returns.discount_amount,
        returns.paid_amount,
        cast(0 as {{ type_amount() }}) as refund_amount,
        returns.ordered_at as refunded_at,
        returns._dt
    from pos_orders as returns
    left join pos_orders as sales
        on returns.original_order_id = sales.order_id and sales.order_type = 'sale'
    where returns.order_type = 'return' and sales.order_id is null
),

tmall_orders as (
    select
        'tmall' as channel,
        order_id as source_order_id,
        'tmall_ouid' as buyer_id_type,
        ouid as buyer_id_value,
        {{ dbt.safe_cast('null', dbt.type_string()) }} as store_id,
        ordered_at,
        paid_at,
        order_status,
        payable_amount as gross_amount,
        case when paid_at is null then cast(0 as {{ type_amount() }})
             else cast(payable_amount - paid_amount as {{ type_amount() }}) end as discount_amount,
        case when paid_at is null then cast(0 as {{ type_amount() }})
             else paid_amount end as paid_amount,
        refund_amount,
        -- no refund time in the export: the refund is dated by the delivery that shows it
        case when refund_amount > 0 then {{ day_timestamp('_dt') }} end as refunded_at,
        _dt
    from {{ ref('stg_tmall__orders') }}
),

miniprogram_orders as (
    select
        'miniprogram' as channel,
        order_id as source_order_id,
        'mp_openid' as buyer_id_type,
        openid as buyer_id_value,
        store_id,
        ordered_at,
        paid_at,
        order_status,
        gross_amount,
        discount_amount,
        case when paid_at is null then cast(0 as {{ type_amount() }}) else paid_amount end
            as paid_amount,
        refund_amount,
        case when refund_amount > 0 then {{ day_timestamp('_dt') }} end as refunded_at,
        _dt
    from {{ ref('stg_miniprogram__orders') }}
),

unioned as (
    select * from pos_sales
    union all
    select * from pos_orphan_returns
    union all
    select * from tmall_orders
    union all
    select * from miniprogram_orders
),

final as (
    select
        {{ dbt.concat(['channel', "':'", 'source_order_id']) }} as order_key,
        channel,
        source_order_id,
        buyer_id_type,
        buyer_id_value,
        store_id,
        ordered_at,
        paid_at,
        order_status,
        gross_amount,
        discount_amount,
        paid_amount,
        refund_amount,
        cast(paid_amount - refund_amount as {{ type_amount() }}) as net_amount,
        -- a refund dated by its delivery day can read earlier than the payment on that day
        case
            when refunded_at is not null and paid_at is not null and refunded_at < paid_at
                then paid_at
            else refunded_at
        end as refunded_at,
        -- the newest landing day that changed this order (incremental facts re-read it)
        _dt as last_delivered_dt
    from unioned
)

select * from final
