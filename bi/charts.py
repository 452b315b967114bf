"""The few chart shapes the pages share, as Altair (Vega-Lite) specs that Streamlit renders
with its bundled vega-embed: no CDN, nothing fetched at run time.

Axis labels use the marts' English codes; Chinese business names go into tooltips and tables
(a browser without CJK fonts still shows readable axes).
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st


def show(chart: alt.TopLevelMixin, *, stretch: bool = True) -> None:
    """Draw a chart at the column's width (`stretch=False`: the spec's own width, for facets)."""
    st.altair_chart(chart, width="stretch" if stretch else "content")


def bars(df: pd.DataFrame, category: str, value: str, *, horizontal: bool = False,
         sort: list[str] | str | None = None, tooltip: list[str] | None = None,
         title: str | None = None, height: int = 280) -> alt.Chart:
    """One bar per category; `sort=None` keeps the query's order (tiers, funnel stages)."""
    cat = alt.X if not horizontal else alt.Y
    val = alt.Y if not horizontal else alt.X
    chart = alt.Chart(df, title=title or "").mark_bar().encode(
        cat(f"{category}:N", sort=sort, title=None, axis=alt.Axis(labelAngle=0)),
        val(f"{value}:Q", title=value.replace("_", " ")),
        tooltip=tooltip or [category, alt.Tooltip(f"{value}:Q", format=",")],
    )
    return chart.properties(height=height)


def heatmap(df: pd.DataFrame, x: str, y: str, color: str, *, fmt: str = ",",
            x_type: str = "O", y_type: str = "O", y_sort: str | list[str] | None = None,
            x_sort: str | list[str] | None = None, title: str | None = None,
            tooltip: list | None = None, height: int = 320) -> alt.LayerChart:
    """Coloured cells with their value printed in them (grids, triangles, transition matrices)."""
    base = alt.Chart(df, title=title or "").encode(
        alt.X(f"{x}:{x_type}", sort=x_sort, title=x.replace("_", " "),
              axis=alt.Axis(labelAngle=0)),
        alt.Y(f"{y}:{y_type}", sort=y_sort, title=y.replace("_", " ")),
    )
    cells = base.mark_rect().encode(
        alt.Color(f"{color}:Q", title=color.replace("_", " "), scale=alt.Scale(scheme="blues")),
        tooltip=tooltip or [x, y, alt.Tooltip(f"{color}:Q", format=fmt)],
    )
    top = df[color].max() if len(df) else None
    # white text on the darkest cells; an empty grid (e.g. no tier moves yet) still draws
    text_color = (alt.condition(alt.datum[color] > float(top) * 0.6, alt.value("white"),
                                alt.value("black"))
                  if top is not None and pd.notna(top) else alt.value("black"))
    labels = base.mark_text(fontSize=11).encode(alt.Text(f"{color}:Q", format=fmt),
                                                color=text_color)
    return (cells + labels).properties(height=height)


def count(n: int | float) -> str:
    """A count as shown in metrics (thousands separated); the browser test compares this text."""
    return f"{int(n):,}"


def yuan(v: float) -> str:
    return f"¥{v:,.0f}"
