"""The end-to-end demo: declare, plan, gate and rightsize against a local moto server.

Nothing leaves this machine: a moto server on 127.0.0.1 serves the AWS APIs, the
real terraform CLI and AWS provider create the example platform in it, and
CloudWatch is seeded with real CPU series before rightsizing reads them back.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.rule import Rule

from cdk.errors import ExecutionError, InputError
from cdk.model import POOL_TAG, TEAM_TAG, ResourceConfig, load_config
from cdk.synth import synth_app
from cdk.terraform import (
    TerraformWorkspace,
    environment_variables,
    find_terraform,
    write_local_aws_override,
)
from policies import Decision, check_config, check_plan, render_text
from provider_bridge.catalog import Catalog, load_catalog
from provider_bridge.inventory import PoolInventory, load_inventory
from provider_bridge.local_aws import LocalAws, local_aws
from provider_bridge.seeding import load_series_csv, put_series, shift_to_end
from provider_bridge.rightsizing import Recommendation
from quotaform.commands.rightsize import RightsizingOutcome, compute_rightsizing, print_outcome

log = logging.getLogger(__name__)

# Recorded series replayed by each example pool's instances, in instance order.
# The shapes cover what a recommender must tell apart: idle and low-flat
# pools are oversized, the saturated one is undersized, the steady one fits.
SERIES_BY_POOL = {
    "reporting": ["ec2_cpu_utilization_24ae8d.csv"],
    "batch": ["ec2_cpu_utilization_53ea38.csv", "ec2_cpu_utilization_24ae8d.csv"],
    "etl": ["ec2_cpu_utilization_825cc2.csv"],
    "api": ["ec2_cpu_utilization_5f5533.csv", "ec2_cpu_utilization_53ea38.csv"],
}


@dataclass
class DemoResult:
    """Outcome of a demo run: the two gate decisions and the rightsizing result."""

    passing: Decision | None = None
    denied: Decision | None = None
    rightsizing: RightsizingOutcome | None = None
    used_terraform: bool = False
    seconds: float = 0.0

    @property
    def recommendations(self) -> list[Recommendation]:
        """The checked recommendations, one per pool."""
        return self.rightsizing.recommendations if self.rightsizing else []


class Steps:
    """Prints numbered progress lines with the time each step took."""

    def __init__(self, console: Console, total: int):
        self.console = console
        self.total = total
        self.number = 0

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        """Show ``title`` with a spinner while the block runs, then with its duration."""
        self.number += 1
        started = time.monotonic()
        label = f"[{self.number}/{self.total}] {title}"
        with self.console.status(label):
            yield
        self.console.print(f"{label} [dim]({time.monotonic() - started:.1f} s)[/dim]",
                           highlight=False)


def examples_dir() -> Path:
    """Return the repository's examples folder, which contains the demo app and series."""
    folder = Path(__file__).resolve().parent.parent / "examples"
    if not (folder / "app.py").is_file():
        raise InputError(
            f"{folder}: example app not found; run the demo from a clone of the quotaform "
            "repository (the examples are not part of the installed package)"
        )
    return folder


def _display(path: Path) -> str:
    """Name a file of the repository by its path from the repository root."""
    root = Path(__file__).resolve().parent.parent
    try:
        return str(path.resolve().relative_to(root))
    except ValueError:
        return str(path)


def run_demo(
    console: Console,
    *,
    work_dir: Path | None = None,
    use_terraform: bool = True,
) -> DemoResult:
    """Run the whole demo and return what it saw; the files go to ``work_dir`` or a temp folder.

    Raises ``ExecutionError`` when a step fails or when the gate does not
    decide as the example expects (the scale-out plan denied, the other passed).
    """
    examples = examples_dir()
    terraform = find_terraform() if use_terraform else None
    started = time.monotonic()
    console.print("[bold]quotaform demo[/bold]: declare, plan, gate and rightsize the example "
                  "platform against a moto server on 127.0.0.1; no AWS account, no network.")
    if use_terraform and terraform is None:
        console.print("terraform not found on PATH: the demo creates the same resources with "
                      "boto3 and gates the declarations instead of terraform plans.")
    with tempfile.TemporaryDirectory(prefix="quotaform-demo-") as scratch:
        root = Path(work_dir) if work_dir else Path(scratch)
        root.mkdir(parents=True, exist_ok=True)
        steps = Steps(console, 7 if terraform else 6)
        with ExitStack() as server:
            with steps.step("Start a moto server on 127.0.0.1"):
                aws = server.enter_context(local_aws())
            console.print(f"    AWS endpoint: {aws.endpoint_url}", highlight=False)
            with environment_variables(aws.environment()):
                result = _run_steps(console, steps, aws, examples, root, terraform)
    result.seconds = time.monotonic() - started
    _print_summary(console, result)
    return result


