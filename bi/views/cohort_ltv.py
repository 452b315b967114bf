"""Cohort LTV: cumulative net revenue per member and retention by acquisition cohort."""

import altair as alt
import streamlit as st

from bi.charts import count, heatmap, show, yuan
from bi.data import load

st.title("Cohort LTV")
channels = load("cohort_channels")
if not channels:
    st.info("marts.ltv_cohorts is empty.")
    st.stop()
channel = st.selectbox("Acquisition channel", channels, index=0)
cells = load("cohort_ltv", channel)
sizes = load("cohort_sizes", channel)

c1, c2, c3 = st.columns(3)
c1.metric("Cohorts", count(len(sizes)))
c2.metric("Members in cohorts", count(sizes["cohort_size"].sum()),
          help="Members with a first paid order, by its month")
month0 = cells[cells["months_since_acquisition"] == 0]
if len(month0):
    first = (month0["cumulative_net_revenue_per_member"] * month0["cohort_size"]).sum()
    c3.metric("Net revenue per member, month 0", yuan(first / month0["cohort_size"].sum()),
              help="Weighted over the fully observed cohorts")

if cells.empty:
    st.caption("No cohort month is fully observed yet: the grids fill in once a month has closed.")
cells = cells.assign(cohort=cells["cohort_month"].dt.strftime("%Y-%m"))
left, right = st.columns(2)
with left:
    show(heatmap(cells, "months_since_acquisition", "cohort",
                 "cumulative_net_revenue_per_member", fmt=",.0f",
                 title="Cumulative net revenue per member (¥)", height=360))
with right:
    show(heatmap(cells, "months_since_acquisition", "cohort", "retention_rate", fmt=".0%",
                 title="Retention: share of the cohort buying that month", height=360))

show(alt.Chart(sizes, title="Cohort sizes").mark_bar().encode(
    alt.X("yearmonth(cohort_month):O", title=None),
    alt.Y("cohort_size:Q", title="members"),
    tooltip=[alt.Tooltip("yearmonth(cohort_month):T", title="cohort"),
             alt.Tooltip("cohort_size:Q", format=",")],
).properties(height=240))
