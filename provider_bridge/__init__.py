"""The cloud bridge: instance catalog, inventory, CloudWatch metrics and rightsizing."""

from provider_bridge.catalog import HOURS_PER_MONTH, Catalog, InstanceType, load_catalog

__all__ = ["HOURS_PER_MONTH", "Catalog", "InstanceType", "load_catalog"]
