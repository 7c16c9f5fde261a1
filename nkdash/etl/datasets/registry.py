"""Dataset names -> specs. Adding a dataset is adding a spec module and a line here."""

from __future__ import annotations

from typing import get_args

from nkdash.errors import InputError
from nkdash.etl.datasets.base import Dataset, DatasetName
from nkdash.etl.datasets.dimensions import DIMENSIONS
from nkdash.etl.datasets.inventory import INVENTORY
from nkdash.etl.datasets.invoices import INVOICES
from nkdash.etl.datasets.pos import POS
from nkdash.etl.datasets.profit import PROFIT
from nkdash.etl.datasets.purchases import PURCHASES
from nkdash.etl.datasets.stock_quants import STOCK_QUANTS

REGISTRY: dict[DatasetName, Dataset] = {
    spec.name: spec for spec in (POS, INVOICES, PURCHASES, INVENTORY, STOCK_QUANTS, DIMENSIONS, PROFIT)
}
DATASET_NAMES: tuple[DatasetName, ...] = get_args(DatasetName)
DATED: tuple[DatasetName, ...] = tuple(name for name in DATASET_NAMES if REGISTRY[name].partitioned)
TABLES: tuple[str, ...] = tuple(table for spec in REGISTRY.values() for table in spec.table_names)


def get(name: str) -> Dataset:
    """The spec of dataset ``name``, or :class:`InputError` listing the known ones."""
    if name not in DATASET_NAMES:  # every name has a spec (DATED above reads them all)
        raise InputError(f"unknown dataset {name!r}; choose from {', '.join(DATASET_NAMES)}", name)
    return REGISTRY[name]


def dependents(name: str) -> list[Dataset]:
    """Datasets built from ``name``'s partitions (profit from pos and invoices)."""
    return [spec for spec in REGISTRY.values() if name in spec.inputs]
