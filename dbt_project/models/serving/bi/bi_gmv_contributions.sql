-- The month-over-month GMV change per month and channel split across the five factors (LMDI,
-- marts.gmv_drivers), one row per factor with its Chinese name (会员数, 活跃率, 购买转化率,
-- 人均订单数, 客单价) and position in the driver tree: per month and channel the contributions
-- sum to gmv_change_mom. The first month of data has no change and no rows.

with

drivers as (
    select * from {{ ref('gmv_drivers') }}
    where gmv_change_mom is not null
),

factors as (
    {%- for factor in bi_order('gmv_factor') %}
    select
        month,
        channel,
        {{ sql_string(factor) }} as factor,
        {{ loop.index }} as factor_order,
        {{ factor }}_contribution_mom as contribution,
        gmv_change_mom,
        is_complete_month
    from drivers
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
)

select
    month,
    channel,
    {{ bi_label('channel', 'channel') }} as channel_name,
    factor,
    {{ bi_label('factor', 'gmv_factor') }} as factor_name,
    factor_order,
    contribution,
    gmv_change_mom,
    is_complete_month
from factors
