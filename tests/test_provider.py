"""The quotaform Terraform provider without terraform: schema, functions, diagnostics, install.

Calls go through tf's gRPC servicer (``ProviderServicer``) with msgpack-encoded
values, as terraform sends them, so the tests cover the framework's encoding
too. Expected figures are typed out: vCPU and memory from the EC2 documentation,
prices from the AWS on-demand Linux price list for us-east-1 (m5.large
0.096 USD an hour, 730 hours a month).
"""

from __future__ import annotations

import base64
import json
import importlib.metadata
import io
import logging
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from tf.gen import tfplugin_pb2 as pb
from tf.provider import ProviderServicer
from tf.utils import read_dynamic_value, to_dynamic_value
from typer.testing import CliRunner

from cdk.errors import InputError
from provider_bridge.provider import install as installer
from provider_bridge.provider.address import (
    LAUNCHER_NAME,
    PROVIDER_ADDRESS,
    PROVIDER_SOURCE,
    PROVIDER_VERSION,
)
from provider_bridge.provider.diagnostics import ProviderError, report
from provider_bridge.provider.plugin import QuotaformProvider
from provider_bridge.provider.redaction import MASK, RedactingFilter, redact, register_secret
from provider_bridge.provider.server import configure_logging
from quotaform.cli import app as cli_app

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_CONFIG = ROOT / "examples" / "provider" / "quotaform.json"
BOOTSTRAP = ROOT / "provider_bridge" / "provider" / "bootstrap.py"
HANDSHAKE_TIMEOUT_SECONDS = 30


def _servicer() -> ProviderServicer:
    return ProviderServicer(QuotaformProvider())


def _diagnostics(response: Any) -> list[tuple[str, str, str, list[str]]]:
    """Return (severity, summary, detail, attribute path) of each diagnostic in a response."""
    names = {pb.Diagnostic.ERROR: "error", pb.Diagnostic.WARNING: "warning"}
    return [
        (
            names[d.severity],
            d.summary,
            d.detail,
            [step.attribute_name for step in d.attribute.steps],
        )
        for d in response.diagnostics
    ]


def _provider_config(**values: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "region": None,
        "profile": None,
        "endpoint": None,
        "config": None,
        "assume_role": None,
    }
    config.update(values)
    return config


def _validate_provider(**values: Any) -> list[tuple[str, str, str, list[str]]]:
    request = pb.ValidateProviderConfig.Request(config=to_dynamic_value(_provider_config(**values)))
    return _diagnostics(_servicer().ValidateProviderConfig(request, None))


def _call(name: str, *arguments: Any) -> Any:
    request = pb.CallFunction.Request(name=name, arguments=[to_dynamic_value(a) for a in arguments])
    return _servicer().CallFunction(request, None)


# --- schema -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema() -> Any:
    return _servicer().GetProviderSchema(pb.GetProviderSchema.Request(), None)


def _attributes(block: Any) -> dict[str, Any]:
    return {attribute.name: attribute for attribute in block.attributes}


def test_schema_lists_data_sources_and_functions(schema: Any) -> None:
    assert sorted(schema.data_source_schemas) == [
        "quotaform_instance_type",
        "quotaform_pool",
        "quotaform_rightsizing",
    ]
    assert sorted(schema.functions) == ["monthly_cost", "vcpus"]
    assert list(schema.resource_schemas) == []
    assert list(schema.diagnostics) == []


def test_schema_provider_block(schema: Any) -> None:
    block = schema.provider.block
    attributes = _attributes(block)
    assert sorted(attributes) == ["config", "endpoint", "profile", "region"]
    assert all(a.optional and not a.required for a in attributes.values())
    [assume_role] = block.block_types
    assert assume_role.type_name == "assume_role"
    assert assume_role.nesting == pb.Schema.NestedBlock.NestingMode.SINGLE
    role = _attributes(assume_role.block)
    assert role["role_arn"].required
    assert role["external_id"].sensitive
    assert not role["session_name"].required


def test_schema_pool_inputs_and_headroom(schema: Any) -> None:
    attributes = _attributes(schema.data_source_schemas["quotaform_pool"].block)
    assert attributes["name"].required
    assert attributes["exclude_tags"].optional
    assert attributes["exclude_tags"].type == b'["map","string"]'
    for name in (
        "max_vcpu",
        "vcpu",
        "headroom_vcpu",
        "headroom_instances",
        "headroom_memory_gib",
        "headroom_monthly_cost_usd",
        "monthly_cost_usd",
    ):
        assert attributes[name].computed, name
        assert attributes[name].type == b'"number"', name
    assert attributes["within_quota"].type == b'"bool"'


