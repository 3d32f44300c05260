"""Users, roles, hashed secrets, sessions and the audit trail of the dashboard.

Roles are ordered: `public` < `analyst` < `commissioner` < `admin`; a role may do what
any lower role may. Passwords are stored as scrypt hashes (`scrypt$n$r$p$salt$hash`),
API tokens (random, high entropy) as SHA-256 hashes. Sessions are random ids held by the
browser in an HttpOnly, SameSite=Strict cookie; the server keeps only their SHA-256 in a
small SQLite state file, next to the audit table that records every state change (login,
logout, votes and case actions, refused attempts) with actor, role, time and client.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import sqlite3
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from truceline.errors import InputError

ROLES = ("public", "analyst", "commissioner", "admin")
RANK = {r: i for i, r in enumerate(ROLES)}
SESSION_COOKIE = "tl_session"
SESSION_TTL_S = 12 * 3600
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
# name, role, commission identity (ids of the shipped illustrative commission config)
DEMO_USERS: tuple[tuple[str, str, str | None], ...] = (
    ("analyst", "analyst", "analyst"),
    ("commissioner", "commissioner", "FR"),
    ("commissioner-uk", "commissioner", "UK"),
    ("commissioner-de", "commissioner", "DE"),
    ("chair", "commissioner", "chair"),
    ("admin", "admin", "secretariat"),
)


def hash_secret(secret: str, salt: bytes | None = None) -> str:
    """scrypt hash of a password, self-describing: `scrypt$n$r$p$salt_b64$hash_b64`."""
    salt = salt or secrets.token_bytes(16)
    dk = hashlib.scrypt(secret.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(dk).decode()}"


def verify_secret(secret: str, encoded: str) -> bool:
    try:
        kind, n, r, p, salt, want = encoded.split("$")
        if kind != "scrypt":
            return False
        dk = hashlib.scrypt(secret.encode("utf-8"), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                            dklen=len(base64.b64decode(want)))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(dk, base64.b64decode(want))


def token_hash(token: str) -> str:
    return "sha256$" + hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class User:
    name: str
    role: str
    password_hash: str | None = None
    token_hashes: tuple[str, ...] = ()
    actor: str | None = None  # commission member id this user acts as (default: name)

    @property
    def actor_id(self) -> str:
        return self.actor or self.name

    def may(self, role: str) -> bool:
        return RANK[self.role] >= RANK[role]

    def public_view(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "actor": self.actor_id}


ANONYMOUS = User("anonymous", "public")


@dataclass
class UserDirectory:
    """The users that may log in; read from a TOML/JSON file or built for the demo."""

    users: dict[str, User] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._by_token = {h: u for u in self.users.values() for h in u.token_hashes}

    @classmethod
    def from_file(cls, path: str | Path) -> UserDirectory:
        """`[[users]]` entries: name, role, password_hash (scrypt), token_hashes, actor."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
            data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: cannot read users: {exc}") from None
        rows = data.get("users") if isinstance(data, dict) else data
        if not isinstance(rows, list):
            raise InputError(f"{path}: expected a list 'users'")
        users = {}
        for i, row in enumerate(rows):
            where = f"{path}: users[{i}]"
            if not isinstance(row, dict) or not isinstance(row.get("name"), str):
                raise InputError(f"{where}: needs a string 'name'")
            role = row.get("role")
            if role not in ROLES:
                raise InputError(f"{where}: role must be one of {', '.join(ROLES)}, got {role!r}")
            ph = row.get("password_hash")
            if ph is not None and not str(ph).startswith("scrypt$"):
                raise InputError(f"{where}: password_hash must be an scrypt hash (truceline serve hash-password)")
            th = tuple(str(t) for t in row.get("token_hashes") or [])
            if any(not t.startswith("sha256$") for t in th):
                raise InputError(f"{where}: token_hashes must be sha256$<hex>")
            users[row["name"]] = User(row["name"], role, ph, th, row.get("actor"))
        return cls(users)

    @classmethod
    def demo(cls, users: tuple[tuple[str, str, str | None], ...] | None = None
             ) -> tuple[UserDirectory, dict[str, dict[str, str]]]:
        """Demo users (name, role, commission identity); password `<name>-demo`, token
        `demo-token-<name>`. For a local demo only: `truceline demo` prints them."""
        creds: dict[str, dict[str, str]] = {}
        out = {}
        for name, role, actor in users or DEMO_USERS:
            pw, tok = f"{name}-demo", f"demo-token-{name}"
            out[name] = User(name, role, hash_secret(pw), (token_hash(tok),), actor)
            creds[name] = {"role": role, "password": pw, "token": tok, "actor": actor or name}
        return cls(out), creds

    def check_password(self, name: str, password: str) -> User | None:
        u = self.users.get(name)
        if u is None or not u.password_hash:
            verify_secret(password, hash_secret("x", b"0" * 16))  # same cost either way
            return None
        return u if verify_secret(password, u.password_hash) else None

    def check_token(self, token: str) -> User | None:
        return self._by_token.get(token_hash(token))


class WebState:
    """Sessions and the audit trail in one SQLite file (thread-safe)."""

    def __init__(self, path: str | Path | None = None):
        self.path = str(path) if path is not None else ":memory:"
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS web_sessions (
                sid_hash TEXT PRIMARY KEY, user TEXT NOT NULL, created REAL NOT NULL, expires REAL NOT NULL);
            CREATE TABLE IF NOT EXISTS web_audit (
                seq INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL, actor TEXT NOT NULL,
                role TEXT NOT NULL, action TEXT NOT NULL, target TEXT, outcome TEXT NOT NULL,
                detail TEXT, client TEXT);
            """
        )

    def new_session(self, user: User) -> str:
        sid = secrets.token_urlsafe(32)
        now = time.time()
        with self._lock:
            self._db.execute("DELETE FROM web_sessions WHERE expires < ?", (now,))
            self._db.execute("INSERT INTO web_sessions VALUES (?, ?, ?, ?)",
                             (token_hash(sid), user.name, now, now + SESSION_TTL_S))
        return sid

    def session_user(self, sid: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT user, expires FROM web_sessions WHERE sid_hash = ?",
                                   (token_hash(sid),)).fetchone()
        if row is None or row[1] < time.time():
            return None
        return str(row[0])

    def end_session(self, sid: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM web_sessions WHERE sid_hash = ?", (token_hash(sid),))

    def audit(self, user: User, action: str, target: str | None, outcome: str = "ok",
              detail: dict[str, Any] | None = None, client: str | None = None) -> None:
        from truceline.formats import format_time

        with self._lock:
            self._db.execute(
                "INSERT INTO web_audit (time, actor, role, action, target, outcome, detail, client) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (format_time(round(time.time(), 3)), user.name, user.role, action, target, outcome,
                 json.dumps(detail or {}, sort_keys=True), client),
            )

    def audit_rows(self, limit: int = 200) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, time, actor, role, action, target, outcome, detail, client FROM web_audit "
                "ORDER BY seq DESC LIMIT ?", (limit,)).fetchall()
        keys = ("seq", "time", "actor", "role", "action", "target", "outcome", "detail", "client")
        out = []
        for r in rows:
            d = dict(zip(keys, r, strict=True))
            d["detail"] = json.loads(d["detail"] or "{}")
            out.append(d)
        return out
