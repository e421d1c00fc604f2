"""Measure what the quotaform Terraform provider adds to a terraform command.

Five figures, each the median of --runs runs:

1. interpreter: ``python -P -c pass``, the floor of any Python process;
2. handshake: from starting the launcher to the go-plugin handshake line on
   its stdout, the time terraform waits for each provider process;
3. plan: ``terraform plan`` of a configuration with hashicorp/aws only, then
   with the quotaform provider added: reading a quotaform_instance_type data
   source, then also calling a provider function, neither of which calls AWS.
   The difference is what the provider adds to a plan;
4. plan with a quotaform_pool data source read from a local moto server,
   which loads boto3, numpy and pydantic in the provider;
5. launches: how many provider processes each of those plans starts.

Needs terraform on PATH and QUOTAFORM_TF_PLUGIN_MIRROR (a mirror with
hashicorp/aws). Everything runs in a temporary folder with HOME pointing
there; nothing leaves 127.0.0.1.

    QUOTAFORM_TF_PLUGIN_MIRROR=/opt/tf-plugins .venv/bin/python bench/provider_startup.py
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from provider_bridge.local_aws import LocalAws, local_aws
from provider_bridge.provider.install import install

AWS_ADDRESS = "registry.terraform.io/hashicorp/aws"
QUOTAFORM_ADDRESS = "registry.terraform.io/quotaform/quotaform"
ROOT = Path(__file__).resolve().parent.parent

AWS_ONLY = """\
terraform {
  required_providers {
    aws = { source = "hashicorp/aws" }
  }
}
provider "aws" {
  region                      = "us-east-1"
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
}
resource "aws_instance" "worker" {
  ami           = "ami-12c6146b"
  instance_type = "m5.large"
}
"""

WITH_QUOTAFORM = (
    AWS_ONLY.replace(
        '    aws = { source = "hashicorp/aws" }\n',
        '    aws = { source = "hashicorp/aws" }\n'
        '    quotaform = { source = "quotaform/quotaform" }\n',
    )
    + """\
provider "quotaform" {}
data "quotaform_instance_type" "worker" {
  name = "m5.large"
}
output "worker" {
  value = [data.quotaform_instance_type.worker.vcpu, provider::quotaform::vcpus("m5.large")]
}
"""
)

WITH_DATA_SOURCE = WITH_QUOTAFORM.replace(', provider::quotaform::vcpus("m5.large")', "")

WITH_POOL = WITH_QUOTAFORM.replace(
    'provider "quotaform" {}\n',
    """\
provider "quotaform" {
  endpoint = var.endpoint
  config   = "${path.module}/quotaform.json"
}
variable "endpoint" {
  type = string
}
data "quotaform_pool" "analytics" {
  name = "analytics"
}
""",
)


# (name, label, configuration, whether it takes the moto endpoint)
VARIANTS = [
    ("aws-only", "`terraform plan`, hashicorp/aws only", AWS_ONLY, False),
    ("data-source", "... plus quotaform, a quotaform_instance_type read", WITH_DATA_SOURCE, False),
    ("function", "... and a provider function call", WITH_QUOTAFORM, False),
    ("pool", "... and a quotaform_pool read from moto", WITH_POOL, True),
]


def _median_ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.0f} ms"


def _spread_ms(values: list[float]) -> str:
    return f"{min(values) * 1000:.0f} to {max(values) * 1000:.0f} ms"


def handshake_times(launcher: Path, runs: int, env: dict[str, str]) -> list[float]:
    """Start the launcher ``runs`` times; return the seconds until each handshake line."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        process = subprocess.Popen(
            [str(launcher)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
        )
        assert process.stdout is not None
        line = process.stdout.readline()
        times.append(time.perf_counter() - started)
        process.kill()
        process.wait()
        if not line.startswith(b"1|6|"):
            raise SystemExit(f"unexpected handshake line {line!r}")
    return times


def counting_launcher(mirror: Path, real: Path, log: Path) -> Path:
    """Install a launcher that records each start in ``log`` before running ``real``."""
    target = mirror / real.relative_to(real.parents[5])
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(f'#!/bin/sh\necho start >> "{log}"\nexec "{real}" "$@"\n')
    target.chmod(0o755)
    return target


def cli_config(path: Path, aws_mirror: Path, quotaform_mirror: Path) -> Path:
    path.write_text(
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path    = "{aws_mirror}"\n'
        f'    include = ["{AWS_ADDRESS}"]\n  }}\n'
        f'  filesystem_mirror {{\n    path    = "{quotaform_mirror}"\n'
        f'    include = ["{QUOTAFORM_ADDRESS}"]\n  }}\n'
        f'  direct {{\n    exclude = ["{AWS_ADDRESS}", "{QUOTAFORM_ADDRESS}"]\n  }}\n'
        "}\n"
    )
    return path


