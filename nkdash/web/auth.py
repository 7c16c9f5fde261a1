"""Users, passwords and signed session cookies that the server can end.

A cookie is ``role:expiry:session id:hmac``. Logging out ends that session on the server:
its id goes to :class:`Revocations` (``<state_dir>/web-sessions-revoked``, kept until the
cookie would have expired anyway, so a revoked cookie stays refused across restarts).
Changing a role's password ends every session of that role (the signing key is derived
from it)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from nkdash.errors import ConfigError
from nkdash.notebooks import Role
from nkdash.settings import Settings

SESSION_COOKIE = "nkdash_session"


SESSION_SECONDS = 12 * 3600


KEY_FILE = "web-session.key"


REVOKED_FILE = "web-sessions-revoked"


@dataclass(frozen=True)
class User:
    name: str
    role: Role


class Auth:
    """The enabled roles' credentials, and the session cookies that stand for them."""

    def __init__(self, settings: Settings, key: bytes, revoked: Revocations | None = None):
        accounts: dict[Role, tuple[str, str]] = {
            "operator": (settings.operator_user, settings.operator_password.get()),
            "viewer": (settings.viewer_user, settings.viewer_password.get()),
        }
        self._accounts = {role: (user, pw) for role, (user, pw) in accounts.items() if pw}
        self._keys: dict[str, bytes] = {
            role: hmac.digest(key, f"{role}\0{user}\0{pw}".encode(), "sha256")
            for role, (user, pw) in self._accounts.items()
        }
        self.revoked = revoked if revoked is not None else Revocations(None)

    def check(self, username: str, password: str) -> User | None:
        """The user these credentials belong to (the operator first), else None."""
        found = None
        for role, (user, pw) in self._accounts.items():
            same = hmac.compare_digest(username.encode(), user.encode()) & hmac.compare_digest(
                password.encode(), pw.encode()
            )
            if same and found is None:
                found = User(user, role)
        return found

    def basic(self, header: str) -> User | None:
        """The user of an ``Authorization: Basic ...`` header, else None."""
        credentials = basic_credentials(header)
        return self.check(*credentials) if credentials else None

    def issue(self, user: User, now: float | None = None) -> str:
        payload = f"{user.role}:{int((now or time.time()) + SESSION_SECONDS)}:{secrets.token_hex(16)}"
        return f"{payload}:{self._sign(user.role, payload)}"

    def verify(self, token: str, now: float | None = None) -> User | None:
        """The user of a session cookie that is well signed, unexpired, not ended by a logout
        and of an enabled role."""
        parsed = self._parse(token, now)
        return User(self._accounts[parsed[0]][0], parsed[0]) if parsed else None

    def revoke(self, token: str) -> bool:
        """End the session of a valid cookie on the server (logout); False if it was not valid."""
        parsed = self._parse(token)
        if parsed:
            self.revoked.add(parsed[2], parsed[1])
        return parsed is not None

    def _parse(self, token: str, now: float | None = None) -> tuple[Role, int, str] | None:
        """(role, expiry, session id) of a valid cookie, else None."""
        role, expires, session, signature = ([*token.split(":", 3), "", "", ""])[:4]
        if role not in self._keys or not (expires.isascii() and expires.isdigit()) or not session:
            return None
        if not hmac.compare_digest(signature.encode(), self._sign(role, f"{role}:{expires}:{session}").encode()):
            return None
        if int(expires) < (now or time.time()) or session in self.revoked:
            return None
        return cast(Role, role), int(expires), session  # one of self._keys' roles (checked above)

    def _sign(self, role: str, payload: str) -> str:
        return hmac.new(self._keys[role], payload.encode(), hashlib.sha256).hexdigest()


def basic_credentials(header: str) -> tuple[str, str] | None:
    """(user name, password) of an ``Authorization: Basic ...`` header, else None."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        username, sep, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return (username, password) if sep else None


class Revocations:
    """Session ids ended before their cookie expires, kept in a file (None: in memory only).

    One line per session, ``<id> <expiry>``; expired ones are dropped when the file is read
    and when it is rewritten (once it holds more than :data:`REWRITE_AFTER` lines)."""

    REWRITE_AFTER = 1000

    def __init__(self, path: Path | None):
        self.path = path
        self._lock = threading.Lock()
        self._ids: dict[str, int] = {}
        self._lines = 0
        if path is not None and path.exists():
            for line in path.read_text().splitlines():
                session, _, expires = line.partition(" ")
                if expires.isdigit():
                    self._ids[session] = int(expires)
                    self._lines += 1
            self._drop_expired()

    def __contains__(self, session: str) -> bool:
        return session in self._ids

    def add(self, session: str, expires: int) -> None:
        with self._lock:
            self._ids[session] = expires
            if self.path is None:
                return
            self._lines += 1
            if self._lines > self.REWRITE_AFTER:
                self._drop_expired()
                self._rewrite()
            else:
                with self.path.open("a") as f:
                    f.write(f"{session} {expires}\n")

    def _drop_expired(self) -> None:
        now = time.time()
        self._ids = {s: e for s, e in self._ids.items() if e >= now}

    def _rewrite(self) -> None:
        assert self.path is not None
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text("".join(f"{s} {e}\n" for s, e in self._ids.items()))
        os.replace(tmp, self.path)
        self._lines = len(self._ids)


def session_key(state_dir: Path) -> bytes:
    """The random key behind session cookies, created once (mode 0600) in ``state_dir``."""
    path = state_dir / KEY_FILE
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_bytes()
        if len(key) < 32:
            raise ConfigError("NKDASH_STATE_DIR", f"{path} is damaged: delete it (this logs everyone out)") from None
        return key
    except OSError as e:
        raise ConfigError("NKDASH_STATE_DIR", f"cannot create {path}: {e.strerror}") from None
    key = secrets.token_bytes(32)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


LOCAL_USER = User("local", "operator")  # everyone, with no_auth


def revocations(state_dir: Path) -> Revocations:
    """The revoked sessions kept in ``state_dir`` (next to the session key)."""
    return Revocations(state_dir / REVOKED_FILE)
