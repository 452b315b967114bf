"""GMV drivers: GMV = members × retention × conversion × repurchase × AOV, per month, and the
month-over-month change split across the five factors (LMDI, marts.gmv_drivers)."""

import altair as alt
import streamlit as st

from bi.charts import count, show, yuan
from bi.data import load
from bi.queries import GMV_FACTORS

st.title("GMV drivers")
channels = load("gmv_channels")
if not channels:
    st.info("marts.gmv_drivers is empty.")
    st.stop()
channel = st.selectbox("Channel", channels, index=0)
factors = load("gmv_factors", channel)

complete = factors[factors["is_complete_month"]]
if len(factors):
    # the latest complete month; before one has closed, the current month so far
    last = (complete if len(complete) else factors).iloc[-1]
    to_date = "" if last["is_complete_month"] else " (to date)"
    c1, c2, c3 = st.columns(3)
    c1.metric(f"GMV {last['month']:%Y-%m}{to_date}", yuan(last["gmv"]),
              help="Paid amount of members' orders in the month")
    c2.metric("Buyers", count(last["buyers"]))
    c3.metric("Orders", count(last["orders"]))

left, right = st.columns(2)
with left:
    by_channel = load("gmv_by_channel")
    show(alt.Chart(by_channel, title="GMV per month by channel (¥)").mark_bar().encode(
        alt.X("yearmonth(month):O", title=None),
        alt.Y("gmv:Q", title="GMV"),
        alt.Color("channel:N"),
        opacity=alt.condition(alt.datum.is_complete_month, alt.value(1.0), alt.value(0.45)),
        tooltip=[alt.Tooltip("yearmonth(month):T", title="month"), "channel",
                 alt.Tooltip("gmv:Q", format=",.0f"), "is_complete_month"],
    ).properties(height=300))
with right:
    contrib = load("gmv_contributions", channel)
    if contrib.empty:
        st.caption("Month-over-month contributions start with the second month of data.")
    bars_ = alt.Chart(contrib).mark_bar().encode(
        alt.X("yearmonth(month):O", title=None),
        alt.Y("contribution:Q", title="¥ change vs previous month"),
        alt.Color("factor:N", sort=list(GMV_FACTORS)),
        alt.XOffset("factor:N", sort=list(GMV_FACTORS)),
        tooltip=[alt.Tooltip("yearmonth(month):T", title="month"), "factor",
                 alt.Tooltip("contribution:Q", format=",.0f"),
                 alt.Tooltip("gmv_change_mom:Q", format=",.0f", title="GMV change")],
    )
    total = alt.Chart(contrib).mark_tick(color="black", thickness=3, size=40).encode(
        alt.X("yearmonth(month):O"), alt.Y("max(gmv_change_mom):Q"),
        tooltip=[alt.Tooltip("max(gmv_change_mom):Q", format=",.0f", title="GMV change")])
    show(alt.layer(bars_, total, title=f"MoM GMV change by factor ({channel}); tick = total")
         .properties(height=300))

long = factors.melt(id_vars=["month", "is_complete_month"], value_vars=list(GMV_FACTORS),
                    var_name="factor", value_name="value")
show(alt.Chart(long).mark_line(point=True).encode(
    alt.X("yearmonth(month):O", title=None),
    alt.Y("value:Q", title=None, scale=alt.Scale(zero=False)),
    tooltip=[alt.Tooltip("yearmonth(month):T", title="month"), "factor",
             alt.Tooltip("value:Q", format=",.3~f")],
).properties(width=300, height=160).facet(
    facet=alt.Facet("factor:N", sort=list(GMV_FACTORS), title=None), columns=3,
    title=f"The five factors per month ({channel})",
).resolve_scale(y="independent"), stretch=False)
