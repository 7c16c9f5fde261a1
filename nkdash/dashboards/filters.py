"""What a dashboard is filtered by, and the closed choices (grains, breakdowns).

Filters: a :class:`Filters` holds the date range, store ids and category ids. Store ids
are ``dim_store.id`` (POS configs); invoice sales have no store, so a store filter leaves
them out. A category id selects the category and all its subcategories.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from nkdash.errors import InputError

Grain = Literal["day", "week", "month"]


GRAINS: tuple[Grain, ...] = get_args(Grain)


ProfitBy = Literal["store", "category", "department", "product"]


StockBy = Literal["location", "category", "department", "product"]


PurchasesBy = Literal["vendor", "category", "department", "product"]


DEFAULT_DAYS = 30


@dataclass(frozen=True)
class Filters:
    """What a dashboard shows: ``start``..``end`` (inclusive), stores, categories."""

    start: dt.date
    end: dt.date
    stores: tuple[int, ...] = ()
    categories: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
                raise InputError(f"{name} must be a date, got {value!r}", value)
        if self.end < self.start:
            raise InputError(f"the period ends ({self.end}) before it starts ({self.start})", (self.start, self.end))
        object.__setattr__(self, "stores", checked_ids("store", self.stores))
        object.__setattr__(self, "categories", checked_ids("category", self.categories))

    @classmethod
    def of(cls, period: Sequence[dt.date], stores: Iterable[int] = (), categories: Iterable[int] = ()) -> Filters:
        """From widget values: a (start, end) pair and lists of ids."""
        start, end = period
        return cls(start, end, tuple(stores), tuple(categories))

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Filters:
        """The period of the same length just before this one, same stores and categories."""
        end = self.start - dt.timedelta(days=1)
        return dataclasses.replace(self, start=end - dt.timedelta(days=self.days - 1), end=end)

    def with_stores(self, stores: Iterable[int]) -> Filters:
        return dataclasses.replace(self, stores=tuple(stores))

    def with_categories(self, categories: Iterable[int]) -> Filters:
        return dataclasses.replace(self, categories=tuple(categories))

    def describe(self) -> str:
        """One line for humans, e.g. ``2024-03-01 → 2024-03-30 (30 days), 2 stores``."""
        parts = [f"{self.start} → {self.end} ({self.days} day{'s' if self.days > 1 else ''})"]
        parts.append(f"{len(self.stores)} store(s)" if self.stores else "all stores")
        parts.append(
            f"{len(self.categories)} categor{'ies' if len(self.categories) > 1 else 'y'}"
            if self.categories
            else "all categories"
        )
        return ", ".join(parts)

    def log_params(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "stores": list(self.stores),
            "categories": list(self.categories),
        }


def checked_ids(what: str, values: Iterable[Any]) -> tuple[int, ...]:
    """Sorted, distinct, whole-number ids; anything else is refused (never reaches SQL)."""
    if isinstance(values, (str, bytes)):
        raise InputError(f"{what} ids must be a list of numbers, got {values!r}", values)
    out = set()
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"{what} id must be a whole number, got {value!r}", value)
        out.add(int(value))
    return tuple(sorted(out))


def checked_grain(grain: str) -> Grain:
    if grain not in GRAINS:
        raise InputError(f"granularity must be one of {', '.join(GRAINS)}, got {grain!r}", grain)
    return grain


def checked_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise InputError(f"{name} must be one of {', '.join(choices)}, got {value!r}", value)
    return value


Condition = Literal["stores", "categories", "no_categories"]


CONDITIONS: dict[str, Callable[[Filters], bool]] = {
    "stores": lambda f: bool(f.stores),
    "categories": lambda f: bool(f.categories),
    "no_categories": lambda f: not f.categories,
}
