"""Per-model indexes over the demo store, built lazily and rebuilt after changes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from nkdash.demo.expression import is_null
from nkdash.demo.store import Model

T = TypeVar("T")


class Indexes:
    """Lazily built per-model indexes; rebuilt when records are added or after :meth:`invalidate`.

    Call :meth:`invalidate` after changing stored values (the ORM does it for
    ``Database.write``/``create``): an index never sees a value changed in place.
    """

    def __init__(self) -> None:
        self._revisions: dict[str | None, int] = {}  # None: every model
        self._cache: dict[tuple, tuple[tuple, Any]] = {}

    def invalidate(self, model: str | None = None) -> None:
        """Forget the indexes of ``model`` (of every model when None)."""
        self._revisions[model] = self._revisions.get(model, 0) + 1

    def _cached(self, key: tuple, model: Model, build: Callable[[], T]) -> T:
        revisions = self._revisions.get(None, 0), self._revisions.get(model.name, 0)
        stamp = (len(model.records), model.next_id, *revisions)
        hit = self._cache.get(key)
        if hit is None or hit[0] != stamp:
            hit = (stamp, build())
            self._cache[key] = hit
        return cast(T, hit[1])  # built by build() under key

    def ids(self, model: Model) -> list[int]:
        """All ids, ascending."""
        return self._cached(("ids", model.name), model, lambda: sorted(model.records))

    def buckets(self, model: Model, field: str) -> dict[Any, list[int]]:
        """value -> ascending ids having it (``False`` for unset): many2one and inverse lookups."""

        def build() -> dict[Any, list[int]]:
            out: dict[Any, list[int]] = {}
            for rid in self.ids(model):
                value = model.records[rid].get(field, False)
                out.setdefault(False if is_null(value) else value, []).append(rid)
            return out

        return self._cached(("buckets", model.name, field), model, build)

    def ordered(self, model: Model, field: str) -> tuple[list[Any], list[int]]:
        """(values, ids) of the records where ``field`` is set, sorted by value: range lookups."""

        def build() -> tuple[list[Any], list[int]]:
            pairs = sorted(
                (rec[field], rid) for rid, rec in model.records.items() if not is_null(rec.get(field, False))
            )
            return [p[0] for p in pairs], [p[1] for p in pairs]

        return self._cached(("ordered", model.name, field), model, build)
