"""Stock: pickings, moves, quants and valuation layers; the daily stock operations
(archiving, cycle counts, transfers between shops, scraps)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING

from nkdash.demo.generate.base import Item, Store
from nkdash.demo.generate.catalogue import ADJUSTMENT, HOUR, ONE_DAY, STORABLE

if TYPE_CHECKING:
    from nkdash.demo.generate.simulation import Simulation


class Stock:
    """Pickings and moves. Done moves feed the quants and, in 16-18, the valuation layers."""

    def __init__(self, sim: Simulation):
        self.sim = sim
        self.books = sim.books
        self.company = sim.company
        self.qty_field = "quantity_done" if sim.version == 16 else "quantity"
        self.reserved_shows = sim.version >= 17  # 17+: a ready move's `quantity` is what it reserved
        self.valued = sim.version <= 18
        self.store_of = {store.stock_loc: store for store in self.company.stores}
        self.tally: dict[tuple[int, int], list] = {}  # (product, location) -> [qty, first in, last move]

    def transfer(
        self,
        *,
        name: str,
        ptype: int,
        src: int,
        dest: int,
        lines: Iterable[tuple],
        when: str,
        created: str,
        cost_day: dt.date,
        origin: str | bool = False,
        partner: int | bool = False,
        state: str = "done",
        scheduled: str | None = None,
        sync: bool = True,
    ) -> int:
        """One picking; ``lines`` are (item, demand, done qty, purchase line id, unit price)."""
        done = state == "done"
        picking = self.books.add(
            "stock.picking",
            {
                "name": name,
                "origin": origin,
                "picking_type_id": ptype,
                "partner_id": partner,
                "location_id": src,
                "location_dest_id": dest,
                "state": state,
                "scheduled_date": scheduled or when,
                "date_done": when if done else False,
                "create_date": created,
                "write_date": when,
            },
        )
        for item, demand, qty, pol, price in lines:
            self.move(
                item,
                qty,
                src,
                dest,
                ref=name,
                date=when if done else scheduled or when,
                created=created,
                written=when,
                demand=demand,
                state=state,
                origin=origin,
                picking=picking,
                ptype=ptype,
                pol=pol,
                price=price,
                cost_day=cost_day,
                sync=sync,
            )
        return picking

    def move(
        self,
        item: Item,
        qty: int,
        src: int,
        dest: int,
        *,
        ref: str,
        date: str,
        cost_day: dt.date,
        created: str | None = None,
        written: str | None = None,
        demand: int | None = None,
        state: str = "done",
        name: str | None = None,
        origin: str | bool = False,
        picking: int | bool = False,
        ptype: int | bool = False,
        pol: int | bool = False,
        price: float = 0.0,
        inventory: bool = False,
        scrap: bool = False,
        sync: bool = True,
    ) -> int:
        """One stock.move; ``qty`` is the done quantity (ignored unless ``state`` is done)."""
        demand = qty if demand is None else demand
        done = state == "done"
        shown = qty if done else demand if state == "assigned" and self.reserved_shows else 0
        move = self.books.add(
            "stock.move",
            {
                "name": name or item.label,
                "reference": ref,
                "origin": origin,
                "product_id": item.id,
                "product_uom_qty": float(demand),
                self.qty_field: float(shown),
                "location_id": src,
                "location_dest_id": dest,
                "state": state,
                "date": date,
                "picking_id": picking,
                "picking_type_id": ptype,
                "purchase_line_id": pol,
                "price_unit": price,
                "scrapped": scrap,
                "is_inventory": inventory,
                "company_id": 1,
                "create_date": created or date,
                "write_date": written or date,
            },
        )
        if done:
            self._book(item, qty, src, dest, date, move, ref, cost_day, sync)
        return move

    def _book(
        self, item: Item, qty: int, src: int, dest: int, when: str, move: int, ref: str, cost_day: dt.date, sync: bool
    ) -> None:
        out_of, into = self.store_of.get(src), self.store_of.get(dest)
        if out_of:
            self._count(item.id, src, -qty, when)
            if sync:
                out_of.on_hand[item.index] -= qty
        if into:
            self._count(item.id, dest, qty, when)
            if sync:
                into.on_hand[item.index] += qty
        if self.valued and (out_of is None) != (into is None):
            signed = qty if into else -qty
            cost = self.sim.costs.prices(cost_day)[item.index]
            self.books.add(
                "stock.valuation.layer",
                {
                    "product_id": item.id,
                    "stock_move_id": move,
                    "company_id": 1,
                    "description": f"{ref} - {item.label}",
                    "quantity": float(signed),
                    "unit_cost": cost,
                    "value": round(signed * cost, 2),
                    "create_date": when,
                    "write_date": when,
                },
            )

    def _count(self, product: int, location: int, qty: int, when: str) -> None:
        entry = self.tally.get((product, location))
        if entry is None:
            self.tally[product, location] = [qty, when, when]
            return
        entry[0] += qty
        entry[1] = min(entry[1], when)
        entry[2] = max(entry[2], when)

    def revalue(self, day: dt.date, changes: list[tuple[Item, float, float]]) -> None:
        """Standard-price changes, as Odoo 16-18 record them: a layer without quantity."""
        if not (self.valued and changes):
            return
        stamp = self.sim.at(day, 0)
        for item, old, new in changes:
            self.books.add(
                "stock.valuation.layer",
                {
                    "product_id": item.id,
                    "stock_move_id": False,
                    "company_id": 1,
                    "description": f"Product value manually modified (from {old:.2f} to {new:.2f})",
                    "quantity": 0.0,
                    "unit_cost": new,
                    "value": 0.0,
                    "create_date": stamp,
                    "write_date": stamp,
                },
            )

    def opening_inventory(self, day: dt.date) -> None:
        stamp = self.sim.at(day, 6 * HOUR)
        for store in self.company.stores:
            for item in store.catalog:
                if item.storable and store.on_hand[item.index]:
                    self.move(
                        item,
                        store.on_hand[item.index],
                        self.company.inventory_loc,
                        store.stock_loc,
                        ref=ADJUSTMENT,
                        name=ADJUSTMENT,
                        date=stamp,
                        cost_day=day,
                        inventory=True,
                        price=self.sim.costs.current[item.index],
                        sync=False,
                    )

    def adjust(self, store: Store, item: Item, delta: int, day: dt.date, seconds: float) -> None:
        """An inventory adjustment: the counted quantity differs by ``delta``."""
        inventory = self.company.inventory_loc
        src, dest = (inventory, store.stock_loc) if delta > 0 else (store.stock_loc, inventory)
        self.move(
            item,
            abs(delta),
            src,
            dest,
            ref=ADJUSTMENT,
            name=ADJUSTMENT,
            date=self.sim.at(day, seconds),
            cost_day=day,
            inventory=True,
            price=self.sim.costs.current[item.index],
        )

    def scrap(self, store: Store, item: Item, qty: int, day: dt.date, seconds: float) -> None:
        name = f"SP/{self.books.seq('SP'):05d}"
        self.move(
            item,
            qty,
            store.stock_loc,
            self.company.scrap_loc,
            ref=name,
            name=name,
            origin=name,
            date=self.sim.at(day, seconds),
            cost_day=day,
            scrap=True,
            price=self.sim.costs.current[item.index],
        )

    def picking_name(self, store: Store, kind: str) -> str:
        return f"{store.code}/{kind}/{self.books.seq((store.code, kind)):05d}"

    def emit_quants(self) -> None:
        """One quant per (product, internal location) holding stock: the sum of its done moves."""
        for (product, location), (qty, first, last) in sorted(self.tally.items(), key=lambda kv: kv[0][::-1]):
            if qty:
                self.books.add(
                    "stock.quant",
                    {
                        "product_id": product,
                        "location_id": location,
                        "company_id": 1,
                        "quantity": float(qty),
                        "reserved_quantity": 0.0,
                        "in_date": first,
                        "create_date": first,
                        "write_date": last,
                    },
                )


class Operations:
    """Archiving products, cycle counts, transfers between shops, scraps."""

    def __init__(self, sim: Simulation):
        self.sim = sim
        self.rng = sim.rng
        self.archives: defaultdict[dt.date, list[Item]] = defaultdict(list)
        for item in sim.company.items:
            if item.archive_day and item.archive_day >= sim.start:
                self.archives[item.archive_day].append(item)
        stores = sim.scale.stores
        self.counts, self.transfers, self.scraps = 1 + stores // 3, max(1, stores // 4), 1 + stores // 4

    def morning(self, day: dt.date) -> None:
        self._archive(day)
        for _ in range(self.counts):
            self._count(day)

    def evening(self, day: dt.date) -> None:
        stores = self.sim.open_stores(day)
        if day.weekday() < 5 and len(stores) > 1:
            for _ in range(self.transfers):
                self._transfer(day, *self.rng.sample(stores, 2))
        for _ in range(self.scraps):
            self._scrap(day)

    def _archive(self, day: dt.date) -> None:
        """Archived products leave the shelves: remaining stock is adjusted to zero."""
        items = self.archives.pop(day, None)
        if not items:
            return
        company = self.sim.company
        for item in items:
            item.active = False
        company.refresh_sellable()
        for store in company.stores:
            store.drop_archived()
            for item in items:
                if store.on_hand[item.index] > 0:
                    self.sim.stock.adjust(store, item, -store.on_hand[item.index], day, 7 * HOUR)

    def _shelf(self, day: dt.date) -> tuple[Store, Item] | None:
        """A random storable product on a random open shop's shelf, if in stock."""
        stores = self.sim.open_stores(day)
        store = stores[int(self.rng.random() * len(stores))]
        item = store.catalog[int(self.rng.random() * len(store.catalog))]
        return (store, item) if item.kind == STORABLE and store.on_hand[item.index] > 0 else None

    def _count(self, day: dt.date) -> None:
        found = self._shelf(day)
        if found:
            store, item = found
            delta = max(self.rng.choice((-2, -1, -1, 1, 1, 2, 3)), -store.on_hand[item.index])
            self.sim.stock.adjust(store, item, delta, day, 7.5 * HOUR + self.rng.random() * 1800)

    def _scrap(self, day: dt.date) -> None:
        found = self._shelf(day)
        if found:
            store, item = found
            qty = min(store.on_hand[item.index], 1 + int(self.rng.random() * 2))
            self.sim.stock.scrap(store, item, qty, day, 18 * HOUR + self.rng.random() * HOUR)

    def _transfer(self, day: dt.date, src: Store, dest: Store) -> None:
        """Rebalancing: a third of what the source holds of a few products it has plenty of."""
        sim, rng = self.sim, self.rng
        picks = rng.sample(src.catalog, min(10, len(src.catalog)))
        moves = [
            (item, src.on_hand[item.index] // 3)
            for item in picks
            if item.kind == STORABLE and dest.carries[item.index] and src.on_hand[item.index] >= 6
        ]
        if not moves:
            return
        r = rng.random()
        state = "done" if r < 0.9 else "assigned" if r < 0.96 else "cancel"
        created = sim.at(day, 10 * HOUR + rng.random() * HOUR)
        when = sim.at(day, 14 * HOUR + rng.random() * 3 * HOUR)
        costs = sim.costs.current
        lines = [(item, qty, qty if state == "done" else 0, False, costs[item.index]) for item, qty in moves]
        sim.stock.transfer(
            name=sim.stock.picking_name(src, "INT"),
            ptype=src.type_int,
            src=src.stock_loc,
            dest=dest.stock_loc,
            lines=lines,
            when=when,
            created=created,
            cost_day=day,
            state=state,
            scheduled=sim.at(day + ONE_DAY, 10 * HOUR) if state == "assigned" else None,
        )
