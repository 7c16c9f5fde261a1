"""Login throttling: repeated failed logins slow down, then lock out, per user name and per
client address, for the login form and HTTP Basic alike.

Per key (a user name, or a client address), with its :class:`Policy`:

- the first ``free`` failures cost nothing;
- each further failure makes the next attempt wait ``base * 2**k`` seconds (k = 0, 1, 2...,
  at most ``max_delay``): an attempt before then is refused (HTTP 429 with ``Retry-After``)
  without its password being checked, so guessing goes no faster than the delays allow;
- ``lockout_after`` failures lock the key out for ``lockout`` seconds, the right password
  included;
- failures are forgotten ``window`` seconds after the last one. A successful login forgets
  nothing: a guesser could otherwise reset the count with a password they know.

A user name is limited wherever it is tried from, an address whatever name it tries. An
address is the TCP peer: behind a reverse proxy every client has the proxy's address, so
its limits (:data:`ADDRESS_POLICY`) are looser than a user's. A lockout also locks out the
user it protects: an attacker who knows a user name can keep that user out (their open
sessions stay valid); a restart of ``nkdash serve`` ends every lockout.

The web app is one process (marimo's run-mode sessions are threads of it), so the state
lives in memory: :func:`install` makes the app's throttle the process's, whose
:meth:`LoginThrottle.report` (counts only, never a user name or address) ``/health`` and
the monitoring page show. The clock and the policies are parameters (tests never sleep).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Kind = Literal["user", "address"]


@dataclass(frozen=True)
class Policy:
    free: int = 3  # failures that cost nothing
    base: float = 1.0  # seconds of the first delay; doubled by each further failure
    max_delay: float = 60.0
    lockout_after: int = 10  # failures within the window that lock the key out
    lockout: float = 900.0  # seconds
    window: float = 900.0  # failures are forgotten this long after the last one


USER_POLICY = Policy()


ADDRESS_POLICY = Policy(free=10, lockout_after=50)  # an office or a proxy: many users, one address


MAX_KEYS = 10_000  # keys remembered at most (the oldest are forgotten first)


@dataclass
class _Key:
    failures: int = 0
    last: float = 0.0  # time of the last failure
    until: float = 0.0  # no attempt before this
    locked: bool = False  # `until` is the end of a lockout, not of a delay


class LoginThrottle:
    """Failed logins per user name and per client address (see the module docstring)."""

    def __init__(
        self,
        user: Policy = USER_POLICY,
        address: Policy = ADDRESS_POLICY,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.policies: dict[Kind, Policy] = {"user": user, "address": address}
        self.clock = clock
        self._keys: dict[tuple[Kind, str], _Key] = {}
        self._lock = threading.Lock()
        self.counts = {"failed": 0, "refused": 0, "lockouts": 0, "accepted": 0}

    def wait(self, user: str, address: str) -> float:
        """Seconds before ``user`` may try a password from ``address`` (0: now). A refusal counts."""
        now = self.clock()
        with self._lock:
            seconds = max(self._wait(("user", user), now), self._wait(("address", address), now))
            if seconds > 0:
                self.counts["refused"] += 1
            return seconds

    def failed(self, user: str, address: str) -> None:
        """A wrong password (or user name) was tried."""
        now = self.clock()
        with self._lock:
            self.counts["failed"] += 1
            for key in (("user", user), ("address", address)):
                self._fail(key, now)

    def succeeded(self) -> None:
        with self._lock:
            self.counts["accepted"] += 1

    def report(self) -> dict[str, object]:
        """Counts since the start, and the keys delayed or locked out now: no name, no address."""
        now = self.clock()
        with self._lock:
            current = {k: v for k, v in self._keys.items() if v.until > now}
            return {
                **self.counts,
                "locked_out": {
                    kind: sum(1 for (k, _), v in current.items() if k == kind and v.locked) for kind in self.policies
                },
                "delayed": {
                    kind: sum(1 for (k, _), v in current.items() if k == kind and not v.locked)
                    for kind in self.policies
                },
            }

    def _wait(self, key: tuple[Kind, str], now: float) -> float:
        state = self._keys.get(key)
        return max(0.0, state.until - now) if state else 0.0

    def _fail(self, key: tuple[Kind, str], now: float) -> None:
        policy = self.policies[key[0]]
        state = self._keys.get(key)
        if state is None or now - state.last > policy.window:
            state = _Key()
        elif state.locked and now >= state.until:  # a lockout that ended: the next failure locks again
            state.locked = False
        self._keys.pop(key, None)
        self._keys[key] = state  # the most recent last: the oldest are forgotten first
        state.failures, state.last = state.failures + 1, now
        if state.failures >= policy.lockout_after:
            if not state.locked:
                self.counts["lockouts"] += 1
            state.until, state.locked = now + policy.lockout, True
        elif state.failures > policy.free:
            state.until = now + min(policy.max_delay, policy.base * 2 ** (state.failures - policy.free - 1))
        while len(self._keys) > MAX_KEYS:
            del self._keys[next(iter(self._keys))]


_current: LoginThrottle | None = None


def install(throttle: LoginThrottle) -> LoginThrottle:
    """Make ``throttle`` this process's (the served app's); returns it."""
    global _current  # noqa: PLW0603 — the one web app of the process
    _current = throttle
    return throttle


def report() -> dict[str, object] | None:
    """The served app's counts, or None when this process serves no app (a notebook run elsewhere)."""
    return _current.report() if _current is not None else None
