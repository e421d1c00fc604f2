"""The cloud bridge: instance catalog, inventory, CloudWatch metrics and rightsizing."""

from provider_bridge.analysis import UtilizationStats, summarize
from provider_bridge.catalog import HOURS_PER_MONTH, Catalog, InstanceType, load_catalog
from provider_bridge.inventory import PoolInventory, Resource, load_inventory
from provider_bridge.metrics import FetchResult, MetricQuery, Series, fetch_series
from provider_bridge.patch import PatchResult, patch_instance_types
from provider_bridge.report import RightsizingReport
from provider_bridge.rightsizing import Recommendation, apply_policy_check, recommend

__all__ = [
    "HOURS_PER_MONTH",
    "Catalog",
    "FetchResult",
    "InstanceType",
    "MetricQuery",
    "PatchResult",
    "PoolInventory",
    "Recommendation",
    "Resource",
    "RightsizingReport",
    "Series",
    "UtilizationStats",
    "apply_policy_check",
    "fetch_series",
    "load_catalog",
    "load_inventory",
    "patch_instance_types",
    "recommend",
    "summarize",
]
