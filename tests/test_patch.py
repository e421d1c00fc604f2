"""Patching sources: only the changed literal moves, the diff is exact text.

Covers the CDKTF app (LibCST), plain Terraform (.tf through python-hcl2) and
Terraform JSON (.tf.json through orjson).
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from cdk.errors import InputError
from provider_bridge.patch import (
    Edit,
    format_summary,
    patch_app,
    patch_instance_types,
    patch_path,
    write_atomically,
)
from provider_bridge.patch_hcl import patch_terraform

APP = '''\
from cdktf import App
from cdk.constructs import AsgPool, InstancePool, Quota, QuotaformStack, Team


def build_platform(app: App, *, api_max_size: int = 4) -> QuotaformStack:
    stack = QuotaformStack(app, "platform", region="us-east-1")
    Team(stack, "payments")
    Team(stack, "data")
    AsgPool(stack, "api", team="payments", instance_type="m5.xlarge",
            min_size=2, max_size=api_max_size, allowed_families=["m5", "m6i"])
    # Nightly reports; sized for the month-end run.
    InstancePool(stack, "reporting", team="data",
                 instance_type='m5.2xlarge',   # keep single quotes
                 count=1)
    InstancePool(stack, "batch", team="data", instance_type="c5.xlarge", count=2)
    Quota(stack, "api-quota", target="api", max_vcpu=16, max_instances=4)
    return stack
'''

CONSTANTS = '''\
from cdk.constructs import InstancePool

ETL_TYPE = "c5.large"  # sized for the nightly load
SHARED_TYPE = "m5.large"


def build(stack):
    InstancePool(stack, "etl", team="data", instance_type=ETL_TYPE, count=1)
    InstancePool(stack, "web", team="data", instance_type=SHARED_TYPE)
    InstancePool(stack, "admin", team="data", instance_type=SHARED_TYPE)
    InstancePool(stack, id="jobs", team="data", instance_type="c5.xlarge")
'''


def test_patch_changes_only_the_literal() -> None:
    result = patch_instance_types(APP, {"reporting": "m5.large"}, "examples/app.py")

    expected = APP.replace("instance_type='m5.2xlarge',", "instance_type='m5.large',")
    assert result.source == expected
    assert result.changes == [Edit("reporting", "m5.2xlarge", "m5.large", 13,
                                   "instance_type", "examples/app.py")]


def test_patch_diff_is_exact() -> None:
    result = patch_instance_types(APP, {"reporting": "m5.large", "api": "m5.2xlarge"},
                                  "examples/app.py")

    assert result.diff == '''\
--- a/examples/app.py
+++ b/examples/app.py
@@ -6,11 +6,11 @@
     stack = QuotaformStack(app, "platform", region="us-east-1")
     Team(stack, "payments")
     Team(stack, "data")
-    AsgPool(stack, "api", team="payments", instance_type="m5.xlarge",
+    AsgPool(stack, "api", team="payments", instance_type="m5.2xlarge",
             min_size=2, max_size=api_max_size, allowed_families=["m5", "m6i"])
     # Nightly reports; sized for the month-end run.
     InstancePool(stack, "reporting", team="data",
-                 instance_type='m5.2xlarge',   # keep single quotes
+                 instance_type='m5.large',   # keep single quotes
                  count=1)
     InstancePool(stack, "batch", team="data", instance_type="c5.xlarge", count=2)
     Quota(stack, "api-quota", target="api", max_vcpu=16, max_instances=4)
'''


def test_patch_leaves_other_pools_alone() -> None:
    result = patch_instance_types(APP, {"batch": "c5.large"}, "app.py")

    changed = [
        (old, new) for old, new in zip(APP.splitlines(), result.source.splitlines(), strict=True)
        if old != new
    ]
    assert changed == [(
        '    InstancePool(stack, "batch", team="data", instance_type="c5.xlarge", count=2)',
        '    InstancePool(stack, "batch", team="data", instance_type="c5.large", count=2)',
    )]


def test_patch_without_changes_is_identity() -> None:
    result = patch_instance_types(APP, {}, "app.py")

    assert result.source == APP
    assert result.diff == ""


def test_patch_count_changes_integer_literal() -> None:
    result = patch_app(APP, {"batch": {"count": 1}, "api": {"min_size": 1}}, "app.py")

    assert 'instance_type="c5.xlarge", count=1)' in result.source
    assert "min_size=1, max_size=api_max_size" in result.source
    assert sorted((e.pool, e.attribute, e.old, e.new) for e in result.changes) == [
        ("api", "min_size", 2, 1), ("batch", "count", 2, 1)]


def test_patch_count_through_parameter_is_skipped() -> None:
    result = patch_app(APP, {"api": {"max_size": 6}}, "app.py")

    assert result.source == APP
    assert len(result.skipped) == 1
    assert result.skipped[0].pool == "api"
    assert "app.py:9: max_size= cannot be changed safely" in result.skipped[0].reason
    assert "the name api_max_size is not bound by a plain assignment" in \
        result.skipped[0].reason


def test_missing_argument_says_what_to_add() -> None:
    source = APP.replace('instance_type="c5.xlarge", count=2)', 'instance_type="c5.xlarge")')

    result = patch_app(source, {"batch": {"count": 1}}, "app.py")

    assert result.changes == []
    assert result.skipped[0].reason == (
        "app.py:15: the pool's call has no count= argument; add count=1 by hand")


def test_constant_used_by_one_pool_is_patched() -> None:
    result = patch_app(CONSTANTS, {"etl": {"instance_type": "c5.xlarge"}}, "app.py")

    assert result.diff == '''\
--- a/app.py
+++ b/app.py
@@ -1,6 +1,6 @@
 from cdk.constructs import InstancePool
 
-ETL_TYPE = "c5.large"  # sized for the nightly load
+ETL_TYPE = "c5.xlarge"  # sized for the nightly load
 SHARED_TYPE = "m5.large"
 
 
'''
    assert result.changes == [Edit("etl", "c5.large", "c5.xlarge", 3, "instance_type",
                                   "app.py")]


def test_shared_constant_is_not_patched() -> None:
    result = patch_app(CONSTANTS, {"web": {"instance_type": "m5.xlarge"}}, "app.py")

    assert result.source == CONSTANTS
    assert result.changes == []
    reason = result.skipped[0].reason
    assert reason.startswith("app.py:9: instance_type= cannot be changed safely")
    assert "SHARED_TYPE (line 4) is also read elsewhere (lines 9, 10)" in reason


def test_pool_named_by_keyword_is_found() -> None:
    result = patch_app(CONSTANTS, {"jobs": {"instance_type": "c5.large"}}, "app.py")

    assert 'InstancePool(stack, id="jobs", team="data", instance_type="c5.large")' in \
        result.source


def test_expression_value_is_skipped() -> None:
    source = APP.replace('instance_type="c5.xlarge"', 'instance_type=types["batch"]')

    result = patch_app(source, {"batch": {"instance_type": "c5.large"}}, "app.py")

    assert result.source == source
    assert "its value is an expression, not a literal or a name bound to one" in \
        result.skipped[0].reason


def test_missing_pool_names_what_to_look_for() -> None:
    with pytest.raises(InputError) as caught:
        patch_instance_types(APP, {"etl": "c5.large"}, "app.py")

    message = str(caught.value)
    assert "app.py: no pool construct call for pool 'etl' found" in message
    assert 'InstancePool(stack, "etl", ..., instance_type="m5.large")' in message


def test_undefined_name_is_rejected() -> None:
    source = APP.replace("instance_type=\"c5.xlarge\"", "instance_type=BATCH_TYPE")

    with pytest.raises(InputError) as caught:
        patch_instance_types(source, {"batch": "c5.large"}, "app.py")

    assert "app.py:15: instance_type= cannot be changed safely" in str(caught.value)


def test_pool_declared_twice_is_rejected() -> None:
    source = APP + '\nInstancePool(other, "batch", team="data", instance_type="c5.large")\n'

    with pytest.raises(InputError) as caught:
        patch_instance_types(source, {"batch": "c5.large"}, "app.py")

    assert "declared by 2 calls (lines 15, 19)" in str(caught.value)


def test_invalid_python_is_input_error() -> None:
    with pytest.raises(InputError) as caught:
        patch_instance_types("def broken(:\n", {"api": "m5.large"}, "app.py")

    assert str(caught.value).startswith("app.py: not valid Python")


def test_summary_reads_like_terraform() -> None:
    changes = [Edit("reporting", "m5.2xlarge", "m5.large", 12),
               Edit("reporting", 2, 1, 14, "count")]

    assert format_summary(changes, {"reporting": "data"}) == (
        '  # pool "reporting" (team data) will be updated in-place\n'
        '  ~ instance_type = "m5.2xlarge" -> "m5.large"\n'
        "  ~ count         = 2 -> 1\n"
        "1 pool to change.\n"
    )


def test_write_keeps_original(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(APP)
    result = patch_instance_types(APP, {"batch": "c5.large"}, "app.py")

    backup = write_atomically(app, result.source)

    assert app.read_text() == result.source
    assert backup.read_text() == APP
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.py", "app.py.orig"]


MAIN_TF = '''\
# Compute for the data team.
variable "batch_type" {
  type    = string
  default = "c5.xlarge" # raise for quarter-end
}

variable "shared_type" {
  default = "m5.large"
}

locals {
  etl_type = "c5.large"
}

resource "aws_instance" "reporting" {
  count         = 1
  ami           = "ami-12c6146b"
  instance_type = "m5.2xlarge"   # month-end
  tags = {
    "quotaform:pool" = "reporting"
    "quotaform:team" = "data"
  }
}

resource "aws_instance" "batch" {
  count         = 2
  ami           = "ami-12c6146b"
  instance_type = var.batch_type
  tags          = { "quotaform:pool" = "batch" }
}

resource "aws_instance" "etl" {
  ami           = "ami-12c6146b"
  instance_type = local.etl_type
}

resource "aws_instance" "web" {
  ami           = "ami-12c6146b"
  instance_type = var.shared_type
  tags          = { "quotaform:pool" = "web" }
}

resource "aws_instance" "admin" {
  ami           = "ami-12c6146b"
  instance_type = var.shared_type
}
'''

ASG_TF = '''\
resource "aws_launch_template" "api" {
  image_id      = "ami-12c6146b"
  instance_type = "m5.xlarge"
}

resource "aws_autoscaling_group" "api" {
  min_size = 2
  max_size = 4

  launch_template {
    id      = aws_launch_template.api.id
    version = "$Latest"
  }

  tag {
    key                 = "quotaform:pool"
    value               = "api"
    propagate_at_launch = true
  }
}
'''


def _write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    return path


def test_tf_literal_changes_in_place(tmp_path: Path) -> None:
    path = _write(tmp_path, "main.tf", MAIN_TF)

    results, skipped = patch_terraform([path], {"reporting": {"instance_type": "m5.large"}},
                                       {path: "main.tf"})

    assert skipped == []
    assert results[0].source == MAIN_TF.replace('"m5.2xlarge"   # month-end',
                                                '"m5.large"   # month-end')
    assert results[0].changes == [Edit("reporting", "m5.2xlarge", "m5.large", 18,
                                       "instance_type", "main.tf")]


def test_tf_variable_default_changes(tmp_path: Path) -> None:
    path = _write(tmp_path, "main.tf", MAIN_TF)

    results, _ = patch_terraform([path], {"batch": {"instance_type": "c5.large"}})

    assert [line for line in results[0].diff.splitlines() if line[:1] in "+-"] == [
        "--- a/" + str(path).lstrip("/"),
        "+++ b/" + str(path).lstrip("/"),
        '-  default = "c5.xlarge" # raise for quarter-end',
        '+  default = "c5.large" # raise for quarter-end',
    ]


def test_tf_local_found_by_resource_name(tmp_path: Path) -> None:
    path = _write(tmp_path, "main.tf", MAIN_TF)

    results, _ = patch_terraform([path], {"etl": {"instance_type": "c5.xlarge"}})

    assert '  etl_type = "c5.xlarge"\n' in results[0].source
    assert results[0].changes[0].line == 12


def test_tf_shared_variable_is_skipped(tmp_path: Path) -> None:
    path = _write(tmp_path, "main.tf", MAIN_TF)

    results, skipped = patch_terraform([path], {"web": {"instance_type": "m5.xlarge"}},
                                       {path: "main.tf"})

    assert results == []
    assert skipped[0].reason == (
        "main.tf: aws_instance.web: instance_type cannot be changed safely: var.shared_type "
        "is read 2 times, so changing it would change more than this pool; give the pool its "
        "own value"
    )


def test_tf_count_changes(tmp_path: Path) -> None:
    path = _write(tmp_path, "main.tf", MAIN_TF)

    results, _ = patch_terraform([path], {"batch": {"count": 1}})

    assert "  count         = 1\n  ami           = \"ami-12c6146b\"\n  instance_type = " \
        "var.batch_type" in results[0].source


def test_tf_asg_type_lives_in_launch_template(tmp_path: Path) -> None:
    path = _write(tmp_path, "asg.tf", ASG_TF)

    results, skipped = patch_terraform(
        [path], {"api": {"instance_type": "m5.2xlarge", "max_size": 6}})

    assert skipped == []
    source = results[0].source
    assert '  instance_type = "m5.2xlarge"\n' in source
    assert "  max_size = 6\n" in source
    assert "  min_size = 2\n" in source


def test_tf_unknown_pool_says_how_to_tag(tmp_path: Path) -> None:
    path = _write(tmp_path, "asg.tf", ASG_TF)

    _, skipped = patch_terraform([path], {"nightly": {"instance_type": "m5.large"}})

    assert skipped[0].reason == ("no Terraform resource of pool 'nightly' found; tag it with "
                                 '"quotaform:pool" = "nightly" or name it nightly')


def test_tf_invalid_hcl_names_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "broken.tf", 'resource "aws_instance" "x" {\n  ami = \n}\n')

    with pytest.raises(InputError) as caught:
        patch_terraform([path], {"x": {"instance_type": "m5.large"}})

    assert str(caught.value).startswith(f"{path}:2: not valid HCL")


TF_JSON = {
    "variable": {"api_type": {"default": "m5.xlarge"}},
    "resource": {
        "aws_instance": {
            "reporting": {"ami": "ami-12c6146b", "instance_type": "m5.2xlarge",
                          "tags": {"quotaform:pool": "reporting"}},
        },
        "aws_launch_template": {
            "api": {"instance_type": "${var.api_type}", "image_id": "ami-12c6146b",
                    "tag_specifications": [{"resource_type": "instance",
                                            "tags": {"quotaform:pool": "api"}}]},
        },
    },
}


def test_tf_json_keeps_key_order(tmp_path: Path) -> None:
    path = tmp_path / "main.tf.json"
    path.write_bytes(orjson.dumps(TF_JSON, option=orjson.OPT_INDENT_2) + b"\n")

    results, skipped = patch_terraform(
        [path], {"reporting": {"instance_type": "m5.large"}, "api": {"instance_type": "m5.large"}})

    assert skipped == []
    patched = orjson.loads(results[0].source)
    assert list(patched["resource"]["aws_instance"]["reporting"]) == ["ami", "instance_type",
                                                                      "tags"]
    assert patched["resource"]["aws_instance"]["reporting"]["instance_type"] == "m5.large"
    assert patched["variable"]["api_type"]["default"] == "m5.large"
    assert patched["resource"]["aws_launch_template"]["api"]["instance_type"] == \
        "${var.api_type}"
    assert results[0].diff.count("\n-") == 2


def test_patch_path_reads_a_module_folder(tmp_path: Path) -> None:
    _write(tmp_path, "main.tf", MAIN_TF)
    _write(tmp_path, "asg.tf", ASG_TF)

    results, skipped = patch_path(tmp_path, {"reporting": {"instance_type": "m5.large"},
                                             "api": {"instance_type": "m5.2xlarge"}}, "infra")

    assert skipped == []
    assert [r.path.name for r in results] == ["asg.tf", "main.tf"]
    assert results[0].diff.startswith("--- a/infra/asg.tf\n+++ b/infra/asg.tf\n")


def test_patch_path_rejects_other_files(tmp_path: Path) -> None:
    path = _write(tmp_path, "values.yaml", "a: 1\n")

    with pytest.raises(InputError) as caught:
        patch_path(path, {"api": {"instance_type": "m5.large"}})

    assert "unsupported source; pass a CDKTF app (.py), a .tf or .tf.json file" in \
        str(caught.value)
