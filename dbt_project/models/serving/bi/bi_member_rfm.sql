-- RFM for BI (marts.member_rfm): one row per member and window with the Chinese segment name
-- (var rfm_segments: 重要价值客户 …; 窗口内无购买 without a purchase in the window), the FM score
-- of the R × FM grid (mean of F and M, halves rounded up — as in the Dagster metadata chart)
-- and is_primary_window (var rfm_primary_window_days), so dashboards need not name a window.
select
    member_id,
    window_days,
    window_days = {{ var('rfm_primary_window_days') }} as is_primary_window,
    as_of_date,
    is_scored,
    recency_days,
    frequency,
    monetary,
    r_score,
    f_score,
    m_score,
    cast(floor((f_score + m_score + 1) / 2.0) as integer) as fm_score,
    rfm_pattern,
    segment_code,
    segment_name,
    segment_11_code
from {{ ref('member_rfm') }}
