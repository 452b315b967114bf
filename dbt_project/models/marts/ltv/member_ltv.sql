-- One row per member who has purchased: historical value up to the as-of date
-- (int_ltv__member_history) next to the predicted value written by the Python asset
-- ltv.member_clv_predictions (BG/NBD × Gamma-Gamma). A member without a prediction row (the
-- model was not fitted, or the member bought after the predictions were made) gets
-- prediction_source = 'historical_fallback' and null predictions: historical value only.

with

history as (
    select * from {{ ref('int_ltv__member_history') }}
),

predictions as (
    select
        member_id,
        p_alive,
        expected_purchases_90d,
        expected_purchases_180d,
        expected_purchases_365d,
        expected_spend_per_order,
        predicted_clv_365d,
        prediction_source
    from {{ source('ltv', 'member_clv_predictions') }}
),

final as (
    select
        history.member_id,
        history.as_of_date,
        history.historical_net_revenue,
        history.historical_gross_profit,
        history.first_order_at,
        history.last_order_at,
        history.orders,
        history.tenure_days,
        cast(predictions.p_alive as double) as p_alive,
        cast(predictions.expected_purchases_90d as double) as expected_purchases_90d,
        cast(predictions.expected_purchases_180d as double) as expected_purchases_180d,
        cast(predictions.expected_purchases_365d as double) as expected_purchases_365d,
        cast(predictions.expected_spend_per_order as double) as expected_spend_per_order,
        cast(predictions.predicted_clv_365d as double) as predicted_clv_365d,
        case
            when predictions.member_id is null then 'historical_fallback'
            else predictions.prediction_source
        end as prediction_source
    from history
    left join predictions
        on history.member_id = predictions.member_id
)

select * from final
