"""Drive the terraform CLI in a synthesized stack folder through python-terraform.

python-terraform 0.10.1 builds the command lines. It has no per-call
environment, so ``TerraformWorkspace`` sets its variables in ``os.environ``
only while a command runs (under a lock) and restores them afterwards.
Every command runs with ``-no-color`` and ``-input=false``; a failed command
raises ``ExecutionError`` naming the command and terraform's error summaries.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from python_terraform import IsFlagged, Terraform

from cdk.errors import ExecutionError

log = logging.getLogger(__name__)
# python-terraform logs every command's whole output at DEBUG (plans, state)
# and terraform's stderr at WARNING whenever the exit code is not 0, which
# includes plan's "changes present" code 2; the errors reach the user through
# ExecutionError instead.
logging.getLogger("python_terraform").setLevel(logging.ERROR)

MIRROR_VARIABLE = "QUOTAFORM_TF_PLUGIN_MIRROR"
CLI_CONFIG_FILE = ".quotaform.tfrc"
LOCAL_OVERRIDE_FILE = "quotaform_local_override.tf.json"
LOCAL_ENDPOINT_SERVICES = ("ec2", "autoscaling", "cloudwatch", "iam", "sts", "rds")
AWS_PROVIDER_ADDRESS = "registry.terraform.io/hashicorp/aws"
_MAX_SUMMARIES = 5

_environ_lock = threading.Lock()


def find_terraform() -> str | None:
    """Return the path of ``terraform`` on PATH, else of OpenTofu's ``tofu``, else None."""
    return shutil.which("terraform") or shutil.which("tofu")


def write_cli_config(workdir: Path, mirror: Path) -> Path:
    """Write a CLI config that installs hashicorp/aws from ``mirror`` and nothing else offline."""
    text = (
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f"    path    = {orjson.dumps(str(mirror)).decode()}\n"
        f'    include = ["{AWS_PROVIDER_ADDRESS}"]\n'
        "  }\n"
        "  direct {\n"
        f'    exclude = ["{AWS_PROVIDER_ADDRESS}"]\n'
        "  }\n"
        "}\n"
    )
    path = workdir / CLI_CONFIG_FILE
    path.write_text(text)
    return path


def write_local_aws_override(workdir: Path, endpoint_url: str, region: str) -> Path:
    """Write an override file that points the aws provider at a local AWS such as moto.

    terraform merges ``*_override.tf.json`` files into the configuration, so
    the synthesized ``cdk.tf.json`` stays as it is. The credentials are fake:
    moto accepts any. Launch templates ignore changes to ``tag_specifications``
    because moto 5.2 stores the template's own tags as an extra
    ``launch-template`` tag specification, which would otherwise show as a
    change in every later plan.
    """
    provider = {
        "region": region,
        "access_key": "testing",
        "secret_key": "testing",
        "skip_credentials_validation": True,
        "skip_requesting_account_id": True,
        "skip_metadata_api_check": True,
        "endpoints": [{service: endpoint_url for service in LOCAL_ENDPOINT_SERVICES}],
    }
    document: dict[str, Any] = {"provider": {"aws": provider}}
    templates = _resource_names(workdir, "aws_launch_template")
    if templates:
        document["resource"] = {
            "aws_launch_template": {
                name: {"lifecycle": {"ignore_changes": ["tag_specifications"]}}
                for name in templates
            }
        }
    path = workdir / LOCAL_OVERRIDE_FILE
    path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
    return path


def _resource_names(workdir: Path, resource_type: str) -> list[str]:
    names: list[str] = []
    for path in sorted(workdir.glob("*.tf.json")):
        if path.name.endswith("_override.tf.json"):
            continue
        resources = orjson.loads(path.read_bytes()).get("resource", {})
        names.extend(resources.get(resource_type, {}))
    return names


def error_summary(stderr: str) -> list[str]:
    """Return one line per terraform error: summary, location and detail."""
    summaries: list[str] = []
    for block in ("\n" + stderr).split("\nError: ")[1:]:
        paragraphs = [p.strip() for p in block.split("\n\n") if p.strip()]
        title = paragraphs[0].splitlines()[0]
        location = next((p.splitlines()[0] for p in paragraphs[1:] if p.startswith("on ")), "")
        detail = " ".join(paragraphs[-1].split()) if len(paragraphs) > 1 else ""
        parts = [title, location.rstrip(":"), detail]
        summaries.append(" | ".join(part for part in parts if part))
    return summaries[:_MAX_SUMMARIES]


