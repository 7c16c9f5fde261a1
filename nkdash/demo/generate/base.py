"""What every part of the simulation shares: the clock, the books (ids, sequences, the
batch being filled), the products, vendors and shops as the simulation sees them, and
random draws."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from nkdash.demo.generate.catalogue import HOUR, ONE_DAY, STORABLE
from nkdash.demo.store import fmt_datetime

Record = dict[str, Any]
Batch = dict[str, list[Record]]


class Clock:
    """Local business time (a day + seconds after its midnight) -> Odoo's naive-UTC string."""

    # From 03:00 to 26:00 (02:00 next day) a day has one UTC offset: DST switches at 02:00/03:00.
    _FAST = range(3 * HOUR, 26 * HOUR)

    def __init__(self, tz: str):
        self.tz = ZoneInfo(tz)
        self._midnights: dict[dt.date, dt.datetime] = {}

    def at(self, day: dt.date, seconds: int) -> str:
        if seconds in self._FAST:
            base = self._midnights.get(day) or self._midnight(day)
            return (base + dt.timedelta(seconds=seconds)).isoformat(" ")
        return fmt_datetime(self.exact(day, seconds))

    def exact(self, day: dt.date, seconds: int) -> dt.datetime:
        local = dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=seconds)
        return local.replace(tzinfo=self.tz).astimezone(dt.UTC).replace(tzinfo=None)

    def _midnight(self, day: dt.date) -> dt.datetime:
        offset = dt.datetime.combine(day, dt.time(12), tzinfo=self.tz).utcoffset()
        assert offset is not None  # an aware datetime has an offset
        base = self._midnights[day] = dt.datetime.combine(day, dt.time()) - offset
        return base


def yesterday(tz: str) -> dt.date:
    return dt.datetime.now(ZoneInfo(tz)).date() - ONE_DAY


def weekday_on_or_after(day: dt.date) -> dt.date:
    while day.weekday() >= 5:
        day += ONE_DAY
    return day


def not_sunday(day: dt.date) -> dt.date:
    return day + ONE_DAY if day.weekday() == 6 else day


# --------------------------------------------------------------------------- bookkeeping


class Books:
    """Sequential ids per model, name sequences, and the batch being filled."""

    def __init__(self) -> None:
        self.batch: defaultdict[str, list[Record]] = defaultdict(list)
        self._ids: defaultdict[str, int] = defaultdict(int)
        self._seqs: defaultdict[object, int] = defaultdict(int)

    def add(self, model: str, record: Record) -> int:
        rid = self._ids[model] + 1
        self._ids[model] = rid
        record["id"] = rid
        self.batch[model].append(record)
        return rid

    def seq(self, key: object) -> int:
        self._seqs[key] += 1
        return self._seqs[key]

    def flush(self) -> Batch:
        batch, self.batch = dict(self.batch), defaultdict(list)
        return batch


@dataclass(eq=False, slots=True)
class Item:
    """A product as the simulation sees it; the record itself went out with the dimensions."""

    index: int
    id: int
    label: str  # "[CODE] Name": line, move and layer descriptions
    price: float  # list price, VAT excluded
    vat: float
    kind: str
    vendor: int  # vendor partner id, 0 if never purchased
    pack: int
    weight: float  # popularity
    base_cost: float  # standard price when history starts
    archive_day: dt.date | None = None
    active: bool = True

    @property
    def storable(self) -> bool:
        return self.kind == STORABLE


@dataclass(eq=False, slots=True)
class Vendor:
    id: int
    lead: int  # days between confirmation and receipt
    promised: int  # the lead time the vendor promises (product.supplierinfo.delay): some deliver late


@dataclass(eq=False, slots=True)
class Store:
    index: int
    name: str
    code: str
    size: float  # order volume factor (mean 1)
    days: frozenset[int]  # open weekdays
    open_s: int
    close_s: int
    night: bool  # also sells 23:30-00:30 (session closes after midnight)
    opened: dt.date | None = None  # first day it sells (None: before the history starts)
    config_id: int = 0
    stock_loc: int = 0
    type_in: int = 0
    type_pos: int = 0
    type_int: int = 0
    cashier: int = 0
    carries: list[bool] = field(default_factory=list)  # by item index
    catalog: list[Item] = field(default_factory=list)
    cum: list[float] = field(default_factory=list)  # cumulative popularity over catalog
    by_vendor: dict[int, list[Item]] = field(default_factory=dict)
    on_hand: list[int] = field(default_factory=list)  # units sellable now, by item index
    on_order: list[int] = field(default_factory=list)
    reorder: list[int] = field(default_factory=list)  # reorder level
    slots: list[int] = field(default_factory=list)  # quarter-hour starts of opening hours
    slot_cum: list[float] = field(default_factory=list)
    order_seq: int = 0
    line_seq: int = 0
    refundable: list[tuple] = field(default_factory=list)  # (ordinal, line id, item, qty, discount, partner)

    def drop_archived(self) -> None:
        self.catalog = [item for item in self.catalog if item.active]
        self.cum = list(itertools.accumulate(item.weight for item in self.catalog))


def outcome(rng: random.Random, count: int, odds: tuple[tuple[str, float], ...], usual: str) -> str:
    """A random outcome by its odds, ``usual`` otherwise. Documents number 1, 3, 5... take
    each rare outcome once in turn, so that even a tiny history shows every case."""
    if count % 2 and count // 2 < len(odds):
        return odds[count // 2][0]
    r = rng.random()
    for outcome, p in odds:
        if r < p:
            return outcome
        r -= p
    return usual


def floor_exp_rate(mean: float) -> float:
    """The rate of an exponential whose integer part has this mean (a geometric count)."""
    return math.log(1 + 1 / max(mean, 0.01))
