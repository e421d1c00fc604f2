"""The ``quotaform usage`` command: write the usage document of the live account.

Every resource tagged ``quotaform:pool`` in the given regions is counted, as
``policies.live_usage`` describes. ``quotaform check --usage FILE`` adds the
result to a plan and skips the resources that plan manages. Exit codes: 0
written, 2 invalid input or a failed AWS call.
"""

from __future__ import annotations

import functools
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import boto3
import typer
from botocore.config import Config
from rich.console import Console

from cdk.errors import InputError
from cdk.model import ResourceConfig, load_config
from policies.documents import UsageDocument
from policies.live_usage import collect_usage
from policies.plan import check_data_document
from provider_bridge.aws import validate_endpoint_url, validate_regions
from provider_bridge.catalog import Catalog
from quotaform.commands.catalog_option import catalog_from_option

logger = logging.getLogger(__name__)


def usage(
    data: Path = typer.Option(
        ..., "--data", help="The quotaform.json that 'quotaform synth' writes next to the stack."
    ),
    regions: list[str] = typer.Option(
        [], "--region", metavar="REGION", help="AWS region to read. Repeatable. Default: every "
        "region of the declared pools.",
    ),
    endpoint_url: str | None = typer.Option(
        None, "--endpoint-url", metavar="URL", help="AWS endpoint URL, such as a local moto "
        "server (http://127.0.0.1:5000).",
    ),
    catalog_dir: Path | None = typer.Option(
        None, "--catalog", help="Directory with ec2_instance_types.json and "
        "ec2_prices_ondemand_linux.json to use instead of the shipped instance catalog.",
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", metavar="FILE", help="Write the usage document to FILE "
        "(replaced atomically). Default: standard output.",
    ),
) -> None:
    """Write the usage of every pool in the live account, from its pool tags."""
    validate_regions(regions)
    validate_endpoint_url(endpoint_url)
    catalog = catalog_from_option(catalog_dir)
    check_data_document(data)
    config = load_config(data, catalog)
    chosen = list(dict.fromkeys(regions)) or sorted({p.region for p in config.allocation.pools})
    if not chosen:
        raise InputError(f"{data} declares no pools, so no region is known; pass --region "
                         "REGION (repeatable)")

    document = _collect(config, catalog, chosen, endpoint_url)
    text = document.model_dump_json(indent=2) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        write_atomically(output, text)
        logger.info("wrote usage document %s pools=%d", output, len(document.pools))




def _collect(config: ResourceConfig, catalog: Catalog, regions: list[str],
             endpoint_url: str | None) -> UsageDocument:
    """Collect the usage, with a progress line on a terminal and none in CI logs."""
    clients = _client_factory(endpoint_url)
    console = Console(stderr=True)
    if not console.is_terminal:
        return collect_usage(config, catalog, regions, clients)
    with console.status("Reading usage") as status:
        return collect_usage(config, catalog, regions, clients, on_region=lambda region:
                             status.update(f"Reading usage in {region}"))


def _client_factory(endpoint_url: str | None) -> Any:
    session = boto3.session.Session()
    # Adaptive retries back off when the Describe APIs throttle a large account.
    config = Config(retries={"mode": "adaptive", "max_attempts": 10})

    @functools.cache
    def client(service: str, region: str) -> Any:
        return session.client(service, region_name=region, endpoint_url=endpoint_url,
                              config=config)

    return client


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``."""
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise InputError(f"--output {path}: directory {directory} does not exist; create it "
                         "or choose another path")
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