class TerraformWorkspace:
    """One folder with Terraform configuration, such as ``cdktf.out/stacks/platform``.

    ``env`` adds variables for the terraform process only, for example the
    fake credentials of a local AWS.
    """

    def __init__(
        self, workdir: Path | str, *, terraform: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        if not self.workdir.is_dir():
            raise ExecutionError(f"{self.workdir}: folder not found; run 'quotaform synth' first")
        binary = terraform or find_terraform()
        if binary is None:
            raise ExecutionError(
                "terraform not found on PATH; install terraform 1.5+ or OpenTofu"
            )
        self.binary = binary
        self.env = {
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1",
            **(env or {}),
        }
        mirror = os.environ.get(MIRROR_VARIABLE)
        if mirror:
            config = write_cli_config(self.workdir, Path(mirror))
            self.env["TF_CLI_CONFIG_FILE"] = str(config.resolve())
        self._terraform = Terraform(working_dir=str(self.workdir), terraform_bin_path=binary)

    def init(self) -> None:
        """Install the providers and set up the backend (``terraform init``)."""
        self._run("init", reconfigure=IsFlagged, backend=True)

    def validate(self) -> dict[str, Any]:
        """Validate the configuration; return terraform's JSON report when it is valid."""
        code, stdout, stderr = self._call("validate", json=IsFlagged)
        try:
            report = orjson.loads(stdout)
        except orjson.JSONDecodeError as exc:
            raise self._failure("validate", code, stderr) from exc
        if not report.get("valid"):
            errors = [
                " | ".join(filter(None, (d.get("summary"), _range(d), d.get("detail"))))
                for d in report.get("diagnostics", [])
                if d.get("severity") == "error"
            ]
            raise ExecutionError(
                f"terraform validate failed in {self.workdir}:\n  " + "\n  ".join(errors)
            )
        return report

    def plan(self, out: str = "plan.tfplan") -> Path:
        """Write a saved plan to ``out`` (relative to the workdir) and return its path."""
        # -detailed-exitcode (python-terraform's default) returns 2 when the plan has changes.
        self._run("plan", ok_codes=(0, 2), out=out, detailed_exitcode=IsFlagged)
        return self.workdir / out

    def show_json(self, planfile: Path | str) -> dict[str, Any]:
        """Return ``terraform show -json PLANFILE`` as a dict."""
        return self._json("show", str(planfile))

    def apply(self, planfile: Path | str | None = None) -> None:
        """Apply a saved plan, or plan and apply without a prompt when none is given."""
        if planfile is not None:
            self._run("apply", str(planfile))
        else:
            self._run("apply", auto_approve=IsFlagged)

    def state_json(self) -> dict[str, Any]:
        """Return the current state as ``terraform show -json`` writes it."""
        return self._json("show")

    def providers_schema(self) -> dict[str, Any]:
        """Return ``terraform providers schema -json``; needs an initialised workdir."""
        return self._json("providers schema")

    def _json(self, command: str, *args: str) -> dict[str, Any]:
        stdout = self._run(command, *args, json=IsFlagged)
        try:
            return orjson.loads(stdout)
        except orjson.JSONDecodeError as exc:
            raise ExecutionError(
                f"terraform {command} -json in {self.workdir} wrote no valid JSON ({exc})"
            ) from exc

    def _run(self, command: str, *args: str, ok_codes: tuple[int, ...] = (0,),
             **options: Any) -> str:
        code, stdout, stderr = self._call(command, *args, **options)
        if code not in ok_codes:
            raise self._failure(command, code, stderr)
        return stdout

    def _call(self, command: str, *args: str, **options: Any) -> tuple[int, str, str]:
        # var=None keeps python-terraform from passing an empty -var-file.
        options = {"no_color": IsFlagged, "input": False, "var": None, **options}
        if command.startswith(("validate", "show", "providers")):
            options.pop("input")
        started = time.monotonic()
        log.info("terraform %s started workdir=%s", command, self.workdir)
        with _environment(self.env):
            try:
                code, stdout, stderr = self._terraform.cmd(command, *args, **options)
            except OSError as exc:
                raise ExecutionError(
                    f"could not run {self.binary} {command}: {exc}; check the terraform install"
                ) from exc
        log.info("terraform %s finished exit=%d seconds=%.1f", command, code,
                 time.monotonic() - started)
        return code, stdout, stderr

    def _failure(self, command: str, code: int, stderr: str) -> ExecutionError:
        lines = error_summary(stderr) or stderr.strip().splitlines()[-_MAX_SUMMARIES:]
        return ExecutionError(
            f"terraform {command} failed in {self.workdir} (exit {code}):\n  "
            + "\n  ".join(lines)
        )


def _range(diagnostic: dict[str, Any]) -> str:
    where = diagnostic.get("range") or {}
    if not where:
        return ""
    return f"on {where.get('filename')} line {where.get('start', {}).get('line')}"


@contextmanager
def environment_variables(values: Mapping[str, str]) -> Iterator[None]:
    """Set ``values`` in ``os.environ`` inside the block and restore the old values after."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set ``values`` for one terraform command, one command at a time."""
    with _environ_lock, environment_variables(values):
        yield
