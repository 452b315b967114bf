"""Siyu dashboards (Streamlit): `make bi`, then http://127.0.0.1:8501.

The entry point only declares the pages; each page in `bi/views/` draws what one or more
`bi.queries` functions return. Run from `bi/` so Streamlit picks up `bi/.streamlit/config.toml`
(loopback only, no usage statistics).
"""

from pathlib import Path

import pandas as pd
import streamlit as st

from bi import PAGES, queries
from bi.data import load

VIEWS = Path(__file__).parent / "views"


def main() -> None:
    st.set_page_config(page_title="Siyu 私域 — member dashboards", layout="wide")
    pages = [st.Page(str(VIEWS / file), title=title, url_path=url, default=i == 0)
             for i, (file, title, url) in enumerate(PAGES)]
    page = st.navigation(pages)
    as_of = load("as_of_date")["as_of_date"].iloc[0]
    shown = f"{as_of:%Y-%m-%d}" if pd.notna(as_of) else "—"
    st.sidebar.caption(f"As of **{shown}** · warehouse `{queries.warehouse_path()}` "
                       "(read-only)")
    page.run()


main()
