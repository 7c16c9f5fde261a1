"""The dimensions: company, users, partners, categories, products, locations,
warehouses and shops (with their assortment and opening stock)."""

from __future__ import annotations

import datetime as dt
import itertools
import math
from typing import TYPE_CHECKING

from nkdash.demo.generate.base import Item, Record, Store, Vendor
from nkdash.demo.generate.catalogue import (
    CASHIER_MODELS,
    CASHIER_PASSWORD,
    CITIES,
    COMPANY,
    CONSU,
    DEPARTMENTS,
    EXTRA_COUNT,
    EXTRAS,
    FIRST_NAMES,
    HOUR,
    HOURLY,
    LANG,
    LANGUAGES,
    LAST_NAMES,
    LEGAL_FORMS,
    NEW_SHOP_DAYS,
    PLACES,
    PRICE_ENDINGS,
    SERVICE,
    SETUP_DAYS,
    SITES,
    STORABLE,
    TRADES,
    Dept,
    Sub,
)
from nkdash.demo.generate.costs import Costs
from nkdash.demo.store import User

if TYPE_CHECKING:
    from nkdash.demo.generate.simulation import Simulation


class Company:
    """Company, users, partners, categories, products, locations, warehouses and shops.

    Building the products also plans their costs (``self.costs``): product records carry
    their final standard price.
    """

    def __init__(self, sim: Simulation):
        self.sim = sim
        self.rng = sim.rng
        self.books = sim.books
        self.setup_day = sim.start - dt.timedelta(days=SETUP_DAYS)
        self.setup = sim.at(self.setup_day, 9 * HOUR)
        self.logins: dict[str, User] = {}
        self._company()
        self.stores = self._plan_stores()
        self._users()
        self.individuals, self.businesses = self._customers()
        self.vendors = self._vendors()
        self.items = self._products()
        self._locations()
        for store in self.stores:
            self._shop(store)
        self.sellable: list[Item] = []
        self.sellable_cum: list[float] = []
        self.refresh_sellable()

    def add(self, model: str, record: Record, created: str | None = None, written: str | None = None) -> int:
        record["create_date"] = created or self.setup
        record["write_date"] = written or record["create_date"]
        return self.books.add(model, record)

    def refresh_sellable(self) -> None:
        """What customer invoices may contain: active goods and services."""
        self.sellable = [it for it in self.items if it.active and it.kind != CONSU]
        self.sellable_cum = list(itertools.accumulate(it.weight for it in self.sellable))

    def review_cycle(self) -> int:
        """Weekdays between two purchase reviews of the same (shop, vendor) pair."""
        scale = self.sim.scale
        return max(1, round(scale.stores * len(self.vendors) / scale.purchases_per_day))

    # -- company, users, partners

    def _company(self) -> None:
        """The company, in euros; its language (its partner's) is English (UK): what the
        dashboards' currency and formats default to."""
        self.add("res.currency", {"name": "EUR", "symbol": "€", "position": "after", "decimal_places": 2})
        for code, name, date_format, active in LANGUAGES:
            self.add(
                "res.lang",
                {
                    "name": name,
                    "code": code,
                    "date_format": date_format,
                    "time_format": "%H:%M:%S",
                    "decimal_point": ".",
                    "thousands_sep": ",",
                    "active": active,
                },
            )
        self.add("res.company", {"name": COMPANY, "currency_id": 1, "partner_id": 1})
        self.add("ir.config_parameter", {"key": "database.uuid", "value": self.sim.cfg.database_uuid})
        self.add("ir.config_parameter", {"key": "database.create_date", "value": self.setup})
        self._partner(COMPANY, is_company=True, email="info@nk-retail.example", city="Brussels", company=1, lang=LANG)
        self._partner("OdooBot", active=False, email="odoobot@example.com", company=1)
        self._partner("Administrator", email="admin@nk-retail.example", city="Brussels", company=1, lang=LANG)

    def _partner(
        self,
        name: str,
        *,
        is_company: bool = False,
        email: str | bool = False,
        city: str | bool = False,
        ref: str | bool = False,
        customer: int = 0,
        supplier: int = 0,
        company: int | bool = False,
        active: bool = True,
        created: str | None = None,
        written: str | None = None,
        lang: str | bool = False,
    ) -> int:
        return self.add(
            "res.partner",
            {
                "name": name,
                "ref": ref,
                "email": email,
                "city": city,
                "is_company": is_company,
                "customer_rank": customer,
                "supplier_rank": supplier,
                "parent_id": False,
                "company_id": company,
                "active": active,
                **({"lang": lang} if lang else {}),
            },
            created,
            written,
        )

    def _users(self) -> None:
        cfg = self.sim.cfg
        self.add(
            "res.users",
            {"name": "OdooBot", "login": "__system__", "tz": cfg.tz, "partner_id": 2, "company_id": 1, "active": False},
        )
        self.add(
            "res.users",
            {
                "name": "Administrator",
                "login": cfg.login,
                "tz": cfg.tz,
                "partner_id": 3,
                "company_id": 1,
                "active": True,
            },
        )
        self.logins[cfg.login] = User(cfg.login, cfg.password, 2, api_key=cfg.api_key)
        for store in self.stores:
            first, last = FIRST_NAMES[store.index % len(FIRST_NAMES)], LAST_NAMES[store.index * 7 % len(LAST_NAMES)]
            login = f"{first}.{last}".lower().replace(" ", "")
            partner = self._partner(f"{first} {last}", email=f"{login}@nk-retail.example", company=1)
            store.cashier = self.add(
                "res.users",
                {
                    "name": f"{first} {last}",
                    "login": login,
                    "tz": cfg.tz,
                    "partner_id": partner,
                    "company_id": 1,
                    "active": True,
                },
            )
            self.logins[login] = User(login, CASHIER_PASSWORD, store.cashier, allowed_models=CASHIER_MODELS)

    def _before_history(self) -> str:
        """A creation time between setup and the first business day."""
        day = self.setup_day + dt.timedelta(days=int(self.rng.random() * SETUP_DAYS))
        return self.sim.at(day, 8 * HOUR + self.rng.random() * 10 * HOUR)

    def _during_history(self) -> str:
        sim = self.sim
        return sim.at(sim.start + dt.timedelta(days=int(self.rng.random() * sim.cfg.days)), 10 * HOUR)

    def _customers(self) -> tuple[list[int], list[int]]:
        """Shoppers (individuals) and business customers (mostly invoiced); 3 % archived."""
        rng = self.rng
        individuals: list[int] = []
        businesses: list[int] = []
        for k in range(1, self.sim.scale.customers + 1):
            last, city = rng.choice(LAST_NAMES), rng.choice(CITIES)
            business = rng.random() < 0.1
            if business:
                name = f"{rng.choice(TRADES)} {last}"
                email = f"info@{_slug(name)}.example"
            else:
                first = rng.choice(FIRST_NAMES)
                name, email = f"{first} {last}", f"{_slug(first)}.{_slug(last)}@example.com"
            active = rng.random() >= 0.03
            created = self._before_history()
            pid = self._partner(
                name,
                is_company=business,
                email=email,
                city=city,
                ref=f"C{k:05d}",
                customer=1 + int(rng.random() * 30),
                active=active,
                created=created,
                written=created if active else self._during_history(),
            )
            (businesses if business else individuals).append(pid)
        return individuals, businesses

    def _vendors(self) -> list[Vendor]:
        """Vendor k serves department k mod 5; two more vendors are archived and unused."""
        rng, vendors = self.rng, []
        count = self.sim.scale.vendors
        for k in range(count + 2):
            place = PLACES[k % len(PLACES)] + (f" {k // len(PLACES) + 1}" if k >= len(PLACES) else "")
            name = f"{place} {DEPARTMENTS[k % len(DEPARTMENTS)].trade} {LEGAL_FORMS[k % len(LEGAL_FORMS)]}"
            active = k < count
            created = self._before_history() if active else self.setup
            pid = self._partner(
                name,
                is_company=True,
                email=f"orders@{_slug(place)}.example",
                city=rng.choice(CITIES),
                ref=f"V{k + 1:04d}",
                supplier=1 + int(rng.random() * 50),
                active=active,
                created=created,
                written=created if active else self._before_history(),
            )
            if active:
                lead = 1 + int(rng.random() * 3)
                vendors.append(Vendor(pid, lead, lead - 1 if k % 3 == 1 and lead > 1 else lead))
        return vendors

    # -- products

    def _products(self) -> list[Item]:
        subs, extra_categories = self._categories()
        planned = self._plan_goods(subs) + self._plan_extras(extra_categories)
        items = [item for item, _record in planned]
        self._plan_archives(items)
        self.costs = costs = Costs(items, self.rng, self.sim.start, self.sim.end, self.sim.clock)
        for item, record in planned:
            archived = item.archive_day is not None
            record["standard_price"] = costs.final(item)
            record["active"] = not archived
            written = costs.last_change(item)
            if item.archive_day is not None:  # archived
                written = (
                    self.sim.at(item.archive_day, 7 * HOUR)
                    if item.archive_day >= self.sim.start
                    else self._before_history()
                )
            template = self.add("product.template", {"name": record["name"], "active": record["active"]}, None, written)
            self.add("product.product", {**record, "product_tmpl_id": template}, written=written)
        self._supplierinfo(items)
        return items

    def _supplierinfo(self, items: list[Item]) -> None:
        """Each purchased product's vendor and the lead time the vendor promises (Odoo's
        ``product.supplierinfo.delay``), on its template."""
        promised = {v.id: v.promised for v in self.vendors}
        for item in items:
            if item.vendor:
                self.add(
                    "product.supplierinfo",
                    {
                        "partner_id": item.vendor,
                        "product_tmpl_id": item.id,  # one template per product, same id
                        "product_id": False,
                        "sequence": 1,
                        "min_qty": float(item.pack),
                        "price": item.base_cost,
                        "delay": promised[item.vendor],
                    },
                )

    def _category(self, name: str, parent: Record | None) -> Record:
        record = {
            "name": name,
            "complete_name": f"{parent['complete_name']} / {name}" if parent else name,
            "parent_id": parent["id"] if parent else False,
        }
        cid = self.add("product.category", record)
        record["parent_path"] = f"{parent['parent_path'] if parent else ''}{cid}/"
        return record

    def _categories(self) -> tuple[list[tuple[int, Sub, int, list[str]]], list[int]]:
        """All / department / sub-category. Returns (department index, sub, category id, name pool)
        per sub-category, and the category ids of the extras."""
        root = self._category("All", None)
        subs = []
        for d, dept in enumerate(DEPARTMENTS):
            parent = self._category(dept.name, root)
            subs += [(d, sub, self._category(sub.name, parent)["id"], self._name_pool(dept, sub)) for sub in dept.subs]
        extras = [self._category(leaf, self._category(top, root))["id"] for (top, leaf), *_rest in EXTRAS]
        return subs, extras

    def _plan_goods(self, subs: list[tuple[int, Sub, int, list[str]]]) -> list[tuple[Item, Record]]:
        """Branded goods spread over the sub-categories; popularity follows a Zipf-like law."""
        rng = self.rng
        count = self.sim.scale.products - EXTRA_COUNT
        shares = [DEPARTMENTS[d].share / len(DEPARTMENTS[d].subs) for d, *_rest in subs]
        ranks = list(range(count))
        rng.shuffle(ranks)
        planned: list[tuple[Item, Record]] = []
        for rank, (d, sub, categ, names) in zip(ranks, rng.choices(subs, weights=shares, k=count)):
            incl = sub.low * (sub.high / sub.low) ** rng.random()
            price = round((math.floor(incl) + rng.choice(PRICE_ENDINGS)) / (1 + sub.vat), 2)
            cost = round(price * (0.45 + 0.3 * rng.random()), 2)
            code = "".join(c for c in sub.name if c.isalpha())[:3].upper()
            planned.append(
                self._plan_item(
                    len(planned),
                    names.pop(),
                    code,
                    categ,
                    price,
                    cost,
                    sub.vat,
                    STORABLE,
                    d,
                    1 / (rank + 10) ** 0.9,
                    rng.choice(DEPARTMENTS[d].packs),
                )
            )
        return planned

    def _name_pool(self, dept: Dept, sub: Sub) -> list[str]:
        pool = [
            f"{brand} {qualifier}{base} {size}"
            for brand, qualifier, base, size in itertools.product(dept.brands, dept.qualifiers, sub.bases, sub.sizes)
        ]
        self.rng.shuffle(pool)
        return pool

    def _plan_extras(self, categories: list[int]) -> list[tuple[Item, Record]]:
        """Store supplies (bags, in many baskets) and services (rarely sold)."""
        planned = []
        index = self.sim.scale.products - EXTRA_COUNT
        top = 1 / 10**0.9
        for (_path, code, kind, products), categ in zip(EXTRAS, categories):
            for name, price, cost in products:
                weight = top * 2 if kind == CONSU else top / 40
                planned.append(
                    self._plan_item(index, name, code, categ, price, cost, 0.21, kind, len(DEPARTMENTS), weight, 1)
                )
                index += 1
        return planned

    def _plan_item(
        self,
        index: int,
        name: str,
        code: str,
        categ: int,
        price: float,
        cost: float,
        vat: float,
        kind: str,
        dept: int,
        weight: float,
        pack: int,
    ) -> tuple[Item, Record]:
        default_code = f"{code}-{index + 1:05d}"
        vendor = 0
        if kind == STORABLE:
            own = self.vendors[dept % len(self.vendors) :: len(DEPARTMENTS)] or self.vendors
            vendor = self.rng.choice(own).id
        record = {
            "name": name,
            "default_code": default_code,
            "categ_id": categ,
            "list_price": price,
            "barcode": _ean13(f"541{index + 1:09d}") if kind != SERVICE else False,
            "sale_ok": True,
            "purchase_ok": kind != SERVICE,
            "available_in_pos": True,
            **_product_type(kind, self.sim.version),
        }
        item = Item(index, index + 1, f"[{default_code}] {name}", price, vat, kind, vendor, pack, weight, cost)
        return item, record

    def _plan_archives(self, items: list[Item]) -> None:
        """2 % of goods get archived during history (popular ones: they sold before); 1 % before it."""
        rng, sim = self.rng, self.sim
        goods = [it for it in items if it.storable]
        popular = sorted(goods, key=lambda it: -it.weight)[: len(goods) // 2]
        if sim.cfg.days >= 3:
            for k, item in enumerate(rng.sample(popular, max(1, len(goods) // 50))):
                item.archive_day = sim.start + dt.timedelta(days=sim.cfg.days * (1 + k % 2) // 3)
        unsold = [it for it in goods if it.archive_day is None]
        for item in rng.sample(unsold, max(1, len(goods) // 100)):
            item.archive_day, item.active = self.setup_day, False

    # -- locations and shops

    def _locations(self) -> None:
        loc = self._location
        self.physical_loc = loc("Physical Locations", "Physical Locations", "view", False)
        partners = loc("Partners", "Partners", "view", False)
        self.vendors_loc = loc("Vendors", "Partners/Vendors", "supplier", partners)
        self.customers_loc = loc("Customers", "Partners/Customers", "customer", partners)
        virtual = loc("Virtual Locations", "Virtual Locations", "view", False)
        self.inventory_loc = loc("Inventory adjustment", "Virtual Locations/Inventory adjustment", "inventory", virtual)
        self.scrap_loc = loc("Scrap", "Virtual Locations/Scrap", "inventory", virtual, scrap=True)
        loc("Production", "Virtual Locations/Production", "production", virtual)

    def _location(
        self,
        name: str,
        complete: str,
        usage: str,
        parent: int | bool,
        warehouse: int | bool = False,
        scrap: bool = False,
    ) -> int:
        return self.add(
            "stock.location",
            {
                "name": name,
                "complete_name": complete,
                "usage": usage,
                "location_id": parent,
                "warehouse_id": warehouse,
                "scrap_location": scrap,
                "active": True,
            },
        )

    def _plan_stores(self) -> list[Store]:
        """Flagship (7/7, 08-22), station night shop (7/7, 07-00:30; opened NEW_SHOP_DAYS before the
        last day, so a longer history starts without it: a like-for-like comparison leaves it
        out), high-street shops (Mon-Sat)."""
        rng, count = self.rng, self.sim.scale.stores
        stores = []
        for k in range(count):
            name, code = SITES[k % len(SITES)]
            if k >= len(SITES):
                name, code = f"{name} {k // len(SITES) + 1}", f"{code}{k // len(SITES) + 1}"
            if k == 0:
                store = Store(k, name, code, 1.6, frozenset(range(7)), 8 * HOUR, 22 * HOUR, False)
            elif k == 1:  # opened NEW_SHOP_DAYS before the last day: a history longer than that has it as a new shop
                store = Store(k, name, code, 0.9, frozenset(range(7)), 7 * HOUR, 23 * HOUR + 1800, True)
                opening = self.sim.end - dt.timedelta(days=NEW_SHOP_DAYS - 1)
                store.opened = opening if opening > self.sim.start else None
            else:
                store = Store(
                    k, name, code, 0.6 + 0.6 * rng.random(), frozenset(range(6)), 8 * HOUR + 1800, 20 * HOUR, False
                )
            stores.append(store)
        mean = sum(s.size for s in stores) / count
        for store in stores:
            store.size /= mean
            store.slots = list(range(store.open_s, store.close_s, 900))
            store.slot_cum = list(itertools.accumulate(HOURLY[s // HOUR] for s in store.slots))
        return stores

    def _shop(self, store: Store) -> None:
        """Warehouse, locations, operation types and POS config of one shop; its assortment."""
        warehouse = {"name": store.name, "code": store.code, "active": True}
        wh = self.add("stock.warehouse", warehouse)
        view = self._location(store.code, store.code, "view", self.physical_loc, wh)
        store.stock_loc = self._location("Stock", f"{store.code}/Stock", "internal", view, wh)
        warehouse.update(lot_stock_id=store.stock_loc, view_location_id=view)
        store.type_in = self._picking_type("Receipts", "incoming", wh, self.vendors_loc, store.stock_loc)
        store.type_pos = self._picking_type("PoS Orders", "outgoing", wh, store.stock_loc, self.customers_loc)
        store.type_int = self._picking_type("Internal Transfers", "internal", wh, store.stock_loc, store.stock_loc)
        store.config_id = self.add(
            "pos.config",
            {
                "name": store.name,
                "picking_type_id": store.type_pos,
                "warehouse_id": wh,
                "company_id": 1,
                "active": True,
            },
        )
        self._assort(store)

    def _picking_type(self, name: str, code: str, wh: int, src: int, dest: int) -> int:
        return self.add(
            "stock.picking.type",
            {
                "name": name,
                "code": code,
                "warehouse_id": wh,
                "default_location_src_id": src,
                "default_location_dest_id": dest,
                "active": True,
            },
        )

    def _assort(self, store: Store) -> None:
        """What the shop carries, how fast it sells, its reorder levels and opening stock."""
        rng, scale = self.rng, self.sim.scale
        share = 1.0 if store.index == 0 else 0.55 if store.night else 0.75 + 0.2 * rng.random()
        store.carries = [it.active and (not it.storable or rng.random() < share) for it in self.items]
        store.catalog = [it for it in self.items if store.carries[it.index]]
        store.cum = list(itertools.accumulate(it.weight for it in store.catalog))
        units_per_day = scale.orders_per_store_day * store.size * scale.lines_per_order * 1.45
        cover = self.review_cycle() * 7 / 5 + 3 + 3  # review cycle + longest lead time + safety
        n = len(self.items)
        store.on_hand, store.on_order, store.reorder = [0] * n, [0] * n, [0] * n
        for item in store.catalog:
            if item.storable:
                level = math.ceil(units_per_day * item.weight / store.cum[-1] * cover) + 1
                store.reorder[item.index] = level
                store.on_hand[item.index] = 2 * level + 2 - int(rng.random() * level)
                store.by_vendor.setdefault(item.vendor, []).append(item)


def _product_type(kind: str, version: int) -> Record:
    if version <= 17:
        odoo = {STORABLE: "product", CONSU: "consu", SERVICE: "service"}[kind]
        return {"detailed_type": odoo, "type": odoo}
    return {"type": "service" if kind == SERVICE else "consu", "is_storable": kind == STORABLE}


def _ean13(first12: str) -> str:
    total = sum(int(c) * (3 if k % 2 else 1) for k, c in enumerate(first12))
    return first12 + str((10 - total % 10) % 10)


def _slug(text: str) -> str:
    plain = text.lower().replace("é", "e").replace("è", "e")
    return "".join(c if c.isalnum() else "-" for c in plain).strip("-")
