"""Users, passwords and signed session cookies."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
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


@dataclass(frozen=True)
class User:
    name: str
    role: Role


class Auth:
    """The enabled roles' credentials, and the session cookies that stand for them."""

    def __init__(self, settings: Settings, key: bytes):
        accounts: dict[Role, tuple[str, str]] = {
            "operator": (settings.operator_user, settings.operator_password.get()),
            "viewer": (settings.viewer_user, settings.viewer_password.get()),
        }
        self._accounts = {role: (user, pw) for role, (user, pw) in accounts.items() if pw}
        self._keys: dict[str, bytes] = {
            role: hmac.digest(key, f"{role}\0{user}\0{pw}".encode(), "sha256")
            for role, (user, pw) in self._accounts.items()
        }

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
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            username, sep, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return self.check(username, password) if sep else None

    def issue(self, user: User, now: float | None = None) -> str:
        payload = f"{user.role}:{int((now or time.time()) + SESSION_SECONDS)}"
        return f"{payload}:{self._sign(user.role, payload)}"

    def verify(self, token: str, now: float | None = None) -> User | None:
        """The user of a session cookie that is well signed, unexpired and of an enabled role."""
        role, _, rest = token.partition(":")
        expires, _, signature = rest.partition(":")
        if role not in self._keys or not (expires.isascii() and expires.isdigit()):
            return None
        if not hmac.compare_digest(signature.encode(), self._sign(role, f"{role}:{expires}").encode()):
            return None
        if int(expires) < (now or time.time()):
            return None
        enabled = cast(Role, role)  # one of self._keys' roles (checked above)
        return User(self._accounts[enabled][0], enabled)

    def _sign(self, role: str, payload: str) -> str:
        return hmac.new(self._keys[role], payload.encode(), hashlib.sha256).hexdigest()


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
