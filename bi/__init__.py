"""Siyu dashboards as code (Streamlit): `make bi`, then http://127.0.0.1:8501.

`PAGES` is the one list of pages: the app builds its navigation from it and the browser test
(tests/serving/test_bi_dashboard.py) opens every entry.
"""

#: (file in bi/views/, title, url path); the first page is the default, served at "/".
PAGES = (
    ("member_base.py", "Member base", "member-base"),
    ("tiers.py", "Tiers", "tiers"),
    ("rfm.py", "RFM", "rfm"),
    ("lifecycle.py", "Lifecycle", "lifecycle"),
    ("cohort_ltv.py", "Cohort LTV", "cohort-ltv"),
    ("gmv_drivers.py", "GMV drivers", "gmv-drivers"),
)