def test_schema_rightsizing_targets_and_pin(schema: Any) -> None:
    attributes = _attributes(schema.data_source_schemas["quotaform_rightsizing"].block)
    assert attributes["pool"].optional and attributes["pool"].computed
    assert attributes["instance_id"].optional and not attributes["instance_id"].computed
    assert attributes["asg_name"].optional
    assert attributes["pin_current"].type == b'"bool"'
    assert attributes["accepted_type"].optional
    for name in (
        "instance_type",
        "recommended_type",
        "rule",
        "p95_cpu",
        "max_cpu",
        "monthly_savings_usd",
        "pinned",
        "blocked_by",
    ):
        assert attributes[name].computed and not attributes[name].optional, name


def test_schema_functions_signatures(schema: Any) -> None:
    vcpus = schema.functions["vcpus"]
    monthly = schema.functions["monthly_cost"]
    assert [p.name for p in vcpus.parameters] == ["instance_type"]
    assert [p.name for p in monthly.parameters] == ["instance_type", "region"]
    assert getattr(vcpus, "return").type == b'"number"'
    assert getattr(monthly, "return").type == b'"number"'


def test_provider_version_matches_distribution() -> None:
    assert PROVIDER_VERSION == importlib.metadata.version("quotaform")


# --- functions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instance_type", "vcpu"),
    [("m5.large", 2), ("m5.2xlarge", 8), ("c5.large", 2), ("t3.micro", 2)],
)
def test_vcpus_returns_catalog_count(instance_type: str, vcpu: int) -> None:
    response = _call("vcpus", instance_type)
    assert not response.HasField("error")
    assert read_dynamic_value(response.result) == vcpu


def test_monthly_cost_is_hourly_times_730() -> None:
    response = _call("monthly_cost", "m5.large", "us-east-1")
    assert read_dynamic_value(response.result) == pytest.approx(0.096 * 730)


def test_vcpus_unknown_type_suggests_close_match() -> None:
    response = _call("vcpus", "m5.lage")
    assert response.HasField("error")
    assert "Unknown instance type 'm5.lage'" in response.error.text
    assert "did you mean m5.large" in response.error.text


def test_monthly_cost_unknown_region_says_fix() -> None:
    response = _call("monthly_cost", "m5.large", "xx-nowhere-1")
    assert response.HasField("error")
    assert "No price for m5.large in xx-nowhere-1" in response.error.text
    assert "check the region name" in response.error.text


# --- provider configuration diagnostics ---------------------------------------------------


def test_valid_provider_config_has_no_diagnostics() -> None:
    assert (
        _validate_provider(
            region="eu-west-2", endpoint="http://127.0.0.1:5000", config=str(EXAMPLE_CONFIG)
        )
        == []
    )


def test_invalid_region_points_at_attribute() -> None:
    [(severity, summary, detail, path)] = _validate_provider(region="Frankfurt")
    assert severity == "error"
    assert summary == "Invalid region 'Frankfurt'"
    assert "such as us-east-1" in detail
    assert path == ["region"]


def test_invalid_endpoint_says_fix() -> None:
    [(severity, summary, detail, path)] = _validate_provider(endpoint="127.0.0.1:5000")
    assert severity == "error"
    assert summary == "Invalid endpoint"
    assert "http://127.0.0.1:5000" in detail
    assert path == ["endpoint"]


def test_invalid_role_arn_shows_form() -> None:
    [(severity, summary, detail, path)] = _validate_provider(
        assume_role={"role_arn": "admin", "session_name": None, "external_id": None}
    )
    assert severity == "error"
    assert summary == "Invalid assume_role.role_arn"
    assert "arn:aws:iam::123456789012:role/NAME" in detail
    assert path == ["assume_role"]


def test_missing_config_file_names_synth(tmp_path: Path) -> None:
    missing = tmp_path / "quotaform.json"
    [(severity, summary, detail, path)] = _validate_provider(config=str(missing))
    assert severity == "error"
    assert summary == "quotaform configuration file not found"
    assert str(missing) in detail
    assert "quotaform synth" in detail
    assert path == ["config"]


