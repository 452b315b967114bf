"""The embedded serving PostgreSQL's settings and bookkeeping, without starting a server
(tests/serving/test_postgres_serving.py starts real ones)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.lib.serving.server import (
    DEFAULT_PORT,
    ServingConfig,
    ServingError,
    ServingInfo,
    _credentials,
    _postmaster,
    _prepare_root,
    _ServerUser,
    load_config,
)
from pipelines.settings import PROJECT_ROOT


def test_settings_from_the_environment(tmp_path):
    c = load_config({})
    assert c.embedded and c.port == DEFAULT_PORT and c.bindir is None
    assert c.root == (PROJECT_ROOT / "data" / "serving").resolve()
    c = load_config({"SIYU_SERVING_DIR": str(tmp_path), "SIYU_SERVING_PORT": "6000",
                     "SIYU_PG_BINDIR": "/usr/lib/postgresql/15/bin"})
    assert (c.root, c.port, c.bindir) == (tmp_path, 6000, Path("/usr/lib/postgresql/15/bin"))
    ext = load_config({"SIYU_SERVING_URL": "postgresql://owner:s3cret@db:5432/siyu"})
    assert not ext.embedded and "s3cret" not in repr(ext)
    for bad in ("x", "0", "70000"):
        with pytest.raises(ServingError, match="SIYU_SERVING_PORT"):
            load_config({"SIYU_SERVING_PORT": bad})


def test_passwords_stay_out_of_reprs():
    info = ServingInfo(url="postgresql://siyu_owner:pw1@127.0.0.1:1/siyu",
                       role_urls={"siyu_bi": "postgresql://siyu_bi:pw2@127.0.0.1:1/siyu"},
                       started=True, embedded=True, host="127.0.0.1", port=1, data_dir=None)
    assert "pw1" not in repr(info) and "pw2" not in repr(info)


def test_credentials_are_owner_only_and_generated_once(tmp_path):
    config = ServingConfig(root=tmp_path)
    first = _credentials(config, ["store_s01"])
    assert config.credentials_file.stat().st_mode & 0o777 == 0o600
    assert set(first["roles"]) == {"siyu_owner", "siyu_bi", "siyu_analyst", "store_s01"}
    again = _credentials(config, ["store_s01", "store_s02"])
    assert again["roles"]["siyu_bi"] == first["roles"]["siyu_bi"]
    assert again["superuser"] == first["superuser"]
    assert len(set(again["roles"].values())) == 5  # one password per role
    assert [p.name for p in tmp_path.iterdir()] == ["credentials.json"]


def test_stale_postmaster_pid_is_recognised(tmp_path):
    pgdata = tmp_path / "pgdata"
    pgdata.mkdir()
    assert _postmaster(pgdata) is None
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    (pgdata / "postmaster.pid").write_text(f"{dead}\n{pgdata}\n0\n54329\n\n")
    assert _postmaster(pgdata) == (int(dead), 54329, False)
    # a live process that is not a postgres of this folder (a PID reused after a reboot)
    (pgdata / "postmaster.pid").write_text(f"{os.getpid()}\n{pgdata}\n0\n54329\n\n")
    assert _postmaster(pgdata) == (os.getpid(), 54329, False)


def test_a_foreign_folder_is_not_taken_over(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ServingError, match="not a Siyu serving folder"):
        _prepare_root(ServingConfig(root=tmp_path), _ServerUser())
    assert (tmp_path / "notes.txt").exists()
