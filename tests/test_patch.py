"""Patching a CDKTF app: only the instance_type literal changes, the diff is exact text."""

from __future__ import annotations

import pytest

from cdk.errors import InputError
from provider_bridge.patch import (
    TypeChange,
    format_summary,
    patch_instance_types,
    write_atomically,
)

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


def test_patch_changes_only_the_literal() -> None:
    result = patch_instance_types(APP, {"reporting": "m5.large"}, "examples/app.py")

    expected = APP.replace("instance_type='m5.2xlarge',", "instance_type='m5.large',")
    assert result.source == expected
    assert result.changes == [TypeChange("reporting", "m5.2xlarge", "m5.large", 12)]


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


def test_missing_pool_names_what_to_look_for() -> None:
    with pytest.raises(InputError) as caught:
        patch_instance_types(APP, {"etl": "c5.large"}, "app.py")

    message = str(caught.value)
    assert "app.py: no pool construct call for pool 'etl' found" in message
    assert 'InstancePool(stack, "etl", ..., instance_type="m5.large")' in message


def test_non_literal_instance_type_is_rejected() -> None:
    source = APP.replace("instance_type=\"c5.xlarge\"", "instance_type=BATCH_TYPE")

    with pytest.raises(InputError) as caught:
        patch_instance_types(source, {"batch": "c5.large"}, "app.py")

    assert "app.py:15: pool 'batch' has no string literal instance_type=" in str(caught.value)


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
    changes = [TypeChange("reporting", "m5.2xlarge", "m5.large", 12)]

    assert format_summary(changes, {"reporting": "data"}) == (
        '  # pool "reporting" (team data) will be updated in-place\n'
        '  ~ instance_type = "m5.2xlarge" -> "m5.large"\n'
        "1 pool to change.\n"
    )


def test_write_keeps_original(tmp_path) -> None:
    app = tmp_path / "app.py"
    app.write_text(APP)
    result = patch_instance_types(APP, {"batch": "c5.large"}, "app.py")

    backup = write_atomically(app, result.source)

    assert app.read_text() == result.source
    assert backup.read_text() == APP
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.py", "app.py.orig"]
