"""The ``--catalog DIR`` option shared by the commands that size instance types."""

from __future__ import annotations

from pathlib import Path

from cdk.errors import InputError
from provider_bridge.catalog import Catalog, load_catalog


def catalog_from_option(directory: Path | None) -> Catalog:
    """Load the catalog from ``--catalog DIR``, or the shipped one when the option is unset."""
    if directory is None:
        return load_catalog()
    try:
        return load_catalog(directory)
    except FileNotFoundError as exc:
        raise InputError(
            f"--catalog {directory}: {exc.filename} not found; the directory needs "
            "ec2_instance_types.json and ec2_prices_ondemand_linux.json"
        ) from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"--catalog {directory}: invalid catalog data ({exc})") from exc
