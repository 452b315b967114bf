"""Member base: how many members, where they come from, and how the base grows."""

import altair as alt
import streamlit as st

from bi.charts import bars, count, show
from bi.data import load

st.title("Member base")
totals = load("member_totals").iloc[0]
c1, c2, c3 = st.columns(3)
c1.metric("Members", count(totals["members"]), help="OneID members (marts.dim_member)")
c2.metric("Buyers", count(totals["buyers"]), help="Members with at least one purchase")
c3.metric("New members, last 30 days", count(totals["new_members_30d"]),
          help="First seen in the 30 days up to the as-of day")

left, mid, right = st.columns(3)
with left:
    show(bars(load("members_by", "acquisition_channel"), "acquisition_channel", "members",
              sort="-y", title="By acquisition channel"))
with mid:
    show(bars(load("members_by", "gender"), "gender", "members", sort="-y", title="By gender"))
with right:
    show(bars(load("members_by", "city", 15), "city", "members", horizontal=True, sort=None,
              title="By city (top 15)", height=16 * 22))

growth = load("member_growth")
new = alt.Chart(growth).mark_bar().encode(
    alt.X("yearmonth(month):O", title=None),
    alt.Y("new_members:Q", title="new members"),
    alt.Color("acquisition_channel:N", title="acquisition channel"),
    tooltip=[alt.Tooltip("yearmonth(month):T", title="month"), "acquisition_channel",
             alt.Tooltip("new_members:Q", format=",")],
)
base = alt.Chart(growth).mark_line(color="black", point=True).encode(
    alt.X("yearmonth(month):O"),
    alt.Y("max(member_base):Q", title="member base (line)"),
    tooltip=[alt.Tooltip("yearmonth(month):T", title="month"),
             alt.Tooltip("max(member_base):Q", title="member base", format=",")],
)
show(alt.layer(new, base, title="Growth: new members per month and the member base")
     .resolve_scale(y="independent").properties(height=320))