def test_config_with_other_scheme_rejected() -> None:
    [(_, summary, detail, path)] = _validate_provider(config="s3://bucket/quotaform.json")
    assert summary == "Invalid config"
    assert "http or https URL" in detail
    assert path == ["config"]


def test_config_falls_back_to_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUOTAFORM_CONFIG", str(EXAMPLE_CONFIG))
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    provider = QuotaformProvider()
    servicer = ProviderServicer(provider)
    request = pb.ConfigureProvider.Request(config=to_dynamic_value(_provider_config()))
    assert _diagnostics(servicer.ConfigureProvider(request, None)) == []
    assert provider.settings is not None
    assert provider.settings.config == str(EXAMPLE_CONFIG)
    assert provider.settings.region == "eu-central-1"


def test_data_source_without_config_says_set_it() -> None:
    provider = QuotaformProvider()
    servicer = ProviderServicer(provider)
    configure = pb.ConfigureProvider.Request(config=to_dynamic_value(_provider_config()))
    servicer.ConfigureProvider(configure, None)
    read = pb.ReadDataSource.Request(
        type_name="quotaform_pool",
        config=to_dynamic_value({"name": "analytics", "exclude_tags": None}),
    )
    [(severity, summary, detail, path)] = _diagnostics(servicer.ReadDataSource(read, None))
    assert severity == "error"
    assert summary == "No quotaform configuration"
    assert "QUOTAFORM_CONFIG" in detail
    assert path == ["config"]


@pytest.mark.parametrize(
    ("config", "given"),
    [
        ({"pool": None, "instance_id": None, "asg_name": None}, "none"),
        ({"pool": "nightly", "instance_id": "i-1", "asg_name": None}, "pool, instance_id"),
    ],
)
def test_rightsizing_needs_exactly_one_target(config: dict[str, Any], given: str) -> None:
    request = pb.ValidateDataResourceConfig.Request(
        type_name="quotaform_rightsizing", config=to_dynamic_value(config)
    )
    [(severity, summary, detail, _)] = _diagnostics(
        _servicer().ValidateDataResourceConfig(request, None)
    )
    assert severity == "error"
    assert summary == "Invalid quotaform_rightsizing target"
    assert f"(given: {given})" in detail


def test_accepted_type_without_pin_warns() -> None:
    config = {"pool": "nightly", "accepted_type": "m5.large", "pin_current": None}
    request = pb.ValidateDataResourceConfig.Request(
        type_name="quotaform_rightsizing", config=to_dynamic_value(config)
    )
    [(severity, summary, _, path)] = _diagnostics(
        _servicer().ValidateDataResourceConfig(request, None)
    )
    assert severity == "warning"
    assert summary == "accepted_type has no effect"
    assert path == ["accepted_type"]


def test_accepted_type_unknown_is_error() -> None:
    config = {"pool": "nightly", "accepted_type": "m5.larg", "pin_current": True}
    request = pb.ValidateDataResourceConfig.Request(
        type_name="quotaform_rightsizing", config=to_dynamic_value(config)
    )
    [(severity, summary, detail, path)] = _diagnostics(
        _servicer().ValidateDataResourceConfig(request, None)
    )
    assert severity == "error"
    assert summary == "Unknown instance type 'm5.larg'"
    assert "did you mean" in detail
    assert path == ["accepted_type"]


def test_instance_type_source_reads_catalog() -> None:
    provider = QuotaformProvider()
    servicer = ProviderServicer(provider)
    servicer.ConfigureProvider(
        pb.ConfigureProvider.Request(config=to_dynamic_value(_provider_config(region="us-east-1"))),
        None,
    )
    read = pb.ReadDataSource.Request(
        type_name="quotaform_instance_type",
        config=to_dynamic_value({"name": "m5.large", "region": None}),
    )
    response = servicer.ReadDataSource(read, None)
    state = read_dynamic_value(response.state)
    assert _diagnostics(response) == []
    assert state["vcpu"] == 2
    assert state["memory_gib"] == 8
    assert state["family"] == "m5"
    assert state["architectures"] == ["x86_64"]
    assert state["region"] == "us-east-1"
    assert state["hourly_price_usd"] == pytest.approx(0.096)
    assert state["monthly_price_usd"] == pytest.approx(70.08)


# --- credentials stay out of diagnostics and logs -----------------------------------------


