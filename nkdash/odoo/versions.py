"""Differences between Odoo 16, 17, 18 and 19, decided once per connection.

Where a field exists is read from ``fields_get`` (not assumed from the version number),
so a customised or in-between version still gets the right names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SOLD_POS_STATES = ("paid", "done", "invoiced")


@dataclass(frozen=True)
class VersionProfile:
    version: int
    move_qty_field: str  # stock.move done quantity
    storable_field: str  # "is_storable" (18+) or "detailed_type" (16/17)
    pos_sold_states: tuple[str, ...]  # pos.order states that count as sales
    has_valuation_layer: bool  # stock.valuation.layer exists (16-18)
    group_method: str  # "read_group" (16-18) or "formatted_read_group" (19+)

    @property
    def storable_domain(self) -> list[Any]:
        if self.storable_field == "is_storable":
            return [("is_storable", "=", True)]
        return [("detailed_type", "=", "product")]


def build_profile(version: int, fields_of: Callable[[str], dict[str, Any] | None]) -> VersionProfile:
    """``fields_of(model)`` returns fields_get() of a model, or None if it does not exist."""
    move = fields_of("stock.move") or {}
    product = fields_of("product.product") or {}
    order = fields_of("pos.order") or {}
    states = {key for key, _ in (order.get("state", {}).get("selection") or [])}
    return VersionProfile(
        version=version,
        move_qty_field="quantity" if "quantity" in move else "quantity_done",
        storable_field="is_storable" if "is_storable" in product else "detailed_type",
        pos_sold_states=tuple(s for s in SOLD_POS_STATES if s in states) or SOLD_POS_STATES[:2],
        has_valuation_layer=fields_of("stock.valuation.layer") is not None,
        group_method="formatted_read_group" if version >= 19 else "read_group",
    )
