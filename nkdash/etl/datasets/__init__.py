"""Dataset specs: one module per dataset, a registry that names them."""

from nkdash.etl.datasets.base import Channel, Context, CostSource, Dataset, DatasetName, Source, Table
from nkdash.etl.datasets.registry import DATASET_NAMES, DATED, REGISTRY, TABLES, dependents, get

__all__ = [
    "DATASET_NAMES",
    "DATED",
    "REGISTRY",
    "TABLES",
    "Channel",
    "Context",
    "CostSource",
    "Dataset",
    "DatasetName",
    "Source",
    "Table",
    "dependents",
    "get",
]
