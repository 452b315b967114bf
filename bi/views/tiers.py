"""Tiers: the tier mix on the as-of day and how members moved between tiers."""

import altair as alt
import streamlit as st

from bi.charts import bars, count, heatmap, show
from bi.data import load

st.title("Tiers")
mix = load("tier_mix")
for col, row in zip(st.columns(max(len(mix), 1)), mix.itertuples(), strict=False):
    col.metric(f"{row.tier_code} {row.tier_name}", count(row.members),
               help=f"{row.share:.1%} of members hold this tier")

left, right = st.columns(2)
with left:
    show(bars(mix, "tier_code", "members", sort=None, title="Tier mix",
              tooltip=["tier_code", "tier_name", alt.Tooltip("members:Q", format=","),
                       alt.Tooltip("share:Q", format=".1%")]))
with right:
    transitions = load("tier_transitions")
    order = list(mix["tier_code"])
    if transitions.empty:
        st.caption("No member has changed tier yet.")
    show(heatmap(transitions, "to_tier", "from_tier", "movements", x_sort=order,
                 y_sort=order, title="Tier transitions (from → to), whole history"))

moves = load("tier_movements")
show(alt.Chart(moves, title="Upgrades and downgrades per month").mark_bar().encode(
    alt.X("yearmonth(month):O", title=None),
    alt.Y("movements:Q"),
    alt.Color("change_reason:N", title="change",
              scale=alt.Scale(domain=["upgrade", "downgrade"], range=["#2e7d32", "#c62828"])),
    alt.XOffset("change_reason:N"),
    tooltip=[alt.Tooltip("yearmonth(month):T", title="month"), "change_reason", "movements"],
).properties(height=300))
