"""RFM: segment sizes per look-back window and the R × FM grid of one window."""

import altair as alt
import streamlit as st

from bi.charts import count, heatmap, show
from bi.data import load

st.title("RFM")
windows = load("rfm_windows")
if not windows:
    st.info("marts.member_rfm is empty.")
    st.stop()
window = st.segmented_control("Window (days)", windows, default=max(windows)) or max(windows)

segments = load("rfm_segments")
chosen = segments[segments["window_days"] == window]
scored = int(chosen.loc[chosen["segment_code"] != "no_purchase", "members"].sum())
c1, c2 = st.columns(2)
c1.metric(f"Scored members ({window} days)", count(scored),
          help="Members who bought in the window")
c2.metric(f"No purchase in {window} days", count(chosen["members"].sum() - scored))

left, right = st.columns([3, 2])
with left:
    bought = segments[segments["segment_code"] != "no_purchase"]
    show(alt.Chart(bought, title="Segment sizes per window").mark_bar().encode(
        alt.Y("segment_code:N", title=None, sort="-x"),
        alt.X("members:Q"),
        alt.Color("window_days:O", title="window (days)"),
        alt.YOffset("window_days:O"),
        tooltip=["segment_code", "segment_name", "window_days",
                 alt.Tooltip("members:Q", format=",")],
    ).properties(height=420))
with right:
    grid = load("rfm_grid", window)
    show(heatmap(grid, "fm_score", "r_score", "members", y_sort="descending",
                 title=f"R score × FM score, {window}-day window",
                 tooltip=["r_score", "fm_score", alt.Tooltip("members:Q", format=","),
                          alt.Tooltip("avg_monetary:Q", format=",.0f", title="avg monetary")],
                 height=420))

st.dataframe(chosen[["segment_code", "segment_name", "members"]], hide_index=True)
