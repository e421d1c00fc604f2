"""Instance catalog look-ups with errors that suggest the intended type."""

from __future__ import annotations

import difflib
from typing import Any

from provider_bridge.provider.diagnostics import ProviderError

_SUGGESTIONS = 3
# Family names are short (m5, c6gn), so one changed letter of three already scores 0.67.
_FAMILY_CUTOFF = 0.6


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
    close = close_type_names(name, list(types.types))
    # No closing punctuation: Terraform ends a function's error with its own full stop.
    hint = f"did you mean {_either(close)}" if close else "use a type such as m5.large"
    raise ProviderError(
        f"Unknown instance type {name!r}",
        f"{name!r} is not in quotaform's instance catalog; {hint}",
        attribute,
    )


def _either(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def close_type_names(name: str, names: list[str]) -> list[str]:
    """Return up to three catalog type names close to ``name``, the closest first.

    Family and size are matched apart: a known family suggests its sizes close
    to the given size, and an unknown family suggests close families in the given
    size. Matching whole names would pair unrelated families that share letters,
    such as nope.large and m8ine.large.
    """
    family, _, size = name.partition(".")
    families: dict[str, list[str]] = {}
    for known in names:
        families.setdefault(known.partition(".")[0], []).append(known)
    if family in families:
        return difflib.get_close_matches(name, families[family], n=_SUGGESTIONS, cutoff=0.6)
    close_families = difflib.get_close_matches(family, list(families), n=_SUGGESTIONS * 2,
                                               cutoff=_FAMILY_CUTOFF)
    same_size = [f"{other}.{size}" for other in close_families
                 if f"{other}.{size}" in families[other]]
    return same_size[:_SUGGESTIONS]


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