def _run_steps(
    console: Console, steps: Steps, aws: LocalAws, examples: Path, root: Path,
    terraform: str | None,
) -> DemoResult:
    catalog = load_catalog()
    result = DemoResult(used_terraform=terraform is not None)
    base_app, scaled_app = examples / "app.py", examples / "app_scale_out.py"
    with steps.step(f"Synthesize {_display(base_app)} and {_display(scaled_app)}"):
        base = synth_app(base_app, root / "synth" / "base")[0]
        scaled = synth_app(scaled_app, root / "synth" / "scale-out")[0]
    base_config = load_config(base.config_json, catalog)
    scaled_config = load_config(scaled.config_json, catalog)

    state_path = root / "state.json"
    if terraform is not None:
        result.passing, result.denied = _terraform_steps(
            steps, aws, terraform, root, base, scaled, base_config, scaled_config, catalog,
            state_path,
        )
    else:
        with steps.step("Create the example pools with boto3"):
            _write_state(state_path, _create_with_boto3(aws, base_config))
        with steps.step("Gate the declarations of both apps"):
            result.passing = check_config(base_config, catalog)
            result.denied = check_config(scaled_config, catalog)

    console.print(Rule(f"Gate: {_display(base_app)}"))
    render_text(result.passing, console.file, source=base_app.name)
    console.print(Rule(f"Gate: {_display(scaled_app)}"))
    render_text(result.denied, console.file, source=scaled_app.name)
    console.print()
    if not result.passing.allowed:
        raise ExecutionError(f"demo: the gate denied {base_app.name}, which is within its quotas")
    if result.denied.allowed:
        raise ExecutionError(f"demo: the gate passed {scaled_app.name}, which breaks a quota")

    inventory = load_inventory(state_path, default_region=aws.region,
                               autoscaling=lambda _region: aws.client("autoscaling"))
    with steps.step("Seed CloudWatch with 14 days of real CPU series"):
        points = seed_cloudwatch(aws, inventory, examples / "data" / "cloudwatch")
    console.print(f"    {points:,} data points for {sum(len(p.resources) for p in inventory.values())}"
                  " instances", highlight=False)
    with steps.step("Rightsize from CloudWatch and re-check the changes with the gate"):
        result.rightsizing = compute_rightsizing(
            state_path, base_config, catalog, app=base_app, endpoint_url=aws.endpoint_url,
            region=aws.region, lookback_days=None, period=None, quiet=True,
            app_name=_display(base_app),
        )
    console.print(Rule("Rightsizing"))
    print_outcome(result.rightsizing, console)
    return result


def _terraform_steps(
    steps: Steps, aws: LocalAws, terraform: str, root: Path, base: Any, scaled: Any,
    base_config: ResourceConfig, scaled_config: ResourceConfig, catalog: Catalog,
    state_path: Path,
) -> tuple[Decision, Decision]:
    workdir = root / "terraform"
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(base.tf_json, workdir / base.tf_json.name)
    write_local_aws_override(workdir, aws.endpoint_url, aws.region)
    workspace = TerraformWorkspace(workdir, terraform=terraform, env=aws.environment())
    with steps.step("terraform init and plan the example app"):
        workspace.init()
        plan = workspace.show_json(workspace.plan("base.tfplan"))
        (root / "base-plan.json").write_bytes(orjson.dumps(plan))
    with steps.step("Gate the plan, then terraform apply it"):
        passing = check_plan(plan, base_config, catalog, source="base.tfplan")
        if passing.allowed:
            workspace.apply("base.tfplan")
        state = workspace.state_json()
    state_path.write_bytes(orjson.dumps(state))
    with steps.step("terraform plan the scale-out app and gate the plan"):
        shutil.copyfile(scaled.tf_json, workdir / scaled.tf_json.name)
        write_local_aws_override(workdir, aws.endpoint_url, aws.region)
        scaled_plan = workspace.show_json(workspace.plan("scale-out.tfplan"))
        (root / "scale-out-plan.json").write_bytes(orjson.dumps(scaled_plan))
        denied = check_plan(scaled_plan, scaled_config, catalog, source="scale-out.tfplan")
    return passing, denied


