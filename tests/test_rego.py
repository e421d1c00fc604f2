"""Run every Rego unit test (``test_*`` rules in ``*_test.rego``) through regorus."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import regorus

from policies.engine import RegorusEngine, engine_message

REGO = Path(__file__).resolve().parent.parent / "policies" / "rego"
TEST_FILES = sorted(REGO.glob("*/*_test.rego"))
POLICY_FILES = sorted(path for path in REGO.glob("*/*.rego") if path not in TEST_FILES)

_PACKAGE = re.compile(r"^package\s+(\S+)", re.MULTILINE)
_TEST_RULE = re.compile(r"^(test_[A-Za-z0-9_]+)\s+if\b", re.MULTILINE)


def _discover() -> list[tuple[str, str]]:
    cases = []
    for path in TEST_FILES:
        text = path.read_text()
        package = _PACKAGE.search(text)
        assert package is not None, f"{path} has no package line"
        cases += [(package.group(1), name) for name in _TEST_RULE.findall(text)]
    return cases


CASES = _discover()


@pytest.fixture(scope="module")
def test_engine() -> regorus.Engine:
    engine = regorus.Engine()
    for path in [*POLICY_FILES, *TEST_FILES]:
        engine.add_policy(str(path.relative_to(REGO)), path.read_text())
    return engine


def _run(engine: regorus.Engine, package: str, name: str) -> object:
    try:
        return engine.eval_rule(f"data.{package}.{name}")
    except RuntimeError as exc:
        pytest.fail(f"{package}.{name} failed to evaluate: {engine_message(exc)}")


@pytest.mark.parametrize(("package", "name"), CASES, ids=[f"{p}.{n}" for p, n in CASES])
def test_rego_rule_is_true(test_engine: regorus.Engine, package: str, name: str) -> None:
    assert _run(test_engine, package, name) is True


def test_every_rule_has_tests() -> None:
    rule_folders = {path.parent.name for path in POLICY_FILES}
    tested = {path.parent.name for path in TEST_FILES}
    assert rule_folders == tested


def test_every_rule_has_deny_and_allow_tests() -> None:
    for path in TEST_FILES:
        names = _TEST_RULE.findall(path.read_text())
        if path.parent.name == "lib":
            continue
        assert any(name.startswith("test_deny_") for name in names), path.name
        assert any(name.startswith("test_allow_") for name in names), path.name


def test_discovery_finds_all_test_rules() -> None:
    # Counted by hand from the *_test.rego files: 38 in the eight quota rule folders,
    # quotas and lib/lib_test.rego (31 + 5 + 2); 44 in the other ten rule folders,
    # lib/access_test.rego, lib/changes_test.rego and lib/money_test.rego (39 + 2 + 1 + 2).
    assert len(CASES) == 82


def test_runner_reports_a_false_test(test_engine: regorus.Engine) -> None:
    """A wrong expectation must come back as not true, or every case above is hollow."""
    engine = test_engine.clone()
    engine.add_policy("wrong_test.rego", """package quotaform.rules.wrong_test

import data.quotaform.rules.pool_vcpu_quota
import rego.v1

test_deny_wrong_count if {
	count(pool_vcpu_quota.deny) == 5 with input as {"source": "plan", "pools": {}}
		with data.quotaform.allocation as {"quotas": []}
}
""")
    assert _run(engine, "quotaform.rules.wrong_test", "test_deny_wrong_count") is not True


def test_metadata_matches_emitted_severity(test_engine: regorus.Engine) -> None:
    """Every rule reports the id and severity its METADATA declares."""
    rules = RegorusEngine().rules()
    assert set(rules) == {
        "pool-vcpu-quota", "pool-instance-quota", "team-vcpu-quota",
        "allowed-instance-types", "required-tags", "unknown-instance-type",
        "pool-memory-quota", "pool-monthly-cost-quota", "team-instance-quota",
        "team-memory-quota", "team-monthly-cost-quota",
        "max-instance-size", "allowed-regions", "allowed-tag-values", "pool-access",
        "unknown-requestor", "monthly-cost-budget", "unpriced-cost",
    }
    for info in rules.values():
        folder = info.package.rsplit(".", 1)[-1]
        text = (REGO / folder / f"{folder}.rego").read_text()
        assert f'violation := lib.violation("{info.id}", "{info.severity}",' in text
