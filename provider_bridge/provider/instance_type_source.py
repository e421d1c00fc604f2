"""The ``quotaform_instance_type`` data source: catalog facts of one instance type."""

from __future__ import annotations

from typing import Any

from tf.iface import ReadDataContext
from tf.schema import Schema

from provider_bridge.provider.base import QuotaformDataSource, known
from provider_bridge.provider.lookup import catalog, instance_type
from provider_bridge.provider.schema import instance_type_schema
from provider_bridge.provider.settings import DEFAULT_REGION, check_region


class InstanceTypeDataSource(QuotaformDataSource):
    """vCPU, memory, architectures and the on-demand price of one type in one region."""

    name = "instance_type"

    @classmethod
    def get_schema(cls) -> Schema:
        return instance_type_schema()

    def fetch(self, ctx: ReadDataContext, config: dict[str, Any]) -> dict[str, Any]:
        name = config["name"]
        settings = self.provider.settings
        if known(config.get("region")):
            region = check_region(config["region"])
        elif settings is not None:
            region = settings.region
        else:
            region = DEFAULT_REGION
        spec = instance_type(name, "name")
        hourly = catalog().hourly_price(name, region)
        return {
            "name": name,
            "region": region,
            "id": name,
            "family": spec.family,
            "size": spec.size,
            "vcpu": spec.vcpu,
            "memory_gib": spec.memory_gib,
            "architectures": list(spec.arch),
            "burstable": spec.burstable,
            "current_generation": spec.current_generation,
            "hourly_price_usd": hourly,
            "monthly_price_usd": catalog().monthly_price(name, region),
        }
