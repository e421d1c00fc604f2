"""The rules beside the quotas, through ``check_plan``: sizes, regions, tags, access and cost.

Prices are the us-east-1 on-demand Linux figures of the shipped catalog data
(c5.large 0.085, c5.xlarge 0.17, m5.xlarge 0.192 USD an hour), times 730 hours,
worked out by hand: c5.large 62.05, c5.xlarge 124.10, m5.xlarge 140.16 USD a month.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from cdk.model import ResourceConfig
from policies import check_plan
from policies.documents import Decision
from policies.gate import CheckOptions
from provider_bridge import Catalog

CHECK = Path(__file__).resolve().parent / "fixtures" / "check"

DATA_TAGS = {"quotaform:pool": "batch", "quotaform:team": "data"}


def _config(catalog: Catalog, *, teams: list[dict[str, Any]] | None = None,
            pools: dict[str, dict[str, Any]] | None = None, **allocation: Any) -> ResourceConfig:
    """Return the fixture platform with allocation fields replaced and pools updated."""
    document = json.loads((CHECK / "platform.json").read_text())
    for pool in document["allocation"]["pools"]:
        pool.update((pools or {}).get(pool["name"], {}))
    if teams is not None:
        document["allocation"]["teams"] = teams
    document["allocation"].update(allocation)
    return ResourceConfig.model_validate(document, context={"catalog": catalog})


def _plan(*changes: dict[str, Any], region: str | None = "us-east-1") -> dict[str, Any]:
    providers = {}
    if region is not None:
        providers = {"aws": {"name": "aws",
                             "expressions": {"region": {"constant_value": region}}}}
    return {
        "format_version": "1.2",
        "terraform_version": "1.9.5",
        "resource_changes": list(changes),
        "configuration": {"provider_config": providers, "root_module": {}},
    }


def _change(address: str, kind: str, actions: list[str], before: dict[str, Any] | None,
            after: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "address": address, "mode": "managed", "type": kind,
        "name": address.rsplit(".", 1)[-1].split("[")[0],
        "change": {"actions": actions, "before": before, "after": after, "after_unknown": {}},
    }


def _instance(address: str, instance_type: str, tags: dict[str, str], *,
              actions: tuple[str, ...] = ("create",),
              before_type: str | None = None) -> dict[str, Any]:
    before = None
    if actions != ("create",):
        before = {"instance_type": before_type or instance_type, "tags": tags}
    after = None if actions == ("delete",) else {"instance_type": instance_type, "tags": tags}
    return _change(address, "aws_instance", list(actions), before, after)


def _rules(findings: list) -> list[tuple[str, str]]:
    return [(item.rule, item.message) for item in findings]


def _check(plan: dict[str, Any], config: ResourceConfig, catalog: Catalog,
           **options: Any) -> Decision:
    return check_plan(plan, config, catalog, options=CheckOptions(**options))


# Maximum instance size


def test_max_instance_vcpu_denies_larger_type(catalog: Catalog) -> None:
    config = _config(catalog, pools={"batch": {"max_instance_vcpu": 4}})
    plan = _plan(_instance("aws_instance.batch", "c5.2xlarge", DATA_TAGS))
    decision = _check(plan, config, catalog)
    assert _rules(decision.violations) == [(
        "max-instance-size",
        "aws_instance.batch uses instance type 'c5.2xlarge' with 8 vCPU, more than pool 'batch' "
        "allows per instance (max_instance_vcpu = 4); choose a smaller type or raise the limit",
    )]
    assert decision.violations[0].address == "aws_instance.batch"


def test_max_instance_memory_allows_equal_size(catalog: Catalog) -> None:
    # c5.xlarge has 8 GiB of memory, exactly the limit.
    config = _config(catalog, pools={"batch": {"max_instance_memory_gib": 8}})
    decision = _check(_plan(_instance("aws_instance.batch", "c5.xlarge", DATA_TAGS)), config,
                      catalog)
    assert decision.allowed is True
    assert decision.violations == []


def test_pool_type_over_its_own_limit_is_invalid(catalog: Catalog) -> None:
    with pytest.raises(ValidationError) as error:
        _config(catalog, pools={"api": {"max_instance_vcpu": 2}})
    assert ("allocation.pools[0] (api): instance type 'm5.xlarge' has 4 vCPU, more than "
            "max_instance_vcpu 2; choose a smaller type or raise the limit") in str(error.value)


# Allowed regions


def test_region_outside_allowed_list_denied(catalog: Catalog) -> None:
    config = _config(catalog, allowed_regions=["us-east-1"])
    bucket = _change("aws_s3_bucket.logs", "aws_s3_bucket", ["create"], None, {"tags": {}})
    decision = _check(_plan(bucket, region="ap-south-1"), config, catalog)
    assert _rules(decision.violations) == [(
        "allowed-regions",
        "aws_s3_bucket.logs is in region 'ap-south-1', which is not allowed (allowed: "
        "us-east-1); move it to an allowed region or add the region to "
        "allocation.allowed_regions",
    )]


def test_unknown_region_denied_when_restricted(catalog: Catalog) -> None:
    config = _config(catalog, allowed_regions=["us-east-1"])
    queue = _change("aws_sqs_queue.jobs", "aws_sqs_queue", ["create"], None, {"tags": {}})
    decision = _check(_plan(queue, region=None), config, catalog)
    assert [item.rule for item in decision.violations] == ["allowed-regions"]
    assert "has no region known at plan time" in decision.violations[0].message


def test_pool_resource_in_other_region_denied(catalog: Catalog) -> None:
    decision = _check(_plan(_instance("aws_instance.batch", "c5.xlarge", DATA_TAGS),
                            region="eu-west-1"), _config(catalog), catalog)
    assert _rules(decision.violations) == [(
        "allowed-regions",
        "aws_instance.batch is in region 'eu-west-1', but its pool 'batch' is declared in "
        "'us-east-1'; create it in the pool's region or declare a pool for that region",
    )]


def test_pool_region_must_be_allowed(catalog: Catalog) -> None:
    with pytest.raises(ValidationError) as error:
        _config(catalog, allowed_regions=["eu-west-1"])
    assert ("allocation.pools[0] (api).region: 'us-east-1' is not one of "
            "allocation.allowed_regions (eu-west-1); move the pool or allow its region"
            ) in str(error.value)


# Tag values


def test_undeclared_team_tag_denied(catalog: Catalog) -> None:
    tags = {"quotaform:pool": "batch", "quotaform:team": "analytics"}
    decision = _check(_plan(_instance("aws_instance.batch", "c5.xlarge", tags)),
                      _config(catalog), catalog)
    assert _rules(decision.violations) == [
        ("allowed-tag-values",
         "aws_instance.batch has tag quotaform:team = 'analytics', which is not a declared team "
         "(declared: data, payments); fix the tag or declare the team in allocation.teams"),
        ("allowed-tag-values",
         "aws_instance.batch is tagged for team 'analytics', but its pool 'batch' belongs to "
         "team 'data'; tag it quotaform:team = 'data'"),
    ]


def test_undeclared_pool_tag_denied(catalog: Catalog) -> None:
    bucket = _change("aws_s3_bucket.logs", "aws_s3_bucket", ["create"], None,
                     {"tags": {"quotaform:pool": "logs", "quotaform:team": "data"}})
    decision = _check(_plan(bucket), _config(catalog), catalog)
    assert _rules(decision.violations) == [(
        "allowed-tag-values",
        "aws_s3_bucket.logs has tag quotaform:pool = 'logs', which is not a declared pool "
        "(declared: api, batch, etl, reporting); fix the tag or declare the pool in "
        "allocation.pools",
    )]


def test_declared_allowed_tag_values(catalog: Catalog) -> None:
    config = _config(catalog, allowed_tag_values={"env": ["prod", "staging"]})
    good = _instance("aws_instance.good", "c5.xlarge", {**DATA_TAGS, "env": "prod"})
    bad = _instance("aws_instance.bad", "c5.xlarge", {**DATA_TAGS, "env": "dev"})
    decision = _check(_plan(good, bad), config, catalog)
    assert _rules(decision.violations) == [(
        "allowed-tag-values",
        "aws_instance.bad has tag env = 'dev', which is not allowed (allowed: prod, staging); "
        "use an allowed value or extend allocation.allowed_tag_values",
    )]


@pytest.mark.parametrize(("values", "expected"), [
    ({"quotaform:team": ["data"]},
     "'quotaform:team' takes the declared team names; remove it from allowed_tag_values"),
    ({"env": []}, "tag 'env' lists no allowed values; list some or remove it"),
], ids=["reserved-key", "empty-list"])
def test_allowed_tag_values_validation(catalog: Catalog, values: dict[str, list[str]],
                                       expected: str) -> None:
    with pytest.raises(ValidationError) as error:
        _config(catalog, allowed_tag_values=values)
    assert expected in str(error.value)


# Access


MEMBERS = [
    {"name": "payments", "members": ["Alice"]},
    {"name": "data", "members": ["bob"]},
]


def test_access_denies_pool_of_other_team(catalog: Catalog) -> None:
    config = _config(catalog, teams=MEMBERS)
    plan = _plan(_instance("aws_instance.batch", "c5.xlarge", DATA_TAGS))
    decision = _check(plan, config, catalog, requestor=("alice", "github-actions"))
    assert _rules(decision.violations) == [(
        "pool-access",
        "alice (member of payments) may not change pool 'batch', which is open to teams data; "
        "the plan changes aws_instance.batch. Add them to a team with access or grant access "
        "in allocation.access",
    )]
    assert decision.requestor is not None
    assert decision.requestor.teams == ["payments"]
    assert decision.requestor.source == "github-actions"


def test_access_allows_owner_and_grants(catalog: Catalog) -> None:
    config = _config(catalog, teams=MEMBERS, access=[
        {"team": "payments", "pools": ["batch"]},
        {"team": "data", "pools": ["etl"], "principals": ["carol"]},
    ])
    plan = _plan(_instance("aws_instance.batch", "c5.xlarge", DATA_TAGS))
    for name in ("bob", "ALICE"):
        decision = _check(plan, config, catalog, requestor=(name, "flag"))
        assert decision.allowed is True, name
    etl = _plan(_instance("aws_instance.etl", "c5.large",
                          {"quotaform:pool": "etl", "quotaform:team": "data"}))
    assert _check(etl, config, catalog, requestor=("Carol", "flag")).allowed is True
    assert _check(plan, config, catalog, requestor=("Carol", "flag")).allowed is False


def test_access_checks_deletes(catalog: Catalog) -> None:
    config = _config(catalog, teams=MEMBERS)
    plan = _plan(_instance("aws_instance.batch", "c5.xlarge", DATA_TAGS, actions=("delete",)))
    decision = _check(plan, config, catalog, requestor=("alice", "flag"))
    assert [item.rule for item in decision.violations] == ["pool-access"]


def test_unknown_requestor_warns_by_default(catalog: Catalog) -> None:
    config = _config(catalog, teams=MEMBERS)
    decision = _check(_plan(_instance("aws_instance.batch", "c5.xlarge", DATA_TAGS)), config,
                      catalog)
    assert decision.allowed is True
    assert _rules(decision.warnings) == [(
        "unknown-requestor",
        "no requestor is known, so access to pools batch was not checked; pass --requestor "
        "NAME, or run in GitHub Actions (GITHUB_ACTOR) or GitLab CI (GITLAB_USER_LOGIN)",
    )]
    assert decision.warnings[0].enforcement == "advisory"


def test_unknown_requestor_can_be_mandatory(catalog: Catalog) -> None:
    config = _config(catalog, teams=MEMBERS, policies=[
        {"rule": "unknown-requestor", "enforcement": "hard-mandatory"}])
    decision = _check(_plan(_instance("aws_instance.batch", "c5.xlarge", DATA_TAGS)), config,
                      catalog)
    assert [item.rule for item in decision.violations] == ["unknown-requestor"]


def test_access_not_checked_without_declarations(catalog: Catalog) -> None:
    plan = _plan(_instance("aws_instance.batch", "c5.xlarge", DATA_TAGS))
    decision = _check(plan, _config(catalog), catalog, requestor=("mallory", "flag"))
    assert decision.allowed is True
    assert decision.warnings == []


# Cost


def test_cost_delta_in_decision(catalog: Catalog) -> None:
    plan = _plan(
        _instance("aws_instance.batch[0]", "c5.xlarge", DATA_TAGS),
        _instance("aws_instance.batch[1]", "c5.xlarge", DATA_TAGS, actions=("update",),
                  before_type="c5.large"),
        _instance("aws_instance.old", "c5.large", DATA_TAGS, actions=("delete",)),
        _instance("aws_instance.same", "c5.large", DATA_TAGS, actions=("no-op",)),
    )
    cost = _check(plan, _config(catalog), catalog).cost
    assert cost is not None
    # Before: 3 x c5.large = 186.15; after: 2 x c5.xlarge + 1 c5.large = 310.25.
    assert cost.before_usd == pytest.approx(186.15)
    assert cost.after_usd == pytest.approx(310.25)
    assert cost.delta_usd == pytest.approx(124.10)
    assert cost.hours_per_month == 730
    assert cost.budget_usd is None
    assert [(line.address, line.delta_usd) for line in cost.resources] == [
        ("aws_instance.batch[0]", pytest.approx(124.10)),
        ("aws_instance.batch[1]", pytest.approx(62.05)),
        ("aws_instance.old", pytest.approx(-62.05)),
    ]


def test_budget_from_model_denies(catalog: Catalog) -> None:
    config = _config(catalog, max_monthly_cost_delta_usd=100)
    # The smaller increase comes first in the plan, the larger first in the message.
    plan = _plan(_instance("aws_instance.etl", "c5.large",
                           {"quotaform:pool": "etl", "quotaform:team": "data"}),
                 _instance("aws_instance.batch", "c5.xlarge", DATA_TAGS))
    decision = _check(plan, config, catalog)
    assert _rules(decision.violations) == [(
        "monthly-cost-budget",
        "this plan raises the on-demand cost by 186.15 USD a month (0.00 -> 186.15), over the "
        "budget of 100.00 USD per plan (+86.15); largest increases: aws_instance.batch +124.10, "
        "aws_instance.etl +62.05; make the change smaller or raise the budget (--budget or "
        "allocation.max_monthly_cost_delta_usd)",
    )]


def test_budget_flag_replaces_model_budget(catalog: Catalog) -> None:
    config = _config(catalog, max_monthly_cost_delta_usd=100)
    plan = _plan(_instance("aws_instance.batch", "c5.xlarge", DATA_TAGS))
    decision = _check(plan, config, catalog, budget_usd=200)
    assert decision.allowed is True
    assert decision.cost is not None
    assert decision.cost.budget_usd == 200


def test_unpriced_resource_warns_under_budget(catalog: Catalog) -> None:
    config = _config(catalog, required_tags=[])
    gpu = _instance("aws_instance.gpu", "x9.huge", {})
    decision = _check(_plan(gpu), config, catalog, budget_usd=50)
    assert decision.cost is not None
    assert [(item.address, item.reason) for item in decision.cost.unpriced] == [
        ("aws_instance.gpu", "instance type 'x9.huge' is not in the instance catalog")]
    assert decision.cost.delta_usd == 0
    assert _rules(decision.warnings) == [(
        "unpriced-cost",
        "aws_instance.gpu is left out of the monthly cost delta: instance type 'x9.huge' is not "
        "in the instance catalog; the cost budget does not cover it",
    )]


def test_unpriced_resource_of_same_size_not_listed(catalog: Catalog) -> None:
    config = _config(catalog, required_tags=[])
    gpu = _instance("aws_instance.gpu", "x9.huge", {}, actions=("update",))
    decision = _check(_plan(gpu), config, catalog, budget_usd=50)
    assert decision.cost is not None
    assert decision.cost.unpriced == []
    assert decision.warnings == []


def test_unpriced_resource_silent_without_budget(catalog: Catalog) -> None:
    config = _config(catalog, required_tags=[])
    decision = _check(_plan(_instance("aws_instance.gpu", "x9.huge", {})), config, catalog)
    assert decision.allowed is True
    assert decision.warnings == []
