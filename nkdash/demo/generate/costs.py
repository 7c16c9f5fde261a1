"""Standard prices over time, planned before history starts."""

from __future__ import annotations

import bisect
import datetime as dt
import math
import random
from collections import defaultdict

from nkdash.demo.generate.base import Clock, Item
from nkdash.demo.generate.catalogue import COST_CHANGES_PER_YEAR


class Costs:
    """Standard prices over time, planned up front so product records carry their final cost.

    A change takes effect at 00:00 local on its day, so the price in effect on a business
    date holds all day long: exactly what the ETL's rule (the latest valuation layer up to
    the end of the day) reads back.
    """

    def __init__(self, items: list[Item], rng: random.Random, start: dt.date, end: dt.date, clock: Clock):
        self.items = items
        self.clock = clock
        self.current = [it.base_cost for it in items]
        self.changes: defaultdict[dt.date, list[tuple[Item, float, float]]] = defaultdict(list)
        self._history: dict[int, tuple[list[dt.date], list[float]]] = {}
        self.today: dt.date | None = None
        self._other: tuple[dt.date | None, list[float]] = (None, [])
        span = (end - start).days
        for item in items:
            if item.storable and item.archive_day is None and span:
                self._plan(item, rng, start, span)

    def _plan(self, item: Item, rng: random.Random, start: dt.date, span: int) -> None:
        count = min(_poisson(rng, COST_CHANGES_PER_YEAR * span / 365), span)
        if not count:
            return
        days = [start + dt.timedelta(days=offset) for offset in sorted(rng.sample(range(1, span + 1), count))]
        prices, price = [], item.base_cost
        for day in days:
            new = _new_cost(rng, price, item.price)
            self.changes[day].append((item, price, new))
            prices.append(new)
            price = new
        self._history[item.index] = (days, prices)

    def start_day(self, day: dt.date) -> list[tuple[Item, float, float]]:
        """Apply the day's changes; returns them as (item, old, new)."""
        changes = self.changes.get(day, [])
        for item, _old, new in changes:
            self.current[item.index] = new
        self.today = day
        return changes

    def prices(self, day: dt.date) -> list[float]:
        """Every item's cost in effect on ``day``, by item index."""
        if day == self.today:
            return self.current
        if self._other[0] != day:
            self._other = (day, [self.on(it, day) for it in self.items])
        return self._other[1]

    def on(self, item: Item, day: dt.date) -> float:
        days, prices = self._history.get(item.index, ((), ()))
        k = bisect.bisect_right(days, day)
        return prices[k - 1] if k else item.base_cost

    def final(self, item: Item) -> float:
        history = self._history.get(item.index)
        return history[1][-1] if history else item.base_cost

    def last_change(self, item: Item) -> str | None:
        history = self._history.get(item.index)
        return self.clock.at(history[0][-1], 0) if history else None


def _poisson(rng: random.Random, lam: float) -> int:
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _new_cost(rng: random.Random, old: float, list_price: float) -> float:
    new = round(old * (1 + rng.gauss(0.02, 0.05)), 2)
    new = min(max(new, 0.01), round(list_price * 0.92, 2))
    if new == old:
        new = round(old - 0.01, 2) if old > 0.01 else 0.02
    return new
