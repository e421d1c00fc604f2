"""Input checks and messages of the CLI commands, and repeated rightsize patches.

Commands that reach AWS point at the shared moto server with fake credentials;
each case here is rejected before any AWS call.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest

from cdk.errors import InputError
from cdk.synth import synth_app
from provider_bridge.catalog import load_catalog
from provider_bridge.local_aws import LocalAws
from provider_bridge.patch import patch_path, write_atomically
from provider_bridge.provider.diagnostics import ProviderError
from provider_bridge.provider.lookup import close_type_names, instance_type
from provider_bridge.rightsizing import Recommendation
from quotaform.cli import main
from quotaform.commands.rightsize import patch_outcome

ROOT = Path(__file__).resolve().parent.parent
CHECK = ROOT / "tests" / "fixtures" / "check"
PLATFORM = CHECK / "platform.json"
PLAN = CHECK / "plan_api_scale_out.json"
QUOTAFORM = Path(sys.executable).parent / "quotaform"

APP = '''\
from cdk.constructs import AsgPool, InstancePool

AsgPool(stack, "api", team="payments", instance_type="m5.xlarge", min_size=2, max_size=4)
InstancePool(stack, "batch", team="data", instance_type="c5.large", count=2)
'''

STATE = {"version": 4, "terraform_version": "1.9.0", "serial": 1, "lineage": "x",
         "outputs": {}, "resources": []}


def _main(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    """Run the CLI entry point in this process; return exit code, stdout and stderr."""
    with mock.patch.object(sys, "argv", ["quotaform", *map(str, args)]):
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _downsize(pool: str, current: str, recommended: str) -> Recommendation:
    return Recommendation.model_construct(
        pool=pool, team="data", action="downsize", current_type=current,
        recommended_type=recommended, blocked_by=[], count_changes={}, count_before={},
    )


# Repeated rightsize --write


def test_patch_drops_value_already_in_source(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(APP)

    patches, skipped = patch_path(app, {"api": {"instance_type": "m5.xlarge"},
                                        "batch": {"instance_type": "c5.xlarge"}})

    assert skipped == []
    assert [(e.pool, e.old, e.new) for e in patches[0].changes] == [
        ("batch", "c5.large", "c5.xlarge")]


@pytest.mark.parametrize("name, text", [
    ("main.tf", 'resource "aws_instance" "batch" {\n  instance_type = "c5.large"\n'
                '  tags = { "quotaform:pool" = "batch" }\n}\n'),
    ("main.tf.json", json.dumps({"resource": {"aws_instance": {"batch": {
        "instance_type": "c5.large", "tags": {"quotaform:pool": "batch"}}}}})),
])
def test_terraform_patch_drops_value_already_set(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)

    patches, skipped = patch_path(path, {"batch": {"instance_type": "c5.large"}})

    assert patches == []
    assert skipped == []


def test_second_patch_reports_no_change(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(APP.replace('"c5.large"', '"c5.xlarge"'))
    # The state still names the old type, as before terraform apply.
    recommendations = [_downsize("batch", "c5.large", "c5.xlarge")]

    outcome = patch_outcome(recommendations, app)

    assert outcome.summary == "0 pools to change.\n"
    assert outcome.patches == []
    assert outcome.changed is False


def test_write_keeps_first_backup(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text("first\n")

    first = write_atomically(app, "second\n")
    second = write_atomically(app, "third\n")

    assert first == tmp_path / "app.py.orig"
    assert second == tmp_path / "app.py.orig.1"
    assert first.read_text() == "first\n"
    assert second.read_text() == "second\n"
    assert app.read_text() == "third\n"


# Region, endpoint URL and --data checks


def test_usage_rejects_invalid_region(capsys: pytest.CaptureFixture[str],
                                      aws_env: LocalAws) -> None:
    code, out, err = _main(capsys, "usage", "--data", PLATFORM, "--region", "nope",
                           "--endpoint-url", aws_env.endpoint_url)

    assert code == 2
    assert "--region 'nope' is not an AWS region name" in err
    assert "<html" not in err.lower()
    assert out == ""


@pytest.mark.parametrize("command", [
    ["rightsize", "--source", "live"],
    ["usage"],
])
@pytest.mark.parametrize("url", ["notaurl", "ftp://127.0.0.1:5000", "http://", "http://h:x"])
def test_endpoint_url_must_be_http(capsys: pytest.CaptureFixture[str], command: list[str],
                                   url: str) -> None:
    code, _, err = _main(capsys, *command, "--data", PLATFORM, "--endpoint-url", url)

    assert code == 2
    assert f"--endpoint-url {url!r} is not an http(s) URL" in err
    assert "http://127.0.0.1:5000" in err
    assert "ValueError" not in err


@pytest.mark.parametrize("command", [
    ["rightsize", "--source", "live"],
    ["usage"],
    ["backtest"],
])
def test_state_as_data_is_named(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                aws_env: LocalAws, command: list[str]) -> None:
    state = tmp_path / "state.json"
    state.write_text(json.dumps(STATE))
    endpoint = [] if command == ["backtest"] else ["--endpoint-url", aws_env.endpoint_url]

    code, _, err = _main(capsys, *command, "--data", state, *endpoint)

    assert code == 2
    assert f"{state}: this is a Terraform state, not a quotaform.json" in err
    assert "Extra inputs" not in err


# synth and check inputs


def test_synth_output_is_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "some.json"
    target.write_text("{}")

    with pytest.raises(InputError, match=r"--output .*some.json: is a file, not a folder"):
        synth_app(ROOT / "examples" / "app.py", target)


def test_synth_output_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")

    with pytest.raises(InputError, match=r"the folder cannot be created"):
        synth_app(ROOT / "examples" / "app.py", blocker / "out")


def test_synth_app_is_directory(tmp_path: Path) -> None:
    folder = tmp_path / "adir"
    folder.mkdir()

    with pytest.raises(InputError, match=r"adir: is a directory; pass the CDKTF app file"):
        synth_app(folder, tmp_path / "out")


def test_synth_syntax_error_names_app_line(tmp_path: Path) -> None:
    app = tmp_path / "syntax.py"
    app.write_text("import os\n\nx = (\n")

    with pytest.raises(InputError) as raised:
        synth_app(app, tmp_path / "out")

    message = str(raised.value)
    assert "SyntaxError" in message
    assert "syntax.py:3" in message
    assert "frozen runpy" not in message


@pytest.mark.parametrize("option", [[], ["--usage"]])
def test_check_directory_is_named(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                  option: list[str]) -> None:
    folder = tmp_path / "adir"
    folder.mkdir()
    args = [*option, folder, PLAN] if option else [folder]

    code, _, err = _main(capsys, "check", "--data", PLATFORM, *args)

    assert code == 2
    assert f"{folder}: is a directory, not a file; pass the" in err
    assert "Is a directory" not in err


def test_opa_connection_retries_not_logged() -> None:
    result = subprocess.run(
        [str(QUOTAFORM), "check", str(PLAN), "--data", str(PLATFORM), "--engine", "opa",
         "--opa-url", "http://127.0.0.1:1", "--opa-timeout", "2"],
        capture_output=True, text=True, timeout=60,
    )

    assert result.returncode == 2
    assert "could not connect to the OPA server" in result.stderr
    assert "Retrying" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# Provider function suggestions


@pytest.mark.parametrize("name, expected", [
    ("m5.lage", "m5.large"),
    ("t3.mirco", "t3.micro"),
    ("m5x.large", "m5.large"),
])
def test_suggestion_is_close_type(name: str, expected: str) -> None:
    names = list(load_catalog().types)

    assert close_type_names(name, names)[0] == expected


def test_unrelated_name_gets_no_suggestion() -> None:
    with pytest.raises(ProviderError) as raised:
        instance_type("nope.large")

    assert "m8ine" not in raised.value.detail
    assert "use a type such as m5.large" in raised.value.detail
    assert not raised.value.detail.endswith(("?", "."))


def test_suggestion_has_no_question_mark() -> None:
    with pytest.raises(ProviderError) as raised:
        instance_type("m5.lage")

    assert "did you mean m5.large" in raised.value.detail
    assert "?" not in raised.value.detail
