"""Fault injection for the demo Odoo: failed, hung and slow calls, reproducible from a seed.

Set ``server.faults = Faults(...)`` on a running :class:`~nkdash.demo.server.DemoServer`.
Each RPC request draws once from the seeded generator: with probability ``error_rate``
it is answered with HTTP ``status`` (500, 502, 503, 504 or 429); with ``timeout_rate`` it
hangs ``hang_seconds`` (longer than a client's timeout) before being served; with
``slow_rate`` it is served after ``slow_seconds``. Every RPC request also waits
``latency`` seconds. The same seed and the same sequence of requests give the same faults.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Literal

FaultKind = Literal["error", "timeout", "slow"]
ERROR_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass
class Faults:
    error_rate: float = 0.0
    timeout_rate: float = 0.0
    slow_rate: float = 0.0
    latency: float = 0.0
    slow_seconds: float = 2.0
    hang_seconds: float = 30.0
    seed: int = 0
    status: int = 503
    _random: random.Random = field(init=False, repr=False, compare=False)
    _lock: threading.Lock = field(init=False, repr=False, compare=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.status not in ERROR_STATUSES:
            raise ValueError(f"status must be one of {sorted(ERROR_STATUSES)}, not {self.status}")
        if self.error_rate + self.timeout_rate + self.slow_rate > 1:
            raise ValueError("error_rate + timeout_rate + slow_rate must not exceed 1")
        self._random = random.Random(self.seed)

    def draw(self) -> FaultKind | None:
        """The fault for the next request, if any."""
        with self._lock:
            roll = self._random.random()
        rates: tuple[tuple[FaultKind, float], ...] = (
            ("error", self.error_rate),
            ("timeout", self.timeout_rate),
            ("slow", self.slow_rate),
        )
        for kind, rate in rates:
            if roll < rate:
                return kind
            roll -= rate
        return None

    def delay(self, kind: FaultKind | None) -> float:
        """Seconds to wait before answering a request drawn as ``kind``."""
        extra = {"timeout": self.hang_seconds, "slow": self.slow_seconds}.get(kind or "", 0.0)
        return self.latency + extra
