"""The log's Ed25519 signing key: where it lives and how it is found.

Two ways, chosen per store on first use:

* embedded (default): generated on first use and kept in the store itself, table
  `truceline_meta`, keys `log_private_key` / `log_public_key` (standard base64 of the
  raw 32-byte keys). Convenient for an offline laptop; anyone with the database file
  holds the key, so protect the file.
* key file (`--log-key FILE` or `$TRUCELINE_LOG_KEY`): the file holds
  `{"private_key": "<base64 raw 32 bytes>"}` (created with mode 0600 if missing); the
  store then records only `log_public_key`, and signing a head needs the file.

Either way the store remembers the log's public key on first use and refuses to sign
with any other key, so every head of one log verifies with one `log key`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, select

from truceline import formats
from truceline.errors import InputError, TrucelineError
from truceline.store.reports import meta

PRIVATE = "log_private_key"
PUBLIC = "log_public_key"


def _get(conn: Connection, key: str) -> str | None:
    return conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar_one_or_none()


def _put(conn: Connection, key: str, value: str) -> None:
    conn.execute(meta.insert().values(key=key, value=value))


def read_key_file(path: Path) -> Ed25519PrivateKey:
    """Load a log key file (JSON `{"private_key": ...}` or a bare base64 line)."""
    try:
        text = path.read_text().strip()
    except OSError as exc:
        raise InputError(f"{path}: cannot read log key: {exc.strerror or exc}") from None
    try:
        value = json.loads(text)["private_key"] if text.startswith("{") else text
        return formats.private_key_from_b64(value)
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not a log key file ({{\"private_key\": base64 of 32 bytes}}): {exc}") from None


def write_key_file(path: Path, key: Ed25519PrivateKey) -> None:
    data = json.dumps({"private_key": formats.private_key_to_b64(key), "public_key": formats.public_key_b64(key)})
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(data + "\n")


def key_file_from_env(key_file: str | Path | None) -> Path | None:
    if key_file:
        return Path(key_file)
    env = os.environ.get("TRUCELINE_LOG_KEY")
    return Path(env) if env else None


def log_public_key(conn: Connection) -> str | None:
    """The store's recorded log public key (base64), or None before first use."""
    return _get(conn, PUBLIC)


def log_signer(conn: Connection, key_file: str | Path | None = None, create: bool = True) -> Ed25519PrivateKey:
    """The private key that signs this store's tree heads (generated on first use).

    Must be called inside a write transaction when `create` may have to record a key.
    """
    path = key_file_from_env(key_file)
    recorded = _get(conn, PUBLIC)
    if path is not None:
        if path.exists():
            key = read_key_file(path)
        elif create and recorded is None:
            key = formats.new_private_key()
            write_key_file(path, key)
        else:
            raise InputError(f"{path}: log key file does not exist"
                             + (" (this log already has a key)" if recorded is not None else ""))
        public = formats.public_key_b64(key)
        if recorded is None:
            _put(conn, PUBLIC, public)
        elif recorded != public:
            raise TrucelineError(f"{path}: this is not the key of this log (the log's public key is {recorded})")
        return key
    stored = _get(conn, PRIVATE)
    if stored is not None:
        return formats.private_key_from_b64(stored)
    if recorded is not None:
        raise TrucelineError("this log's key is kept in a file: pass --log-key FILE (or set TRUCELINE_LOG_KEY)")
    if not create:
        raise TrucelineError("this log has no key yet")
    key = formats.new_private_key()
    _put(conn, PRIVATE, formats.private_key_to_b64(key))
    _put(conn, PUBLIC, formats.public_key_b64(key))
    return key
