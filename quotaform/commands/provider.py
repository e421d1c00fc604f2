"""The ``quotaform provider`` commands: install the quotaform Terraform provider.

``app`` is the ``provider`` sub-app of the CLI.
"""

from __future__ import annotations

from pathlib import Path

import typer

from provider_bridge.provider.address import PROVIDER_SOURCE, PROVIDER_VERSION_CONSTRAINT
from provider_bridge.provider.install import (
    cli_config_block,
    explicit_installation_config,
    install,
)

app = typer.Typer(
    name="provider",
    help="The quotaform Terraform provider: data sources and functions for terraform plan.",
    no_args_is_help=True,
)


@app.callback()
def _provider() -> None:
    """Install the quotaform Terraform provider: quotas, usage and rightsizing in plans."""


@app.command("install")
def install_command(
    directory: Path | None = typer.Option(
        None,
        "--dir",
        help="Filesystem mirror folder to install into. Default: Terraform's "
        "implied local mirror, ~/.terraform.d/plugins on Linux and macOS.",
    ),
    python: Path | None = typer.Option(
        None,
        "--python",
        help="Python interpreter that runs the provider; it must have "
        "quotaform installed. Default: the one running this command.",
    ),
) -> None:
    """Put the provider launcher into a filesystem mirror and print how Terraform finds it."""
    installed = install(directory, python=str(python) if python else None)
    typer.echo(f"Installed {installed.launcher}")
    typer.echo(f"It runs the provider with {installed.python}.\n")
    typer.echo("Use it in a configuration:\n")
    typer.echo(
        "terraform {\n"
        "  required_providers {\n"
        f'    quotaform = {{ source = "{PROVIDER_SOURCE}", version = '
        f'"{PROVIDER_VERSION_CONSTRAINT}" }}\n'
        "  }\n"
        "}\n"
    )
    explicit = explicit_installation_config()
    block = cli_config_block(installed.mirror)
    if installed.implied and explicit is None:
        typer.echo(
            "Terraform finds it there as long as your CLI configuration has no "
            "provider_installation block. If you add one, include this mirror:\n"
        )
    elif explicit is not None:
        typer.echo(
            f"{explicit} has a provider_installation block, so Terraform searches only "
            "the mirrors it names. Add the filesystem_mirror below to that block and add "
            "the address to the exclude list of its direct block:\n"
        )
    else:
        typer.echo(
            "This folder is not one Terraform searches by itself. Add this to your CLI "
            "configuration (~/.terraformrc, or the file TF_CLI_CONFIG_FILE names):\n"
        )
    typer.echo(block)
    typer.echo(
        "Then run 'terraform init'; it records the provider's hash in "
        ".terraform.lock.hcl. After reinstalling, run 'terraform init -upgrade'."
    )
