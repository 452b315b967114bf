"""Superset 6.1 configuration for Siyu: offline, Chinese first, metadata in the serving PostgreSQL.

Loaded through SUPERSET_CONFIG_PATH by every Superset process `make bi` starts
(bi/superset/setup.py); the values that differ per installation come from the environment:

* SUPERSET_META_URI — the metadata database (`superset` in the serving PostgreSQL, its own
  role `siyu_superset`), postgresql+psycopg2://…;
* SUPERSET_SECRET_KEY — generated once into data/superset/secrets.json; it encrypts the stored
  database passwords, so it must stay the same for a metadata database.

No calls out of 127.0.0.1: the content security policy leaves out the Scarf telemetry pixel the
navbar always renders, map tiles, Google/Adobe fonts and documentation hosts; CORS is off; a
bundle cannot make Superset download data. Measured in issue 20's research (strace of every
server process and Chromium: only 127.0.0.1).
"""

import os

# --- metadata database and secret -----------------------------------------------------------
SQLALCHEMY_DATABASE_URI = os.environ["SUPERSET_META_URI"]
SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]

APP_NAME = "Siyu 会员数据"

# --- language: Chinese by default, English selectable ---------------------------------------
BABEL_DEFAULT_LOCALE = "zh"
LANGUAGES = {  # the default {} turns translation off
    "zh": {"flag": "cn", "name": "简体中文"},
    "en": {"flag": "us", "name": "English"},
}

# --- nothing leaves 127.0.0.1 ---------------------------------------------------------------
THEME_FONT_URL_ALLOWED_DOMAINS: list[str] = []  # default: Google Fonts, Adobe Typekit
TALISMAN_ENABLED = True
TALISMAN_CONFIG = {
    "content_security_policy": {
        "base-uri": ["'self'"],
        "default-src": ["'self'"],
        # no apachesuperset.gateway.scarf.sh (telemetry pixel), no document360 / terrestris
        "img-src": ["'self'", "blob:", "data:"],
        "worker-src": ["'self'", "blob:"],
        "connect-src": ["'self'"],  # no mapbox / OpenStreetMap / carto tiles
        "object-src": "'none'",
        "style-src": ["'self'", "'unsafe-inline'"],  # no fonts.googleapis.com
        "font-src": ["'self'", "data:"],
        "script-src": ["'self'", "'strict-dynamic'"],
    },
    "content_security_policy_nonce_in": ["script-src"],
    "force_https": False,  # plain HTTP on 127.0.0.1
    "session_cookie_secure": False,
}
TALISMAN_DEV_CONFIG = TALISMAN_CONFIG  # used when FLASK_DEBUG is on
MAPBOX_API_KEY = ""
ENABLE_CORS = False  # default True with map-tile origins
DATASET_IMPORT_ALLOWED_DATA_URLS: list[str] = []  # a dataset's `data:` URL is never fetched

FEATURE_FLAGS = {
    # render every chart, not only those in the viewport (screenshots, the browser test)
    "DASHBOARD_VIRTUALIZATION": False,
    # (defaults, stated) no webdriver, celery, e-mail, Slack or webhooks
    "THUMBNAILS": False,
    "ALERT_REPORTS": False,
    "ENABLE_DASHBOARD_SCREENSHOT_ENDPOINTS": False,
    "ENABLE_TEMPLATE_PROCESSING": False,
}

# --- API use by scripts (bi/superset/bundle.py export) ----------------------------------------
WTF_CSRF_ENABLED = True  # scripts fetch /api/v1/security/csrf_token/ first
WTF_CSRF_TIME_LIMIT = None

# one process group on 127.0.0.1: in-process caches, no Redis
CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 300,
                "CACHE_KEY_PREFIX": "superset_"}
DATA_CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 60,
                     "CACHE_KEY_PREFIX": "superset_data_"}
RATELIMIT_STORAGE_URI = "memory://"
ROW_LIMIT = 50000
