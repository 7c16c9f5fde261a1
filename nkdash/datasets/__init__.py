"""Dataset specs: one module per dataset, a registry that names them."""

from .base import Channel, Context, CostSource, Dataset, DatasetName, Source, Table  # noqa: F401
from .registry import DATASET_NAMES, DATED, REGISTRY, TABLES, dependents, get  # noqa: F401
