"""Fault injection for the demo Odoo: failed, hung, slow, cut-off and reset calls,
reproducible from a seed.

Set ``server.faults = Faults(...)`` on a running :class:`~nkdash.demo.server.DemoServer`.
Each RPC request draws once from the seeded generator: with probability ``error_rate``
it is answered with HTTP ``status`` (500, 502, 503, 504 or 429; or one of ``statuses``,
drawn); with ``timeout_rate`` it hangs ``hang_seconds`` (longer than a client's timeout)
before being served; with ``slow_rate`` it is served after ``slow_seconds``; with
``truncate_rate`` its answer is cut off: the headers (with the full ``Content-Length``)
and part of the body are sent, then the connection is closed; with ``reset_rate`` the
connection is closed with no answer at all. Every RPC request also waits ``latency``
seconds. The same seed and the same sequence of requests give the same faults.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Literal

FaultKind = Literal["error", "timeout", "slow", "truncated", "reset"]
ERROR_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass
class Faults:
    error_rate: float = 0.0
    timeout_rate: float = 0.0
    slow_rate: float = 0.0
    truncate_rate: float = 0.0
    reset_rate: float = 0.0
    latency: float = 0.0
    slow_seconds: float = 2.0
    hang_seconds: float = 30.0
    seed: int = 0
    status: int = 503
    statuses: tuple[int, ...] = ()  # when given, each error's status is drawn from these
    _random: random.Random = field(init=False, repr=False, compare=False)
    _lock: threading.Lock = field(init=False, repr=False, compare=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        for status in (self.status, *self.statuses):
            if status not in ERROR_STATUSES:
                raise ValueError(f"status must be one of {sorted(ERROR_STATUSES)}, not {status}")
        if sum(rate for _kind, rate in self.rates) > 1:
            raise ValueError("the fault rates must not add up to more than 1")
        self._random = random.Random(self.seed)

    def draw(self) -> FaultKind | None:
        """The fault for the next request, if any."""
        with self._lock:
            roll = self._random.random()
        for kind, rate in self.rates:
            if roll < rate:
                return kind
            roll -= rate
        return None

    @property
    def rates(self) -> tuple[tuple[FaultKind, float], ...]:
        return (
            ("error", self.error_rate),
            ("timeout", self.timeout_rate),
            ("slow", self.slow_rate),
            ("truncated", self.truncate_rate),
            ("reset", self.reset_rate),
        )

    def error_status(self) -> int:
        """The HTTP status of the next injected error."""
        if not self.statuses:
            return self.status
        with self._lock:
            return self.statuses[self._random.randrange(len(self.statuses))]

    def delay(self, kind: FaultKind | None) -> float:
        """Seconds to wait before answering a request drawn as ``kind``."""
        extra = {"timeout": self.hang_seconds, "slow": self.slow_seconds}.get(kind or "", 0.0)
        return self.latency + extra