def _create_with_boto3(aws: LocalAws, config: ResourceConfig) -> dict[str, Any]:
    """Create the declared pools with boto3 and return a state document describing them."""
    ec2, autoscaling = aws.client("ec2"), aws.client("autoscaling")
    resources: list[dict[str, Any]] = []
    for pool in config.allocation.pools:
        tags = {**pool.tags, POOL_TAG: pool.name, TEAM_TAG: pool.team}
        if pool.kind == "asg":
            template = ec2.create_launch_template(
                LaunchTemplateName=f"{pool.name}-template",
                LaunchTemplateData={
                    "ImageId": pool.image_id,
                    "InstanceType": pool.instance_type,
                    "TagSpecifications": [{"ResourceType": "instance", "Tags": _wire(tags)}],
                },
            )["LaunchTemplate"]
            name = f"{pool.name}-group"
            autoscaling.create_auto_scaling_group(
                AutoScalingGroupName=name, MinSize=pool.min_size, MaxSize=pool.max_size,
                LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"],
                                "Version": "$Latest"},
                AvailabilityZones=[f"{aws.region}a"],
                Tags=[{"Key": k, "Value": v, "PropagateAtLaunch": True} for k, v in tags.items()],
            )
            resources.append(_state_resource("aws_launch_template", pool.name, None, {
                "id": template["LaunchTemplateId"], "instance_type": pool.instance_type,
                "tags": tags,
            }))
            resources.append(_state_resource("aws_autoscaling_group", pool.name, None, {
                "name": name, "launch_template": [{"id": template["LaunchTemplateId"]}],
                "tag": [{"key": k, "value": v, "propagate_at_launch": True}
                        for k, v in tags.items()],
            }))
        elif pool.kind == "instances":
            launched = ec2.run_instances(
                ImageId=pool.image_id, InstanceType=pool.instance_type, MinCount=pool.count,
                MaxCount=pool.count,
                TagSpecifications=[{"ResourceType": "instance", "Tags": _wire(tags)}],
            )["Instances"]
            for index, instance in enumerate(launched):
                resources.append(_state_resource("aws_instance", pool.name, index, {
                    "id": instance["InstanceId"], "instance_type": pool.instance_type,
                    "tags": tags,
                }))
    return {"format_version": "1.0", "values": {"root_module": {"resources": resources}}}


def _wire(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def _state_resource(kind: str, name: str, index: int | None,
                    values: dict[str, Any]) -> dict[str, Any]:
    address = f"{kind}.{name}" + ("" if index is None else f"[{index}]")
    entry = {"address": address, "mode": "managed", "type": kind, "name": name,
             "values": values}
    if index is not None:
        entry["index"] = index
    return entry


def _write_state(path: Path, document: dict[str, Any]) -> None:
    path.write_bytes(orjson.dumps(document))


def seed_cloudwatch(aws: LocalAws, inventory: Mapping[str, PoolInventory], series_dir: Path,
                    *, end: dt.datetime | None = None) -> int:
    """Write a recorded CPU series for every instance of the known pools; return the points.

    Each series is shifted to end at the last whole 5-minute period before ``end``.
    """
    now = end or dt.datetime.now(dt.UTC)
    aligned = dt.datetime.fromtimestamp(int(now.timestamp()) // 300 * 300 - 300, dt.UTC)
    client = aws.client("cloudwatch")
    points = 0
    for name, pool in sorted(inventory.items()):
        files = SERIES_BY_POOL.get(name)
        if not files:
            log.warning("no recorded series for pool %s; its instances get no metrics", name)
            continue
        for index, resource in enumerate(sorted(pool.resources, key=lambda r: r.resource_id)):
            stamps, values = load_series_csv(series_dir / files[index % len(files)])
            stamps = shift_to_end(stamps, aligned)
            put_series(client, "AWS/EC2", "CPUUtilization", {"InstanceId": resource.resource_id},
                       stamps, values)
            points += len(values)
    return points


def _print_summary(console: Console, result: DemoResult) -> None:
    proposed = [r for r in result.recommendations if r.proposed]
    denials = len(result.denied.violations) if result.denied else 0
    console.print()
    console.print(
        f"[bold]Demo finished in {result.seconds:.0f} s[/bold]: one plan passed, one denied "
        f"with {denials} denial(s), {len(result.recommendations)} pools analysed, "
        f"{len(proposed)} change(s) proposed.",
        highlight=False,
    )
