-- What each audience's activation earned: per audience and entry cohort (the ISO week, Monday
-- first, of entered_on), the treated and holdout arms compared on purchases in the N days
-- after entry (var activation.lift_window_days: days entered_on + 1 .. entered_on + N; the
-- entry day itself is what put the member in the audience, and the outbox is sent after it).
--   * unit: a member's first entry into the audience in that week (a re-entry the same week
--     is the same exposure);
--   * conversion: share of entries with at least one purchase (a member order with paid_amount
--     > 0) in the window; difference treated − holdout with a 95 % Wald interval (normal
--     approximation, unpooled variances);
--   * GMV per member: net amount (paid − refunded, as known tonight) of those purchases,
--     zero for non-buyers; difference with a Welch interval (unequal variances, Welch–
--     Satterthwaite degrees of freedom, Student t quantile: macros/activation.sql);
--   * status: window_open while an entry of the week can still be inside its window (the
--     week's last day + N is after the as-of day): sizes only, no rates — reading a running
--     experiment is peeking; not_enough_members when an arm has fewer entries than
--     var activation.lift_min_members_per_arm: null numbers; ok otherwise.
-- Arms are decided by a hash at entry (member_audience_spells), so the comparison is a
-- randomised experiment on the members who entered; docs/activation.md says how to read it.

{% set cfg = var('activation') %}
{% set window = cfg.lift_window_days | int %}
{% set min_arm = cfg.lift_min_members_per_arm | int %}
{% set z = cfg.lift_z %}
{% if window < 1 %}
    {{ exceptions.raise_compiler_error('var activation.lift_window_days must be >= 1, got ' ~ window) }}
{% endif %}
{% if min_arm < 2 %}
    {{ exceptions.raise_compiler_error('var activation.lift_min_members_per_arm must be >= 2 (a variance needs two), got ' ~ min_arm) }}
{% endif %}

with

as_of as (
    {{ member_value_as_of() }}
),

entries as (
    select member_id, audience_code, arm, cohort_week, entered_on
    from (
        select
            member_id,
            audience_code,
            arm,
            cast({{ dbt.date_trunc('week', 'entered_on') }} as date) as cohort_week,
            entered_on,
            row_number() over (
                partition by member_id, audience_code, {{ dbt.date_trunc('week', 'entered_on') }}
                order by entered_on
            ) as entry_rank
        from {{ ref('member_audience_spells') }}
    ) as ranked
    where entry_rank = 1
),

purchases as (
    select member_id, cast(coalesce(paid_at, ordered_at) as date) as paid_date, net_amount
    from {{ ref('fct_orders') }}
    where member_id is not null and paid_amount > 0
),

outcomes as (
    select
        entries.audience_code,
        entries.cohort_week,
        entries.arm,
        entries.member_id,
        max(case when purchases.member_id is not null then 1 else 0 end) as converted,
        cast(coalesce(sum(purchases.net_amount), 0) as double) as gmv
    from entries
    left join purchases
        on entries.member_id = purchases.member_id
        and purchases.paid_date > entries.entered_on
        and purchases.paid_date <= {{ dbt.dateadd('day', window, 'entries.entered_on') }}
    group by entries.audience_code, entries.cohort_week, entries.arm, entries.member_id
),

arms as (
    select
        audience_code,
        cohort_week,
        sum(case when arm = 'treated' then 1 else 0 end) as n_t,
        sum(case when arm = 'holdout' then 1 else 0 end) as n_h,
        sum(case when arm = 'treated' then converted else 0 end) as conv_t,
        sum(case when arm = 'holdout' then converted else 0 end) as conv_h,
        sum(case when arm = 'treated' then gmv else 0 end) as gmv_t,
        sum(case when arm = 'holdout' then gmv else 0 end) as gmv_h,
        sum(case when arm = 'treated' then gmv * gmv else 0 end) as gmv2_t,
        sum(case when arm = 'holdout' then gmv * gmv else 0 end) as gmv2_h
    from outcomes
    group by audience_code, cohort_week
),

stats as (
    select
        arms.audience_code,
        arms.cohort_week,
        cast(arms.n_t as integer) as treated_members,
        cast(arms.n_h as integer) as holdout_members,
        case
            when {{ dbt.dateadd('day', 6 + window, 'arms.cohort_week') }} > as_of.as_of_date
                then 'window_open'
            when arms.n_t < {{ min_arm }} or arms.n_h < {{ min_arm }} then 'not_enough_members'
            else 'ok'
        end as status,
        1.0 * arms.conv_t / nullif(arms.n_t, 0) as p_t,
        1.0 * arms.conv_h / nullif(arms.n_h, 0) as p_h,
        arms.gmv_t / nullif(arms.n_t, 0) as m_t,
        arms.gmv_h / nullif(arms.n_h, 0) as m_h,
        -- sample variances of GMV per member (n - 1)
        (arms.gmv2_t - arms.gmv_t * arms.gmv_t / nullif(arms.n_t, 0)) / nullif(arms.n_t - 1, 0) as v_t,
        (arms.gmv2_h - arms.gmv_h * arms.gmv_h / nullif(arms.n_h, 0)) / nullif(arms.n_h - 1, 0) as v_h,
        arms.n_t,
        arms.n_h,
        as_of.as_of_date
    from arms
    cross join as_of
),

errors as (
    select
        stats.*,
        sqrt(p_t * (1 - p_t) / n_t + p_h * (1 - p_h) / n_h) as se_conversion,
        -- clamp: a variance computed from sums can come out a hair below zero
        sqrt(greatest(v_t, 0) / n_t + greatest(v_h, 0) / n_h) as se_gmv,
        case
            when greatest(v_t, 0) / n_t + greatest(v_h, 0) / n_h > 0 then
                power(greatest(v_t, 0) / n_t + greatest(v_h, 0) / n_h, 2)
                / (power(greatest(v_t, 0) / n_t, 2) / (n_t - 1) + power(greatest(v_h, 0) / n_h, 2) / (n_h - 1))
        end as welch_df
    from stats
    where status = 'ok'
),

final as (
    select
        stats.audience_code,
        stats.cohort_week,
        stats.treated_members,
        stats.holdout_members,
        {%- set ok = "stats.status = 'ok'" %}
        case when {{ ok }} then cast(stats.p_t as double) end as treated_conversion,
        case when {{ ok }} then cast(stats.p_h as double) end as holdout_conversion,
        case when {{ ok }} then cast(stats.p_t - stats.p_h as double) end as conversion_diff,
        case when {{ ok }} then cast(stats.p_t - stats.p_h - {{ z }} * errors.se_conversion as double) end
            as conversion_diff_ci_low,
        case when {{ ok }} then cast(stats.p_t - stats.p_h + {{ z }} * errors.se_conversion as double) end
            as conversion_diff_ci_high,
        case when {{ ok }} then cast(stats.m_t as double) end as treated_gmv_per_member,
        case when {{ ok }} then cast(stats.m_h as double) end as holdout_gmv_per_member,
        case when {{ ok }} then cast(stats.m_t - stats.m_h as double) end as gmv_diff,
        case when {{ ok }} then cast(stats.m_t - stats.m_h
            - coalesce({{ t_quantile('errors.welch_df') }}, {{ z }}) * errors.se_gmv as double) end
            as gmv_diff_ci_low,
        case when {{ ok }} then cast(stats.m_t - stats.m_h
            + coalesce({{ t_quantile('errors.welch_df') }}, {{ z }}) * errors.se_gmv as double) end
            as gmv_diff_ci_high,
        case when {{ ok }} then cast(errors.welch_df as double) end as gmv_welch_df,
        cast({{ window }} as integer) as window_days,
        stats.status,
        stats.as_of_date
    from stats
    left join errors
        on stats.audience_code = errors.audience_code and stats.cohort_week = errors.cohort_week
)

select * from final
