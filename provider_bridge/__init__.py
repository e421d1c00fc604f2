"""The cloud bridge: instance catalog, inventory, CloudWatch metrics and rightsizing.

The public names are loaded on first use. ``quotaform check`` needs only the
catalog, and an eager import of the package would load boto3, numpy and libcst
with it: 0.35 s of CPU in ``python -X importtime`` on a 2-vCPU virtual machine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from provider_bridge.analysis import Utilization, UtilizationStats, analyze, summarize
    from provider_bridge.aws import AwsAccess, CredentialSource
    from provider_bridge.backtest import BacktestResult, run_backtest
    from provider_bridge.catalog import HOURS_PER_MONTH, Catalog, InstanceType, load_catalog
    from provider_bridge.credits import CreditCheck, simulate_credits
    from provider_bridge.discovery import InventoryInput, discover, load_pools
    from provider_bridge.inventory import (
        AutoScalingGroup,
        PoolInventory,
        Resource,
        load_inventory,
    )
    from provider_bridge.metrics import (
        FetchResult,
        InventoryMetrics,
        MetricQuery,
        Series,
        collect_metrics,
        fetch_series,
    )
    from provider_bridge.patch import Edit, PatchResult, patch_instance_types, patch_path
    from provider_bridge.report import RightsizingReport
    from provider_bridge.rightsizing import Recommendation, apply_policy_check, recommend

# Each public name with the module that defines it.
_EXPORTS = {
    "Utilization": "analysis",
    "UtilizationStats": "analysis",
    "analyze": "analysis",
    "summarize": "analysis",
    "AwsAccess": "aws",
    "CredentialSource": "aws",
    "BacktestResult": "backtest",
    "run_backtest": "backtest",
    "HOURS_PER_MONTH": "catalog",
    "Catalog": "catalog",
    "InstanceType": "catalog",
    "load_catalog": "catalog",
    "CreditCheck": "credits",
    "simulate_credits": "credits",
    "InventoryInput": "discovery",
    "discover": "discovery",
    "load_pools": "discovery",
    "AutoScalingGroup": "inventory",
    "PoolInventory": "inventory",
    "Resource": "inventory",
    "load_inventory": "inventory",
    "FetchResult": "metrics",
    "InventoryMetrics": "metrics",
    "MetricQuery": "metrics",
    "Series": "metrics",
    "collect_metrics": "metrics",
    "fetch_series": "metrics",
    "Edit": "patch",
    "PatchResult": "patch",
    "patch_instance_types": "patch",
    "patch_path": "patch",
    "RightsizingReport": "report",
    "Recommendation": "rightsizing",
    "apply_policy_check": "rightsizing",
    "recommend": "rightsizing",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'provider_bridge' has no attribute '{name}'")
    value = getattr(importlib.import_module(f"provider_bridge.{module}"), name)
    # Cached in the package namespace, so later look-ups skip this function.
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


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
