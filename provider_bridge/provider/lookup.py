"""Instance catalog look-ups with errors that suggest the intended type."""

from __future__ import annotations

import difflib
from typing import Any

from provider_bridge.provider.diagnostics import ProviderError

_SUGGESTIONS = 3


def catalog() -> Any:
    """Return quotaform's instance catalog (loaded once per process)."""
    from provider_bridge.catalog import load_catalog

    return load_catalog()


def instance_type(name: str, attribute: str | None = None) -> Any:
    """Return the catalog entry of ``name``; raise ``ProviderError`` naming close matches."""
    types = catalog()
    spec = types.get(name)
    if spec is not None:
        return spec
    close = difflib.get_close_matches(name, list(types.types), n=_SUGGESTIONS, cutoff=0.75)
    hint = f"did you mean {' or '.join(close)}?" if close else "use a type such as m5.large."
    raise ProviderError(
        f"Unknown instance type {name!r}",
        f"{name!r} is not in quotaform's instance catalog; {hint}",
        attribute,
    )


def monthly_price(name: str, region: str, attribute: str | None = None) -> float:
    """Return the on-demand USD a month of ``name`` in ``region``, or raise ``ProviderError``."""
    instance_type(name, attribute)
    price = catalog().monthly_price(name, region)
    if price is None:
        raise ProviderError(
            f"No price for {name} in {region}",
            f"quotaform's catalog has no on-demand price for {name} in {region}; check the "
            "region name, or choose a type offered there.",
            attribute,
        )
    return price