def test_redact_masks_registered_secret() -> None:
    register_secret("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    text = redact("signature mismatch for wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    assert "wJalrXUtnFEMI" not in text
    assert MASK in text


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("key AKIAIOSFODNN7EXAMPLE was rejected", "AKIAIOSFODNN7EXAMPLE"),
        ("aws_secret_access_key=abc123def456", "abc123def456"),
        ("GET https://user:hunter2@config.example/quotaform.json failed", "hunter2"),
        ("GET http://127.0.0.1:8000/q.json?token=s3cr3t failed", "s3cr3t"),
        ("ExternalId: 'ext-9876' denied", "ext-9876"),
    ],
)
def test_redact_masks_credential_shapes(text: str, secret: str) -> None:
    assert secret not in redact(text)


def test_report_redacts_failure_detail() -> None:
    from tf.utils import Diagnostics

    register_secret("SeCrEtSessionToken0123456789")
    diags = Diagnostics()

    def fail() -> None:
        raise RuntimeError("request signed with SeCrEtSessionToken0123456789 failed")

    assert report(diags, "read data.quotaform_pool", fail) is None
    [diagnostic] = diags.diagnostics
    assert diagnostic.summary == "Failed to read data.quotaform_pool"
    assert "SeCrEtSessionToken" not in diagnostic.detail
    assert "report the log" in diagnostic.detail


def test_provider_error_keeps_attribute() -> None:
    from tf.utils import Diagnostics

    diags = Diagnostics()

    def fail() -> None:
        raise ProviderError("Unknown pool 'x'", "declared pools: a, b.", "name")

    report(diags, "read data.quotaform_pool", fail)
    [diagnostic] = diags.diagnostics
    assert (diagnostic.summary, diagnostic.detail, diagnostic.path) == (
        "Unknown pool 'x'",
        "declared pools: a, b.",
        ["name"],
    )


def test_logging_redacts_and_quiets_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging({"TF_LOG_PROVIDER": "DEBUG"})
        register_secret("AnotherSecretValue42")
        logging.getLogger("provider_bridge.provider.test").debug("token %s", "AnotherSecretValue42")
        logging.getLogger("botocore.endpoint").debug("headers Authorization=AWS4 secret")
        assert logging.getLogger("botocore").level == logging.WARNING
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    output = stream.getvalue()
    assert "token ***" in output
    assert "AnotherSecretValue42" not in output
    assert "Authorization" not in output


def test_redacting_filter_masks_exception_text() -> None:
    register_secret("ExceptionSecret1234")
    try:
        raise ValueError("bad ExceptionSecret1234")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    RedactingFilter().filter(record)
    assert "ExceptionSecret1234" not in record.exc_text
    assert "ValueError" in record.exc_text


# --- install ------------------------------------------------------------------------------


def test_install_writes_unpacked_layout(tmp_path: Path) -> None:
    installed = installer.install(tmp_path / "mirror")
    expected = (
        tmp_path
        / "mirror"
        / "registry.terraform.io"
        / "quotaform"
        / "quotaform"
        / "0.1.0"
        / installer.platform_target()
        / "terraform-provider-quotaform_v0.1.0"
    )
    assert installed.launcher == expected
    assert expected.is_file()
    assert expected.stat().st_mode & stat.S_IXUSR
    assert installed.implied is False


def test_launcher_runs_bootstrap_with_this_python(tmp_path: Path) -> None:
    launcher = installer.install(tmp_path).launcher
    text = launcher.read_text()
    assert text.startswith("#!/bin/sh\n")
    assert f'exec {sys.executable} -P {BOOTSTRAP.resolve()} "$@"' in text


def test_launcher_quotes_paths_with_spaces(tmp_path: Path) -> None:
    text = installer.launcher_text("/opt/my python/bin/python", Path("/x y/bootstrap.py"))
    assert "exec '/opt/my python/bin/python' -P '/x y/bootstrap.py' \"$@\"" in text


