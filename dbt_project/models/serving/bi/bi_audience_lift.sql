-- What each audience's activation earned, for BI (marts.audience_lift; docs/activation.md): one
-- row per audience and entry cohort week with the audience's Chinese label (the first word of
-- its var audiences name, e.g. 首购14天黄金期; an audience no longer configured keeps its
-- code), the arms' sizes, conversion and GMV-per-member differences with their 95 % intervals,
-- and in Chinese what may be read:
--   * status_name: 可解读 ok, 观察期未结束 window_open, 样本不足 not_enough_members;
--   * status_note: why — the day the week's windows all close (cohort week + 6 + N days:
--     the Sunday's entries are counted up to that day), or the arms' sizes against
--     var activation.lift_min_members_per_arm;
--   * conversion_verdict / gmv_verdict (status ok only): increase when the whole interval is
--     above 0, decrease when below, inconclusive when it contains 0 — labelled 显著提升,
--     显著下降, 无显著差异.
-- Aggregates only: no member id, nothing personal.

{% set cfg = var('activation') %}
{% set audiences = var('audiences') %}

with

lift as (
    select * from {{ ref('audience_lift') }}
),

judged as (
    select
        lift.*,
        cast({{ dbt.dateadd('day', '6 + lift.window_days', 'lift.cohort_week') }} as date)
            as window_closes_on,
        case
            when lift.status <> 'ok' then null
            when lift.conversion_diff_ci_low > 0 then 'increase'
            when lift.conversion_diff_ci_high < 0 then 'decrease'
            else 'inconclusive'
        end as conversion_verdict,
        case
            when lift.status <> 'ok' then null
            when lift.gmv_diff_ci_low > 0 then 'increase'
            when lift.gmv_diff_ci_high < 0 then 'decrease'
            else 'inconclusive'
        end as gmv_verdict
    from lift
)

select
    audience_code,
    {{ bi_audience_label('audience_code') }} as audience_label,
    case
        {%- for a in audiences %}
        when audience_code = {{ sql_string(a.code) }} then {{ loop.index }}
        {%- endfor %}
        else {{ audiences | length + 1 }}
    end as audience_order,
    cohort_week,
    window_days,
    window_closes_on,
    treated_members,
    holdout_members,
    treated_conversion,
    holdout_conversion,
    conversion_diff,
    conversion_diff_ci_low,
    conversion_diff_ci_high,
    conversion_verdict,
    {{ bi_label('conversion_verdict', 'lift_verdict') }} as conversion_verdict_name,
    treated_gmv_per_member,
    holdout_gmv_per_member,
    gmv_diff,
    gmv_diff_ci_low,
    gmv_diff_ci_high,
    gmv_verdict,
    {{ bi_label('gmv_verdict', 'lift_verdict') }} as gmv_verdict_name,
    status,
    {{ bi_label('status', 'lift_status') }} as status_name,
    case
        when status = 'window_open' then {{ dbt.concat([
            "'观察期未结束：本周入组会员的 '", dbt.safe_cast('window_days', dbt.type_string()),
            "' 天观察期到 '", dbt.safe_cast('window_closes_on', dbt.type_string()),
            "' 才全部结束，之前不看转化与 GMV'"]) }}
        when status = 'not_enough_members' then {{ dbt.concat([
            "'样本不足：实验组 '", dbt.safe_cast('treated_members', dbt.type_string()),
            "' 人、对照组 '", dbt.safe_cast('holdout_members', dbt.type_string()),
            "' 人，每组至少需 " ~ (cfg.lift_min_members_per_arm | int) ~ " 人'"]) }}
        when status = 'ok' then {{ dbt.concat([
            "'观察期已于 '", dbt.safe_cast('window_closes_on', dbt.type_string()),
            "' 结束，两组均不少于 " ~ (cfg.lift_min_members_per_arm | int) ~ " 人'"]) }}
        else status
    end as status_note,
    as_of_date
from judged
