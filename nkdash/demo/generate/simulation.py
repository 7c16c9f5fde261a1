"""The simulation: the company's state, and its days played in order."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from collections.abc import Callable, Iterator

from nkdash.demo.generate.base import Batch, Books, Clock, Store, yesterday
from nkdash.demo.generate.catalogue import HOUR, ONE_DAY
from nkdash.demo.generate.company import Company
from nkdash.demo.generate.config import SCALES, DemoConfig
from nkdash.demo.generate.invoicing import Invoicing
from nkdash.demo.generate.pos import PointOfSale
from nkdash.demo.generate.purchasing import Purchasing
from nkdash.demo.generate.stock import Operations, Stock


class Simulation:
    """Holds the state of the company and plays its days in order."""

    def __init__(self, config: DemoConfig):
        self.cfg = config
        self.scale = SCALES[config.scale]
        self.version = config.version
        self.rng = random.Random(config.seed)
        self.clock = Clock(config.tz)
        self.end = config.end or yesterday(config.tz)
        self.start = self.end - dt.timedelta(days=config.days - 1)
        self.now = self.clock.exact(self.end + ONE_DAY, 3 * HOUR)
        self.books = Books()
        self.agenda: defaultdict[dt.date, list[Callable[[], None]]] = defaultdict(list)
        self.company = Company(self)
        self.costs = self.company.costs
        self.stock = Stock(self)
        self.invoices = Invoicing(self)
        self.pos = PointOfSale(self)
        self.purchases = Purchasing(self)
        self.operations = Operations(self)

    def run(self) -> Iterator[tuple[dt.date | None, Batch]]:
        yield None, self.books.flush()
        day = self.start
        while day <= self.end:
            yield day, self._play(day)
            day += ONE_DAY
        self.stock.emit_quants()
        yield None, self.books.flush()

    def _play(self, day: dt.date) -> Batch:
        self.stock.revalue(day, self.costs.start_day(day))
        if day == self.start:
            self.stock.opening_inventory(day)
        for event in self.agenda.pop(day, ()):
            event()
        self.operations.morning(day)
        self.pos.play(day)
        if day.weekday() < 5:
            self.invoices.play(day)
            self.purchases.play(day)
        self.operations.evening(day)
        return self.books.flush()

    def at(self, day: dt.date, seconds: float) -> str:
        return self.clock.at(day, int(seconds))

    def open_stores(self, day: dt.date) -> list[Store]:
        return [s for s in self.company.stores if day.weekday() in s.days and (s.opened is None or day >= s.opened)]
