"""Lifecycle: the stage of every member and the AIPL funnel (awareness → loyalty)."""

import altair as alt
import streamlit as st

from bi.charts import bars, count, heatmap, show
from bi.data import load
from bi.queries import AIPL_ORDER, LIFECYCLE_ORDER

st.title("Lifecycle")
stages = load("lifecycle_stages")
aipl = load("aipl_stages")
cols = st.columns(max(len(stages), 1))
for col, row in zip(cols, stages.itertuples(), strict=False):
    col.metric(f"{row.lifecycle_stage} {row.lifecycle_stage_name}", count(row.members),
               help=f"{row.share:.1%} of members")

left, right = st.columns(2)
with left:
    show(bars(stages, "lifecycle_stage", "members", sort=None, title="Lifecycle stages",
              tooltip=["lifecycle_stage", "lifecycle_stage_name",
                       alt.Tooltip("members:Q", format=","),
                       alt.Tooltip("share:Q", format=".1%")]))
with right:
    show(bars(aipl, "aipl_stage", "members", horizontal=True, sort=None,
              title="AIPL funnel",
              tooltip=["aipl_stage", alt.Tooltip("members:Q", format=","),
                       alt.Tooltip("share:Q", format=".1%")]))

show(heatmap(load("lifecycle_by_aipl"), "aipl_stage", "lifecycle_stage", "members",
             x_sort=list(AIPL_ORDER), y_sort=list(LIFECYCLE_ORDER),
             title="Lifecycle stage × AIPL stage", height=260))
