"""The cloud bridge: instance catalog, inventory, CloudWatch metrics and rightsizing."""

from provider_bridge.analysis import Utilization, UtilizationStats, analyze, summarize
from provider_bridge.aws import AwsAccess, CredentialSource
from provider_bridge.catalog import HOURS_PER_MONTH, Catalog, InstanceType, load_catalog
from provider_bridge.discovery import InventoryInput, discover, load_pools
from provider_bridge.inventory import AutoScalingGroup, PoolInventory, Resource, load_inventory
from provider_bridge.metrics import (
    FetchResult,
    InventoryMetrics,
    MetricQuery,
    Series,
    collect_metrics,
    fetch_series,
)
from provider_bridge.backtest import BacktestResult, run_backtest
from provider_bridge.credits import CreditCheck, simulate_credits
from provider_bridge.patch import Edit, PatchResult, patch_instance_types, patch_path
from provider_bridge.report import RightsizingReport
from provider_bridge.rightsizing import Recommendation, apply_policy_check, recommend

__all__ = [
    "HOURS_PER_MONTH",
    "AutoScalingGroup",
    "AwsAccess",
    "BacktestResult",
    "Catalog",
    "CreditCheck",
    "CredentialSource",
    "Edit",
    "FetchResult",
    "InstanceType",
    "InventoryInput",
    "InventoryMetrics",
    "MetricQuery",
    "PatchResult",
    "PoolInventory",
    "Recommendation",
    "Resource",
    "RightsizingReport",
    "Series",
    "Utilization",
    "UtilizationStats",
    "analyze",
    "apply_policy_check",
    "collect_metrics",
    "discover",
    "fetch_series",
    "load_catalog",
    "load_inventory",
    "load_pools",
    "patch_instance_types",
    "patch_path",
    "recommend",
    "run_backtest",
    "simulate_credits",
    "summarize",
]
