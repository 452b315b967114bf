"""The key of the customers' name hashes, kept outside the warehouse file.

Customers' names never enter the warehouse in clear; POS names enter as `name_hash`, a keyed
SHA-256 (pipelines/lib/privacy/names.py), so the couple rule can still tell two different
names on one phone apart. The key must not sit in the DuckDB file: whoever holds the file
alone must not be able to test a guessed name against the hashes (names are a small space).

Where the key comes from, first match wins:

1. `SIYU_NAME_KEY` (environment): for deployments that keep secrets in a vault and for tests;
2. `<warehouse folder>/keys/name.key`: created on the first ingestion with 32 random bytes
   (64 hex characters), file mode 0600 in a folder of mode 0700, written to a temporary file
   and linked into place, so two processes starting at once end with ONE key and no reader
   ever sees half a key.

Losing or changing the key changes every `name_hash` of the next ingestion: the rows loaded
before keep the old hashes until their days are ingested again, and the couple rule would
compare old and new hashes of the same name as different names. Back the file up with the
warehouse, but not inside it (docs/quality-and-privacy.md, "Names").
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

KEY_ENV = "SIYU_NAME_KEY"
KEY_DIR = "keys"
KEY_FILE = "name.key"
#: 32 random bytes as hex; a key set by hand must be at least this long too
KEY_BYTES = 32
MIN_KEY_CHARS = 32


class NameKeyError(RuntimeError):
    """The name key is unusable (too short, empty file): nothing is ingested without it."""


def key_path(warehouse: Path) -> Path:
    """Where the key file of the warehouse `warehouse` (the DuckDB file) lives."""
    return Path(warehouse).resolve().parent / KEY_DIR / KEY_FILE


def _checked(key: str, where: str) -> str:
    key = key.strip()
    if len(key) < MIN_KEY_CHARS:
        # the message names where the key came from, never the key
        raise NameKeyError(f"the name key from {where} has {len(key)} characters; at least "
                           f"{MIN_KEY_CHARS} are needed (64 hex characters of 32 random bytes)")
    return key


def name_key(warehouse: Path, environ: Mapping[str, str] | None = None) -> str:
    """The key for `warehouse`: `SIYU_NAME_KEY`, else the key file beside it (created once)."""
    env = os.environ if environ is None else environ
    if env.get(KEY_ENV):
        return _checked(env[KEY_ENV], f"${KEY_ENV}")
    path = key_path(warehouse)
    if not path.exists():
        _create(path)
    return _checked(path.read_text(encoding="ascii"), str(path))


def _create(path: Path) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)  # mkdir's mode is masked by the umask
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(secrets.token_hex(KEY_BYTES) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        # atomic, and fails if another process created the key first: theirs wins, and both
        # processes read the same file
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
