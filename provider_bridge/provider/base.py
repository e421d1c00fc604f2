"""The base class of the quotaform data sources, and helpers for their arguments."""

from __future__ import annotations

from typing import Any

from tf.iface import DataSource, ReadDataContext
from tf.types import Unknown

from provider_bridge.provider.diagnostics import ProviderError, report


class QuotaformDataSource(DataSource):
    """A data source whose ``fetch`` raises ``ProviderError`` instead of adding diagnostics."""

    name = ""

    def __init__(self, provider: Any) -> None:
        self.provider = provider

    @classmethod
    def get_name(cls) -> str:
        return cls.name

    def read(self, ctx: ReadDataContext, config: dict[str, Any]) -> dict[str, Any] | None:
        return report(
            ctx.diagnostics, f"read data.{ctx.type_name}", lambda: self.fetch(ctx, config)
        )

    def fetch(self, ctx: ReadDataContext, config: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError


def is_set(value: Any) -> bool:
    """Return whether a configuration value is given: not null, or still unknown."""
    return value is not None


def known(value: Any) -> bool:
    """Return whether a configuration value is given and already known."""
    return value is not None and value is not Unknown


def positive_number(config: dict[str, Any], name: str) -> float | None:
    """Return a given number argument; raise ``ProviderError`` unless it is above zero."""
    value = config.get(name)
    if not known(value):
        return None
    if value <= 0:
        raise ProviderError(
            f"Invalid {name}", f"{name} is {value:g}; use a number above zero.", name
        )
    return value