def workspace(root: Path, name: str, text: str, terraform: str, env: dict[str, str]) -> Path:
    folder = root / name
    folder.mkdir()
    (folder / "main.tf").write_text(text)
    shutil.copyfile(ROOT / "examples" / "provider" / "quotaform.json", folder / "quotaform.json")
    subprocess.run(
        [terraform, "init", "-input=false", "-no-color"],
        cwd=folder,
        env=env,
        check=True,
        capture_output=True,
    )
    return folder


def plan_seconds(folder: Path, terraform: str, env: dict[str, str], *args: str) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        [terraform, "plan", "-input=false", "-no-color", "-refresh=false", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"terraform plan failed in {folder}:\n{result.stderr[-2000:]}")
    return elapsed


def measure(
    runs: int, terraform: str, aws_mirror: Path, root: Path, aws: LocalAws
) -> dict[str, Any]:
    home = root / "home"
    home.mkdir()
    installed = install(root / "quotaform-mirror")
    counted_mirror = root / "counted-mirror"
    starts = root / "starts.log"
    counting_launcher(counted_mirror, installed.launcher, starts)
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "AWS_"))}
    env = {
        **base_env,
        **aws.environment(),
        "HOME": str(home),
        "CHECKPOINT_DISABLE": "1",
        "TF_IN_AUTOMATION": "1",
        "TF_CLI_CONFIG_FILE": str(cli_config(root / "cli.tfrc", aws_mirror, installed.mirror)),
    }
    counted_env = {
        **env,
        "TF_CLI_CONFIG_FILE": str(cli_config(root / "counted.tfrc", aws_mirror, counted_mirror)),
    }

    handshakes = handshake_times(installed.launcher, runs, env)
    interpreter = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-P", "-c", "pass"], check=True)
        interpreter.append(time.perf_counter() - started)

    endpoint = f"-var=endpoint={aws.endpoint_url}"
    folders, launches = {}, {}
    for name, _, text, needs_endpoint in VARIANTS:
        extra = (endpoint,) if needs_endpoint else ()
        folders[name] = (workspace(root, name, text, terraform, env), extra)
        counted = workspace(root, f"counted-{name}", text, terraform, counted_env)
        starts.unlink(missing_ok=True)
        plan_seconds(counted, terraform, counted_env, *extra)
        launches[name] = len(starts.read_text().splitlines()) if starts.exists() else 0

    plans: dict[str, list[float]] = {name: [] for name, _, _, _ in VARIANTS}
    plan_seconds(folders["aws-only"][0], terraform, env)  # warm the file cache once
    for _ in range(runs):
        for name, (folder, extra) in folders.items():
            plans[name].append(plan_seconds(folder, terraform, env, *extra))
    return {
        "runs": runs,
        "handshake": handshakes,
        "interpreter": interpreter,
        "launches": launches,
        "plans": plans,
    }


def report(results: dict[str, Any]) -> str:
    """Render the results as a Markdown table."""
    plans: dict[str, list[float]] = results["plans"]
    base = statistics.median(plans["aws-only"])
    rows = [
        "| measurement | provider starts | median | range |",
        "| --- | ---: | ---: | ---: |",
        f"| Python start-up (`python -P -c pass`) | | {_median_ms(results['interpreter'])} | "
        f"{_spread_ms(results['interpreter'])} |",
        f"| provider launcher to handshake | 1 | {_median_ms(results['handshake'])} | "
        f"{_spread_ms(results['handshake'])} |",
    ]
    for name, label, _, _ in VARIANTS:
        added = statistics.median(plans[name]) - base
        extra = "" if name == "aws-only" else f" (+{added * 1000:.0f} ms)"
        rows.append(
            f"| {label} | {results['launches'][name]} | {_median_ms(plans[name])}{extra} | "
            f"{_spread_ms(plans[name])} |"
        )
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="Runs per measurement (median).")
    parser.add_argument("--json", type=Path, help="Also write the raw timings to this file.")
    options = parser.parse_args()
    terraform = shutil.which("terraform")
    mirror = os.environ.get("QUOTAFORM_TF_PLUGIN_MIRROR")
    if terraform is None or not mirror:
        print(
            "error: needs terraform on PATH and QUOTAFORM_TF_PLUGIN_MIRROR set to a mirror "
            "holding hashicorp/aws",
            file=sys.stderr,
        )
        return 2
    with tempfile.TemporaryDirectory(prefix="quotaform-startup-") as scratch, local_aws() as aws:
        results = measure(options.runs, terraform, Path(mirror), Path(scratch), aws)
    print(report(results))
    if options.json:
        options.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
