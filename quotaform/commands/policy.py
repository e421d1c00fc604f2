"""The ``quotaform policy`` commands: work with the Rego policies themselves.

``app`` is the ``policy`` sub-app; a further command registers on it with
``app.command("NAME")(function)``.

``policy test`` exit codes: 0 every test passed (skipped ones allowed), 1 a test
failed or raised an error, 2 a file does not parse or no test was found.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from cdk.errors import InputError
from policies.policytest import RegoTestResult, run_tests, shipped_policy_dir, summarize

app = typer.Typer(
    name="policy",
    help="Work with Rego policies: run their unit tests, bundle them for OPA.",
    no_args_is_help=True,
)

_LABELS = {"pass": "PASS", "fail": "FAIL", "error": "ERROR", "skip": "SKIPPED"}


@app.callback()
def _policy() -> None:
    """Work with Rego policies: quotaform's own and users' conftest-style ones."""


@app.command("test")
def test(
    directories: list[Path] | None = typer.Argument(
        None, metavar="[DIR...]", help="Directories or files of .rego policies and their "
        "*_test.rego tests. Default: quotaform's own policies.",
    ),
    run: str | None = typer.Option(
        None, "--run", "-r", metavar="REGEX",
        help="Run only the tests whose data.PACKAGE.RULE path matches REGEX.",
    ),
    output_format: str = typer.Option(
        "text", "--format", help="Output format: text (one line a test) or json.",
    ),
) -> None:
    """Run the test_ rules of Rego policies, as 'opa test' does."""
    if output_format not in ("text", "json"):
        raise InputError(f"--format: unknown format '{output_format}'; use text or json")
    results = run_tests(directories or [shipped_policy_dir()], run=run)
    if output_format == "json":
        typer.echo(json.dumps([_as_json(result) for result in results], indent=2))
    else:
        _print_text(results)
    counts = summarize(results)
    if counts["fail"] or counts["error"]:
        raise typer.Exit(1)


def _as_json(result: RegoTestResult) -> dict[str, object]:
    return {
        "name": result.path, "file": result.file, "outcome": result.outcome,
        "seconds": round(result.seconds, 6), "message": result.message,
        "prints": result.prints,
    }


def _print_text(results: list[RegoTestResult]) -> None:
    file = None
    for result in results:
        if result.file != file:
            file = result.file
            typer.echo(f"{file}:")
        typer.echo(f"{result.path}: {_LABELS[result.outcome]} "
                   f"({result.seconds * 1000:.1f}ms)")
        if result.outcome in ("fail", "error"):
            for line in [*result.message.splitlines(), *result.prints]:
                typer.echo(f"  {line}")
    typer.echo("-" * 80)
    counts = summarize(results)
    for outcome, count in counts.items():
        if count:
            typer.echo(f"{_LABELS[outcome]}: {count}/{len(results)}")


@app.command("bundle")
def bundle(
    output: Path = typer.Option(
        ..., "--output", "-o", metavar="BUNDLE.tar.gz",
        help="Where to write the OPA bundle, a gzipped tar file.",
    ),
    data: Path | None = typer.Option(
        None, "--data", help="The quotaform.json to include as data.quotaform. Without it the "
        "bundle holds the policies only, and the server needs the declarations another way.",
    ),
    catalog_dir: Path | None = typer.Option(
        None, "--catalog", help="Directory with the instance catalog that validates --data, "
        "as for 'quotaform check --catalog'.",
    ),
) -> None:
    """Write an OPA bundle of quotaform's policies and data, for 'quotaform check --engine opa'."""
    from cdk.model import load_config
    from policies.bundle import write_bundle
    from policies.plan import check_data_document
    from quotaform.commands.catalog_option import catalog_from_option

    document = None
    if data is not None:
        check_data_document(data)
        document = load_config(data, catalog_from_option(catalog_dir)).model_dump(mode="json")
    files = write_bundle(output, data=document)
    policies = sum(1 for name in files if name.endswith(".rego"))
    typer.echo(f"wrote {output}: {policies} policies"
               + (f" and the data of {data}" if data is not None else ", no data")
               + f"; load it with 'opa run --server {output.name}'")
