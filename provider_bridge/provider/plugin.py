"""The quotaform provider as a ``tf.iface.Provider``: configuration, data sources, functions."""

from __future__ import annotations

import logging
from typing import Any

from tf.iface import DataSource, Provider, Resource
from tf.schema import Schema
from tf.utils import Diagnostics

from provider_bridge.provider.address import PROVIDER_ADDRESS, TYPE_PREFIX
from provider_bridge.provider.diagnostics import ProviderError, report
from provider_bridge.provider.functions import MonthlyCostFunction, VcpusFunction
from provider_bridge.provider.instance_type_source import InstanceTypeDataSource
from provider_bridge.provider.pool_source import PoolDataSource
from provider_bridge.provider.rightsizing_source import RightsizingDataSource
from provider_bridge.provider.schema import provider_schema
from provider_bridge.provider.settings import ProviderSettings, parse_settings

log = logging.getLogger(__name__)


class QuotaformProvider(Provider):
    """Serves quotaform_pool, quotaform_rightsizing, quotaform_instance_type and two functions."""

    def __init__(self) -> None:
        self.settings: ProviderSettings | None = None
        self._aws: Any = None

    def get_model_prefix(self) -> str:
        return TYPE_PREFIX

    def full_name(self) -> str:
        return PROVIDER_ADDRESS

    def get_provider_schema(self, diags: Diagnostics) -> Schema:
        return provider_schema()

    def validate_config(self, diags: Diagnostics, config: dict[str, Any]) -> None:
        report(
            diags, "validate the quotaform provider configuration", lambda: parse_settings(config)
        )

    def configure_provider(self, diags: Diagnostics, config: dict[str, Any]) -> None:
        self.settings = report(
            diags, "configure the quotaform provider", lambda: parse_settings(config)
        )
        self._aws = None
        if self.settings is not None:
            log.info(
                "provider configured region=%s endpoint=%s config=%s role=%s",
                self.settings.region,
                self.settings.endpoint or "default",
                self.settings.config or "none",
                self.settings.assume_role.role_arn if self.settings.assume_role else "none",
            )

    def configured(self) -> ProviderSettings:
        """Return the settings of ConfigureProvider; raise ``ProviderError`` before it."""
        if self.settings is None:
            raise ProviderError(
                "quotaform provider not configured",
                'The provider "quotaform" block failed to configure; fix the errors reported '
                "for it first.",
            )
        return self.settings

    def aws(self) -> Any:
        """Return the AWS access of the configured provider, created on first use."""
        from provider_bridge.provider.aws import AwsAccess
        from provider_bridge.provider.bootstrap import complete_package

        # Reading AWS loads boto3 and numpy anyway; the rest of the package comes with them.
        complete_package()
        if self._aws is None:
            self._aws = AwsAccess(self.configured())
        return self._aws

    def get_data_sources(self) -> list[type[DataSource]]:
        return [PoolDataSource, RightsizingDataSource, InstanceTypeDataSource]

    def get_resources(self) -> list[type[Resource]]:
        return []

    def get_functions(self) -> list[type[Any]]:
        return [VcpusFunction, MonthlyCostFunction]