def test_install_rejects_missing_python(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not an executable file"):
        installer.install(tmp_path, python=str(tmp_path / "python"))


def test_install_again_replaces_launcher(tmp_path: Path) -> None:
    first = installer.install(tmp_path, python="/bin/sh").launcher
    second = installer.install(tmp_path).launcher
    assert first == second
    assert "exec /bin/sh" not in second.read_text()
    assert [p.name for p in second.parent.iterdir()] == [LAUNCHER_NAME]


def test_install_default_is_implied_mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    installed = installer.install()
    assert installed.mirror == tmp_path / ".terraform.d" / "plugins"
    assert installed.implied is True
    assert installed.launcher.is_relative_to(tmp_path / ".terraform.d" / "plugins")


def test_install_into_file_rejected(tmp_path: Path) -> None:
    blocker = tmp_path / "mirror"
    blocker.write_text("")
    with pytest.raises(InputError, match="not a folder"):
        installer.install(blocker)


def test_cli_config_block_mirrors_and_excludes(tmp_path: Path) -> None:
    block = installer.cli_config_block(tmp_path)
    assert block == (
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f'    path    = "{tmp_path.resolve()}"\n'
        '    include = ["registry.terraform.io/quotaform/quotaform"]\n'
        "  }\n"
        "  direct {\n"
        '    exclude = ["registry.terraform.io/quotaform/quotaform"]\n'
        "  }\n"
        "}\n"
    )


def test_cli_install_prints_block_for_explicit_config(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    config = tmp_path / "cli.tfrc"
    config.write_text("provider_installation {\n  direct {}\n}\n")
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(config))
    result = CliRunner().invoke(cli_app, ["provider", "install", "--dir", str(tmp_path / "mirror")])
    assert result.exit_code == 0, result.output
    assert f"{config} has a provider_installation block" in result.output
    assert f'path    = "{(tmp_path / "mirror").resolve()}"' in result.output
    assert f'source = "{PROVIDER_SOURCE}"' in result.output
    assert (tmp_path / "mirror" / PROVIDER_ADDRESS).is_dir()


def test_cli_install_default_mentions_implied_mirror(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(tmp_path / "absent.tfrc"))
    result = CliRunner().invoke(cli_app, ["provider", "install"])
    assert result.exit_code == 0, result.output
    assert "as long as your CLI configuration has no provider_installation block" in result.output
    assert (tmp_path / ".terraform.d" / "plugins" / PROVIDER_ADDRESS).is_dir()


# --- start-up -----------------------------------------------------------------------------


def test_provider_start_skips_heavy_imports() -> None:
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('qf_bootstrap', {str(BOOTSTRAP)!r})\n"
        "boot = importlib.util.module_from_spec(spec); spec.loader.exec_module(boot)\n"
        "boot.defer_package_init()\n"
        "import tf.runner, tf.provider\n"
        "from provider_bridge.provider.plugin import QuotaformProvider\n"
        "from provider_bridge.provider.server import serve\n"
        "tf.provider.ProviderServicer(QuotaformProvider()).GetProviderSchema(None, None)\n"
        "heavy = ('boto3', 'botocore', 'numpy', 'pydantic', 'libcst', 'regorus')\n"
        "print(','.join(name for name in heavy if name in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-P", "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_launcher_completes_handshake(tmp_path: Path) -> None:
    launcher = installer.install(tmp_path / "mirror").launcher
    env = {**os.environ, "HOME": str(tmp_path)}
    process = subprocess.Popen(
        [str(launcher)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True
    )
    try:
        line = _read_line(process, HANDSHAKE_TIMEOUT_SECONDS)
    finally:
        process.kill()
        process.wait(timeout=10)
    fields = line.strip().split("|")
    assert fields[:3] == ["1", "6", "unix"], line
    assert fields[4] == "grpc"
    assert len(base64.b64decode(fields[5] + "==")) > 100  # the server's DER certificate


def _read_line(process: subprocess.Popen[str], timeout: float) -> str:
    import selectors

    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    if not selector.select(timeout):
        raise AssertionError(f"no handshake within {timeout} s")
    return process.stdout.readline()


def test_provider_exits_when_terraform_dies(tmp_path: Path) -> None:
    launcher = installer.install(tmp_path / "mirror").launcher
    # A stand-in for terraform: starts the provider, waits for its handshake, exits.
    parent = (
        "import subprocess, sys\n"
        f"child = subprocess.Popen([{str(launcher)!r}], stdout=subprocess.PIPE,\n"
        "                         stderr=subprocess.DEVNULL)\n"
        "child.stdout.readline()\n"
        "print(child.pid, flush=True)\n"
    )
    env = {**os.environ, "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", parent],
        capture_output=True,
        text=True,
        env=env,
        timeout=HANDSHAKE_TIMEOUT_SECONDS,
        check=True,
    )
    child = int(result.stdout.strip())
    deadline = time.monotonic() + 15
    while _running(child) and time.monotonic() < deadline:
        time.sleep(0.2)
    running = _running(child)
    if running:
        os.kill(child, 9)
    assert not running, "the provider kept running after its parent exited"


def _running(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def test_example_config_is_valid() -> None:
    from cdk.model import load_config
    from provider_bridge.catalog import load_catalog

    config = load_config(EXAMPLE_CONFIG, load_catalog())
    assert sorted(pool.name for pool in config.allocation.pools) == ["analytics", "nightly"]
    [analytics] = [q for q in config.allocation.quotas if q.target == "analytics"]
    assert analytics.max_vcpu == 8


# --- CDKTF constructs ---------------------------------------------------------------------

RIGHTSIZED_APP = """\
from cdktf import App

from cdk.constructs import AsgPool, InstancePool, QuotaformStack, Team

app = App()
stack = QuotaformStack(app, "rightsized", region="eu-west-1")
Team(stack, "data")
InstancePool(stack, "nightly", team="data", instance_type="m5.2xlarge", count=1,
             instance_type_from_rightsizing=True)
AsgPool(stack, "web", team="data", instance_type="m5.xlarge", min_size=1, max_size=2,
        instance_type_from_rightsizing=True, rightsizing_pin_current=True,
        rightsizing_accepted_type="m5.large")
InstancePool(stack, "plain", team="data", instance_type="c5.large", count=1)
app.synth()
"""


@pytest.fixture(scope="module")
def rightsized_synth(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Any]:
    from cdk.synth import synth_app

    folder = tmp_path_factory.mktemp("rightsized-app")
    app = folder / "app.py"
    app.write_text(RIGHTSIZED_APP)
    [result] = synth_app(app, folder / "out")
    return json.loads(result.tf_json.read_text()), result


def test_opt_in_declares_rightsizing_source(rightsized_synth: tuple[dict[str, Any], Any]) -> None:
    tf_json, _ = rightsized_synth
    sources = tf_json["data"]["quotaform_rightsizing"]
    assert sorted(sources) == ["nightly", "web"]
    assert sources["nightly"]["pool"] == "nightly"
    assert "pin_current" not in sources["nightly"]
    assert sources["web"]["pin_current"] is True
    assert sources["web"]["accepted_type"] == "m5.large"
    assert sources["web"]["provider"] == "quotaform"


def test_opt_in_uses_recommended_type(rightsized_synth: tuple[dict[str, Any], Any]) -> None:
    tf_json, _ = rightsized_synth
    resources = tf_json["resource"]
    assert (resources["aws_instance"]["nightly"]["instance_type"]
            == "${data.quotaform_rightsizing.nightly.instance_type}")
    assert (resources["aws_launch_template"]["web"]["instance_type"]
            == "${data.quotaform_rightsizing.web.instance_type}")
    assert resources["aws_instance"]["plain"]["instance_type"] == "c5.large"


def test_opt_in_configures_provider(rightsized_synth: tuple[dict[str, Any], Any]) -> None:
    tf_json, result = rightsized_synth
    assert tf_json["terraform"]["required_providers"]["quotaform"] == {
        "source": "quotaform/quotaform", "version": "~> 0.1"}
    assert tf_json["provider"]["quotaform"] == [
        {"config": "${path.module}/quotaform.json", "region": "eu-west-1"}]
    assert result.config_json.parent == result.tf_json.parent


def test_opt_in_keeps_declared_type(rightsized_synth: tuple[dict[str, Any], Any]) -> None:
    _, result = rightsized_synth
    pools = {p["name"]: p for p in json.loads(result.config_json.read_text())
             ["allocation"]["pools"]}
    assert pools["nightly"]["instance_type"] == "m5.2xlarge"
    assert pools["web"]["instance_type"] == "m5.xlarge"


def test_pin_without_opt_in_rejected(tmp_path: Path) -> None:
    from cdk.synth import synth_app

    app = tmp_path / "app.py"
    app.write_text(RIGHTSIZED_APP.replace(
        'count=1,\n             instance_type_from_rightsizing=True)',
        'count=1,\n             rightsizing_pin_current=True)'))
    with pytest.raises(InputError, match="need instance_type_from_rightsizing=True"):
        synth_app(app, tmp_path / "out")
