"""`make bi`: Apache Superset on 127.0.0.1 over the serving PostgreSQL, with the dashboards of
bi/superset/bundle/ (docs/bi.md).

    python -m bi.superset.setup up       # everything below, then print URL and login
    python -m bi.superset.setup import   # re-import the bundle into a running setup
    python -m bi.superset.setup stop     # stop the Superset this folder started
    python -m bi.superset.setup status

`up`, step by step (each idempotent, so a second `make bi` converges and changes nothing):

1. the serving PostgreSQL runs (`ensure_running`, as `siyu serving start`);
2. Superset's metadata gets its own database `superset` and login role `siyu_superset` in that
   server (created as the server's superuser, from its credentials.json); Superset never logs
   in as the owner of the served tables;
3. data/superset/secrets.json (0600, folder 0700) holds what is generated once: the admin's
   password, Superset's SECRET_KEY and the metadata role's password;
4. bi/superset/bootstrap.py, in ONE process of .venv-superset's python: db upgrade, init,
   admin, the zh fixes and the import of the bundle (the database entry logs in as `siyu_bi`,
   which reads the `bi` schema only; its password comes from credentials.json at import);
5. gunicorn serves Superset on 127.0.0.1:$SIYU_SUPERSET_PORT (default 8088), in the
   background in its own session, PID in data/superset/superset.pid, log next to it; a
   Superset this folder started earlier is stopped first.

The Superset environment (.venv-superset) is made by `make bi-setup` from the exact pins in
bi/superset/requirements.txt: Superset pins SQLAlchemy < 2 and cannot share the project's venv.
This module runs in the project's venv (it needs pipelines.lib.serving and psycopg).

Settings: SIYU_SUPERSET_HOME (default data/superset), SIYU_SUPERSET_PORT (8088),
SIYU_SUPERSET_VENV (.venv-superset), and the serving server's own (SIYU_SERVING_DIR/_PORT).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

from pipelines.lib.serving import (
    BI_ROLE,
    ServingConfig,
    ServingError,
    ensure_running,
    load_config,
    status,
)
from pipelines.lib.serving.roles import DATABASE, RolesError, password_verifier

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
HOST = "127.0.0.1"
DEFAULT_PORT = 8088
META_DB = "superset"
META_ROLE = "siyu_superset"
ADMIN_USER = "admin"
START_TIMEOUT_S = 90


class SupersetError(RuntimeError):
    """Superset cannot be set up or started (the message says why)."""


@dataclass(frozen=True)
class Superset:
    """A running Superset: where, and how to log in (kept out of the repr)."""

    url: str
    home: Path
    pid: int
    admin_user: str
    admin_password: str = field(repr=False)
    timings: dict[str, float] = field(default_factory=dict)
    #: the newest row of serving.publishes (what the dashboards show); None: nothing yet
    live: dict | None = None


def venv_dir() -> Path:
    return Path(os.environ.get("SIYU_SUPERSET_VENV") or ROOT / ".venv-superset")


def home_dir() -> Path:
    return Path(os.environ.get("SIYU_SUPERSET_HOME") or ROOT / "data" / "superset").resolve()


def port_setting() -> int:
    text = os.environ.get("SIYU_SUPERSET_PORT") or str(DEFAULT_PORT)
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise SupersetError(f"SIYU_SUPERSET_PORT={text!r} is not a port number")
    return int(text)


def _python() -> Path:
    python = venv_dir() / "bin" / "python"
    if not (venv_dir() / "bin" / "superset").exists():
        raise SupersetError(f"no Superset in {venv_dir()}: run `make bi-setup` (it installs "
                            "bi/superset/requirements.txt into its own venv)")
    return python


# ---------------------------------------------------------------------------------------
# secrets, metadata database
# ---------------------------------------------------------------------------------------

def load_secrets(home: Path) -> dict[str, str]:
    """data/superset/secrets.json, generated once (0600 in a 0700 folder)."""
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o700)
    path = home / "secrets.json"
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        found = {}
    wanted = {"admin_user": ADMIN_USER, "admin_password": secrets.token_urlsafe(18),
              "secret_key": secrets.token_urlsafe(42), "meta_password": secrets.token_urlsafe(24)}
    if all(k in found for k in wanted):
        return found
    merged = {**wanted, **found}
    fd, tmp = tempfile.mkstemp(dir=home, prefix=".secrets.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(merged, f, indent=2, sort_keys=True)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return merged


def _superuser_url(config: ServingConfig, dbname: str = "postgres") -> str:
    creds = json.loads(config.credentials_file.read_text(encoding="utf-8"))
    su = creds["superuser"]
    return (f"postgresql://{quote(su['role'], safe='')}:{quote(su['password'], safe='')}"
            f"@{HOST}:{config.port}/{dbname}")


def bi_password(config: ServingConfig) -> str:
    creds = json.loads(config.credentials_file.read_text(encoding="utf-8"))
    return creds["roles"][BI_ROLE]


def ensure_metadata_db(config: ServingConfig, meta_password: str) -> str:
    """The role `siyu_superset` (login, nothing else) and its database `superset`, in the
    serving server; returns Superset's SQLAlchemy URI for it."""
    with psycopg.connect(_superuser_url(config), autocommit=True, connect_timeout=10) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [META_ROLE]).fetchone()
        verb = "ALTER ROLE" if exists else "CREATE ROLE"
        conn.execute(sql.SQL(verb + " {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}")
                     .format(sql.Identifier(META_ROLE),
                             sql.Literal(password_verifier(conn, META_ROLE, meta_password))))
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                            [META_DB]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {} ENCODING 'UTF8'").format(
                sql.Identifier(META_DB), sql.Identifier(META_ROLE)))
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(
            sql.Identifier(META_DB)))
    return (f"postgresql+psycopg2://{META_ROLE}:{quote(meta_password, safe='')}"
            f"@{HOST}:{config.port}/{META_DB}")


