-- RFM per member and look-back window (var rfm_windows_days), as of the as-of day.
--   recency_days = days since the last purchase; frequency = purchases in the window;
--   monetary = their net amount (refunds known by the as-of day deducted).
-- Scores 1..rfm_score_buckets by quantile of rank: score = floor(buckets × (rank − 1) / n) + 1,
-- where rank() gives tied values the same (lowest) rank, so ties always share a score and the
-- result does not depend on row order. Recency ranks most recent highest.
-- H/L: a score is high when >= the mean (or median: var rfm_high_rule) of that window's scores.
-- Segments: the eight Chinese RFM segments (var rfm_segments) and the eleven-segment grid
-- (var rfm_11_segment_grid, R score × FM score). Members without a purchase in the window are
-- listed with segment_code 'no_purchase' and no scores.

{% set buckets = var('rfm_score_buckets') | int %}
{% set high_rule = var('rfm_high_rule') %}
{% if high_rule not in ('mean', 'median') %}
    {{ exceptions.raise_compiler_error("var rfm_high_rule must be 'mean' or 'median', got " ~ high_rule) }}
{% endif %}

with

as_of as (
    {{ member_value_as_of() }}
),

windows as (
    {{ rfm_windows() }}
),

members as (
    select members.member_id
    from {{ ref('dim_member') }} as members
    cross join as_of
    where cast(members.first_seen_at as date) <= as_of.as_of_date
),

purchases as (
    select member_id, paid_date, net_amount_as_of
    from {{ ref('int_member_value__orders') }}
),

last_purchase as (
    select member_id, max(paid_date) as last_paid_date
    from purchases
    group by member_id
),

in_window as (
    select
        windows.window_days,
        purchases.member_id,
        max(purchases.paid_date) as last_paid_date,
        count(*) as frequency,
        sum(purchases.net_amount_as_of) as monetary
    from purchases
    cross join windows
    cross join as_of
    where purchases.paid_date > {{ dbt.dateadd('day', '-windows.window_days', 'as_of.as_of_date') }}
    group by windows.window_days, purchases.member_id
),

measured as (
    select
        in_window.window_days,
        in_window.member_id,
        cast({{ dbt.datediff('in_window.last_paid_date', 'as_of.as_of_date', 'day') }} as integer)
            as recency_days,
        cast(in_window.frequency as integer) as frequency,
        cast(in_window.monetary as {{ type_amount() }}) as monetary,
        count(*) over (partition by in_window.window_days) as scored_members
    from in_window
    cross join as_of
),

scored as (
    select
        measured.*,
        cast(floor({{ buckets }} * (rank() over (
            partition by window_days order by recency_days desc) - 1) / scored_members) + 1
            as integer) as r_score,
        cast(floor({{ buckets }} * (rank() over (
            partition by window_days order by frequency) - 1) / scored_members) + 1
            as integer) as f_score,
        cast(floor({{ buckets }} * (rank() over (
            partition by window_days order by monetary) - 1) / scored_members) + 1
            as integer) as m_score
    from measured
),

cutoffs as (
    select
        window_days,
        {% if high_rule == 'mean' -%}
        avg(r_score) as r_cutoff, avg(f_score) as f_cutoff, avg(m_score) as m_cutoff
        {%- else -%}
        median(r_score) as r_cutoff, median(f_score) as f_cutoff, median(m_score) as m_cutoff
        {%- endif %}
    from scored
    group by window_days
),

levels as (
    select
        scored.*,
        case when scored.r_score >= cutoffs.r_cutoff then 'H' else 'L' end as r_level,
        case when scored.f_score >= cutoffs.f_cutoff then 'H' else 'L' end as f_level,
        case when scored.m_score >= cutoffs.m_cutoff then 'H' else 'L' end as m_level,
        cast(floor((scored.f_score + scored.m_score + 1) / 2.0) as integer) as fm_score
    from scored
    inner join cutoffs on scored.window_days = cutoffs.window_days
),

segmented as (
    select
        levels.*,
        {{ dbt.concat(['r_level', 'f_level', 'm_level']) }} as rfm_pattern
    from levels
),

named as (
    select
        segmented.*,
        case rfm_pattern
        {%- for s in var('rfm_segments') %}
            when {{ sql_string(s.pattern) }} then {{ sql_string(s.code) }}
        {%- endfor %}
        end as segment_code,
        case rfm_pattern
        {%- for s in var('rfm_segments') %}
            when {{ sql_string(s.pattern) }} then {{ sql_string(s.name) }}
        {%- endfor %}
        end as segment_name,
        case r_score
        {%- for r, row in var('rfm_11_segment_grid').items() %}
            when {{ r }} then case fm_score
            {%- for code in row %}
                when {{ loop.index }} then {{ sql_string(code) }}
            {%- endfor %}
            end
        {%- endfor %}
        end as segment_11_code
    from segmented
),

final as (
    select
        members.member_id,
        windows.window_days,
        as_of.as_of_date,
        case when named.member_id is not null then true else false end as is_scored,
        coalesce(
            named.recency_days,
            cast({{ dbt.datediff('last_purchase.last_paid_date', 'as_of.as_of_date', 'day') }} as integer)
        ) as recency_days,
        coalesce(named.frequency, 0) as frequency,
        coalesce(named.monetary, cast(0 as {{ type_amount() }})) as monetary,
        named.r_score,
        named.f_score,
        named.m_score,
        named.rfm_pattern,
        coalesce(named.segment_code, 'no_purchase') as segment_code,
        coalesce(named.segment_name, '窗口内无购买') as segment_name,
        coalesce(named.segment_11_code, 'no_purchase') as segment_11_code
    from members
    cross join windows
    cross join as_of
    left join named
        on members.member_id = named.member_id and windows.window_days = named.window_days
    left join last_purchase on members.member_id = last_purchase.member_id
)

select * from final
