"""How big and which company to generate: :class:`DemoConfig` and the :data:`SCALES`."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from nkdash.errors import InputError


@dataclass(frozen=True)
class Scale:
    """How big the company is."""

    stores: int
    products: int
    customers: int
    vendors: int
    orders_per_store_day: int
    lines_per_order: float  # mean
    invoices_per_day: int  # customer invoices per weekday
    purchases_per_day: int  # purchase orders per weekday (target)


SCALES: dict[str, Scale] = {
    "tiny": Scale(
        stores=2,
        products=60,
        customers=40,
        vendors=4,
        orders_per_store_day=12,
        lines_per_order=2.5,
        invoices_per_day=3,
        purchases_per_day=2,
    ),
    "small": Scale(
        stores=5,
        products=300,
        customers=500,
        vendors=10,
        orders_per_store_day=40,
        lines_per_order=3.0,
        invoices_per_day=10,
        purchases_per_day=8,
    ),
    "medium": Scale(
        stores=10,
        products=5000,
        customers=5000,
        vendors=30,
        orders_per_store_day=120,
        lines_per_order=3.5,
        invoices_per_day=60,
        purchases_per_day=40,
    ),
    "full": Scale(
        stores=20,
        products=5000,
        customers=20000,
        vendors=40,
        orders_per_store_day=285,
        lines_per_order=3.5,
        invoices_per_day=400,
        purchases_per_day=110,
    ),
}


@dataclass(frozen=True)
class DemoConfig:
    version: int = 17
    seed: int = 42
    scale: str = "small"
    days: int = 60
    end: dt.date | None = None  # last business date with activity; default yesterday in tz
    tz: str = "Europe/Brussels"
    db_name: str = "demo"
    login: str = "admin"
    password: str = field(default="admin", repr=False)
    api_key: str = field(default="demo-api-key", repr=False)  # JSON-2 bearer key (Odoo 19)

    @property
    def source_name(self) -> str:
        """Which company this is, whatever its span: the same version, seed and scale generate
        the same records (``days`` and ``end`` only say how much of its history is played)."""
        return f"demo:{self.version}:{self.seed}:{self.scale}"

    @property
    def database_uuid(self) -> str:
        """The demo database's ``database.uuid`` (a real Odoo draws one when it creates a database)."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://nkdash.invalid/{self.source_name}"))

    def __post_init__(self) -> None:
        if self.version not in (16, 17, 18, 19):
            raise InputError("the demo Odoo plays versions 16, 17, 18 or 19", self.version)
        if self.scale not in SCALES:
            raise InputError(f"unknown scale (expected one of {', '.join(SCALES)})", self.scale)
        if self.days < 1:
            raise InputError("days must be at least 1", self.days)