def superset_env(home: Path, meta_uri: str, secret_key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "SUPERSET_"))}
    env.update({
        "SUPERSET_CONFIG_PATH": str(HERE / "superset_config.py"),
        "SUPERSET_META_URI": meta_uri,
        "SUPERSET_SECRET_KEY": secret_key,
        "SUPERSET_HOME": str(home),
        "FLASK_APP": "superset",
        "PYTHONPATH": "",
    })
    return env


def bootstrap(env: dict[str, str], config: ServingConfig, admin_password: str,
              import_only: bool = False, editable: bool = False) -> dict:
    """bi/superset/bootstrap.py in .venv-superset: upgrade, init, admin, import."""
    cmd = [str(_python()), str(HERE / "bootstrap.py"), "--host", HOST, "--port",
           str(config.port), "--db", DATABASE]
    cmd += ["--import-only"] if import_only else []
    cmd += ["--editable"] if editable else []
    run_env = {**env, "SIYU_SUPERSET_ADMIN_PASSWORD": admin_password,
               "SIYU_SUPERSET_BI_PASSWORD": bi_password(config)}
    log_path = Path(env["SUPERSET_HOME"]) / "bootstrap.log"
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.run(cmd, env=run_env, cwd=ROOT, stdout=subprocess.PIPE, stderr=log,
                              text=True, timeout=600)
    if proc.returncode:
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise SupersetError(f"bootstrap failed ({proc.returncode}): {proc.stdout.strip()}\n"
                            f"{log_path}:\n{tail}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------
# the server
# ---------------------------------------------------------------------------------------

def _pid(home: Path) -> int | None:
    """The PID of the gunicorn this folder started, if it still runs."""
    try:
        pid = int((home / "superset.pid").read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    return pid if b"gunicorn" in cmdline and state not in ("Z", "X") else None


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def stop(home: Path | None = None) -> bool:
    """Stop the Superset this folder started (its whole process group); True if it ran."""
    home = home or home_dir()
    pid = _pid(home)
    if pid is None:
        (home / "superset.pid").unlink(missing_ok=True)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    end = time.monotonic() + 20
    while time.monotonic() < end and _pid(home) is not None:
        time.sleep(0.2)
    if _pid(home) is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it when this process started it
    (home / "superset.pid").unlink(missing_ok=True)
    return True


def start(env: dict[str, str], home: Path, port: int, workers: int = 2) -> int:
    """gunicorn on 127.0.0.1:`port` in its own session; waits for /health. Returns its PID."""
    stop(home)
    if not _port_free(port):
        raise SupersetError(f"port {HOST}:{port} is in use by another process; set "
                            "SIYU_SUPERSET_PORT to a free port")
    _python()
    cmd = [str(venv_dir() / "bin" / "gunicorn"), "--bind", f"{HOST}:{port}",
           "--workers", str(workers), "--worker-class", "gthread", "--threads", "4",
           "--timeout", "120", "--graceful-timeout", "5", "--access-logfile", "-",
           "superset.app:create_app()"]
    log = open(home / "superset.log", "ab")  # noqa: SIM115  (handed to the child)
    try:
        proc = subprocess.Popen(cmd, env=env, cwd=home, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    finally:
        log.close()
    (home / "superset.pid").write_text(f"{proc.pid}\n")
    url = f"http://{HOST}:{port}"
    end = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SupersetError(f"Superset exited with {proc.returncode} while starting; see "
                                f"{home / 'superset.log'}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                if resp.status == 200:
                    return proc.pid
        except OSError:
            time.sleep(0.25)
    stop(home)
    raise SupersetError(f"Superset did not answer on {url} within {START_TIMEOUT_S} s; see "
                        f"{home / 'superset.log'}")


def up(config: ServingConfig | None = None, home: Path | None = None,
       port: int | None = None, editable: bool = False) -> Superset:
    """Everything `make bi` does; returns the running Superset."""
    config = config or load_config()
    if not config.embedded:
        raise SupersetError("SIYU_SERVING_URL is set: `make bi` sets Superset up on the "
                            "embedded serving PostgreSQL only (on the brand's server the DBA "
                            "creates Superset's metadata database; see docs/bi.md)")
    home = (home or home_dir()).resolve()
    port = port or port_setting()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    ensure_running(config)
    timings["serving"] = round(time.perf_counter() - t0, 2)
    found = load_secrets(home)
    t = time.perf_counter()
    meta_uri = ensure_metadata_db(config, found["meta_password"])
    env = superset_env(home, meta_uri, found["secret_key"])
    timings["metadata_db"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    result = bootstrap(env, config, found["admin_password"], editable=editable)
    timings["bootstrap"] = round(time.perf_counter() - t, 2)
    timings.update({f"bootstrap_{k}": v for k, v in result["seconds"].items()})
    t = time.perf_counter()
    pid = start(env, home, port)
    timings["start"] = round(time.perf_counter() - t, 2)
    return Superset(url=f"http://{HOST}:{port}", home=home, pid=pid,
                    admin_user=found["admin_user"], admin_password=found["admin_password"],
                    timings=timings, live=status(config).latest_publish)


def reimport(config: ServingConfig | None = None, home: Path | None = None,
             editable: bool = False) -> dict:
    """Import the bundle again (Superset may be running: it reads the metadata per request)."""
    config = config or load_config()
    home = (home or home_dir()).resolve()
    found = load_secrets(home)
    meta_uri = ensure_metadata_db(config, found["meta_password"])
    env = superset_env(home, meta_uri, found["secret_key"])
    return bootstrap(env, config, found["admin_password"], import_only=True, editable=editable)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bi.superset.setup",
                                description="Superset for Siyu on 127.0.0.1 (docs/bi.md)")
    p.add_argument("command", choices=["up", "import", "stop", "status"])
    p.add_argument("--editable", action="store_true",
                   help="import the dashboards editable in the UI (then `bundle.py export`)")
    args = p.parse_args(argv)
    home = home_dir()
    try:
        if args.command == "up":
            s = up(editable=args.editable)
            print(f"Superset: {s.url}/   (zh; the dashboards: {s.url}/dashboard/list/)")
            print(f"  login: {s.admin_user} / {s.admin_password}   "
                  f"(kept in {s.home / 'secrets.json'}, readable by you only)")
            print(f"  stop: make bi-stop   log: {s.home / 'superset.log'}")
            print("  timings (s): " + ", ".join(f"{k} {v}" for k, v in s.timings.items()))
            if s.live:
                print(f"  showing run {s.live['run_id']}, as of {s.live['as_of']} "
                      f"(published {s.live['published_at']:%Y-%m-%d %H:%M})")
            else:
                print("  nothing is published in the serving database yet: the charts show "
                      "errors until `make demo` (or `siyu run`) has published a night")
        elif args.command == "import":
            result = reimport(editable=args.editable)
            print(f"imported {result['files']} files in {result['seconds']['import']} s; "
                  f"pruned: {result['pruned'] or 'nothing'}")
        elif args.command == "stop":
            print("Superset stopped" if stop(home) else "Superset was not running")
        else:
            pid = _pid(home)
            print(f"Superset: running, pid {pid}" if pid else "Superset: not running")
            return 0 if pid else 3
    except (SupersetError, ServingError, RolesError) as exc:
        print(f"make bi: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
