"""The input the policy engines receive: the normalized input without the fields no rule reads."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cdk.model import ResourceConfig, load_config
from policies import load_plan, normalize_plan
from policies.engine import RegorusEngine, policy_files
from policies.gate import UNREAD_FIELDS, CheckOptions, add_check_facts, engine_input
from provider_bridge import Catalog

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CHECK = FIXTURES / "check"
PLANS = sorted((FIXTURES / "plans").glob("*.json")) + sorted(CHECK.glob("plan_*.json"))
DATA = sorted(path for path in CHECK.glob("*.json") if not path.name.startswith("plan_"))

UNREAD_RESOURCE_FIELDS = UNREAD_FIELDS["resources"]["__all__"]


def _sorted(violations: list[dict]) -> list[str]:
    return sorted(json.dumps(item, sort_keys=True) for item in violations)


@pytest.fixture(scope="module")
def strict(catalog: Catalog) -> ResourceConfig:
    return load_config(CHECK / "quotaform_strict.json", catalog)


def test_unread_fields_name_real_fields(catalog: Catalog, strict: ResourceConfig) -> None:
    document = normalize_plan(load_plan(CHECK / "plan_api_scale_out.json"), strict, catalog)
    full = document.model_dump(mode="json")
    assert "totals" in full
    assert UNREAD_RESOURCE_FIELDS <= set(full["resources"][0])


def test_engine_input_leaves_out_unread_fields(catalog: Catalog, strict: ResourceConfig) -> None:
    document = normalize_plan(load_plan(CHECK / "plan_api_scale_out.json"), strict, catalog)
    sent = json.loads(engine_input(document))
    full = document.model_dump(mode="json")
    assert "totals" not in sent
    assert set(sent) == set(full) - {"totals"}
    for resource, original in zip(sent["resources"], full["resources"], strict=True):
        assert set(resource) == set(original) - UNREAD_RESOURCE_FIELDS
        assert resource == {name: original[name] for name in resource}
    assert sent["pools"] == full["pools"]


def test_no_shipped_rule_names_an_unread_field() -> None:
    names = {*UNREAD_RESOURCE_FIELDS, "totals"}
    for policy, text in policy_files():
        for name in names:
            assert not re.search(rf"\b{name}\b", text), f"{policy} reads {name}"


@pytest.mark.parametrize("data", DATA, ids=[path.stem for path in DATA])
@pytest.mark.parametrize("plan", PLANS, ids=[path.stem for path in PLANS])
def test_unread_fields_change_no_decision(plan: Path, data: Path, catalog: Catalog) -> None:
    config = load_config(data, catalog)
    document = normalize_plan(load_plan(plan), config, catalog, source=str(plan))
    add_check_facts(document, config, catalog, CheckOptions(requestor=("alice", "flag")))
    engine = RegorusEngine()
    declarations = config.model_dump(mode="json")
    full = engine.evaluate(document.model_dump(mode="json"), declarations)
    assert _sorted(engine.evaluate(engine_input(document), declarations)) == _sorted(full)
