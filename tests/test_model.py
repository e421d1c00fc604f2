"""The ResourceConfig model: what a valid document contains and how invalid ones are rejected.

Every rejection is checked through the message a user reads: the field path
and the reason, rendered by ``describe_validation_error`` or ``load_config``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from cdk.errors import InputError
from cdk.model import (
    ResourceConfig,
    describe_validation_error,
    load_config,
    validate_config,
)
from provider_bridge import Catalog


def _document() -> dict[str, Any]:
    """Return a small valid document: two teams, three pools, two quotas, one access grant."""
    return {
        "version": 1,
        "allocation": {
            "teams": [
                {"name": "payments", "contacts": ["payments@example.com"]},
                {"name": "data"},
            ],
            "pools": [
                {"name": "api", "kind": "asg", "team": "payments", "instance_type": "m5.xlarge",
                 "min_size": 2, "max_size": 4, "allowed_families": ["m5", "m6i"]},
                {"name": "batch", "kind": "instances", "team": "data", "parent": "api",
                 "instance_type": "c5.xlarge", "count": 3,
                 "allowed_instance_types": ["c5.large", "c5.xlarge"]},
                {"name": "orders", "kind": "db", "team": "data", "instance_type": "db.m5.large"},
            ],
            "quotas": [
                {"target": "api", "max_vcpu": 16, "max_instances": 4},
                {"scope": "team", "target": "data", "max_monthly_cost_usd": 900.5},
            ],
            "access": [{"team": "data", "pools": ["batch"], "principals": ["ci-bot"]}],
            "waivers": [{"rule": "pool-vcpu-quota", "pool": "api", "owner": "payments@example.com",
                         "reason": "launch week", "expires": "2030-01-31"}],
        },
        "optimization": {"headroom_percent": 15},
    }


def _rejection(document: dict[str, Any], catalog: Catalog | None = None) -> str:
    """Validate ``document`` and return the message a user sees for the failure."""
    with pytest.raises(ValidationError) as caught:
        validate_config(document, catalog)
    return describe_validation_error(caught.value, "quotaform.json")


def _pool(document: dict[str, Any], index: int) -> dict[str, Any]:
    return document["allocation"]["pools"][index]


def test_valid_document_loads(catalog: Catalog) -> None:
    config = validate_config(_document(), catalog)

    assert [team.name for team in config.allocation.teams] == ["payments", "data"]
    assert config.allocation.teams[0].contacts == ["payments@example.com"]
    assert [pool.name for pool in config.allocation.pools] == ["api", "batch", "orders"]
    assert config.allocation.quotas[1].scope == "team"
    assert config.allocation.quotas[1].max_monthly_cost_usd == 900.5
    assert config.allocation.access[0].principals == ["ci-bot"]
    assert config.allocation.waivers[0].expires.isoformat() == "2030-01-31"
    assert config.optimization.headroom_percent == 15.0


def test_valid_document_fills_defaults() -> None:
    config = validate_config(_document())

    assert config.version == 1
    assert config.allocation.required_tags == ["quotaform:pool", "quotaform:team"]
    assert config.pool("orders").region == "us-east-1"
    assert config.pool("orders").count == 1
    assert config.capacity.performance.p95_cpu_percent == 70.0
    assert [(rule.name, rule.action) for rule in config.optimization.rules] == [
        ("downsize-underused", "downsize"),
        ("upsize-saturated", "upsize"),
    ]


def test_pool_instance_count_by_kind() -> None:
    config = validate_config(_document())

    assert config.pool("api").instance_count == 4  # an ASG counts its max_size
    assert config.pool("batch").instance_count == 3
    assert config.pool("orders").instance_count == 1
    assert config.pool("missing") is None


def test_document_round_trips_through_json() -> None:
    config = validate_config(_document())
    again = ResourceConfig.model_validate_json(config.model_dump_json())
    assert again == config


def test_db_class_needs_no_catalog_entry(catalog: Catalog) -> None:
    assert "db.m5.large" not in catalog
    config = validate_config(_document(), catalog)
    assert config.pool("orders").instance_type == "db.m5.large"


def test_unknown_top_level_field_rejected() -> None:
    document = _document()
    document["allocations"] = {}
    message = _rejection(document)
    assert message.splitlines() == [
        "quotaform.json: invalid declaration",
        "  allocations: Extra inputs are not permitted",
    ]


def test_unknown_pool_field_rejected() -> None:
    document = _document()
    _pool(document, 1)["instance_typ"] = "c5.large"
    message = _rejection(document)
    assert message.splitlines()[1] == (
        "  allocation.pools.1.instance_typ: Extra inputs are not permitted"
    )


def test_unknown_team_field_rejected() -> None:
    document = _document()
    document["allocation"]["teams"][1]["email"] = "data@example.com"
    message = _rejection(document)
    assert message.splitlines()[1] == "  allocation.teams.1.email: Extra inputs are not permitted"


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_vcpu", -1), ("max_instances", -4), ("max_memory_gib", -0.5),
     ("max_monthly_cost_usd", -10)],
)
def test_negative_quota_rejected(field: str, value: float) -> None:
    document = _document()
    document["allocation"]["quotas"][0][field] = value
    message = _rejection(document)
    assert message.splitlines() == [
        "quotaform.json: invalid declaration",
        f"  allocation.quotas.0.{field}: Input should be greater than or equal to 0",
    ]


def test_every_invalid_field_is_listed() -> None:
    document = _document()
    _pool(document, 0)["max_size"] = -2
    _pool(document, 1)["count"] = -1
    message = _rejection(document)
    assert message.splitlines() == [
        "quotaform.json: invalid declaration",
        "  allocation.pools.0.max_size: Input should be greater than or equal to 0",
        "  allocation.pools.1.count: Input should be greater than or equal to 0",
    ]


def test_pool_with_unknown_team_rejected() -> None:
    document = _document()
    _pool(document, 1)["team"] = "ops"
    message = _rejection(document)
    assert message.splitlines()[1] == (
        "  allocation.pools[1] (batch).team: unknown team 'ops'; declare it in "
        "allocation.teams (declared: data, payments)"
    )


def test_pool_team_message_without_teams() -> None:
    document = _document()
    document["allocation"]["teams"] = []
    document["allocation"]["access"] = []
    message = _rejection(document)
    assert "(declared: none)" in message


def test_instance_type_not_in_catalog_rejected(catalog: Catalog) -> None:
    document = _document()
    _pool(document, 1)["instance_type"] = "m5.huge"
    message = _rejection(document, catalog)
    assert message.splitlines()[1] == (
        "  allocation.pools[1] (batch): instance type 'm5.huge' is not in the instance "
        "catalog; check the spelling (for example 'm5.large')"
    )


def test_allowed_type_not_in_catalog_rejected(catalog: Catalog) -> None:
    document = _document()
    _pool(document, 1)["allowed_instance_types"] = ["c5.large", "c5.huge"]
    message = _rejection(document, catalog)
    assert "allocation.pools[1] (batch): instance type 'c5.huge' is not in" in message


def test_catalog_check_skipped_without_catalog() -> None:
    document = _document()
    _pool(document, 1)["instance_type"] = "m5.huge"
    assert validate_config(document).pool("batch").instance_type == "m5.huge"


def test_instance_type_syntax_rejected() -> None:
    document = _document()
    _pool(document, 0)["instance_type"] = "m5"
    message = _rejection(document)
    assert message.splitlines()[1] == (
        "  allocation.pools.0.instance_type: 'm5' is not an instance type name such as 'm5.large'"
    )


def test_duplicate_pool_names_rejected() -> None:
    document = _document()
    document["allocation"]["pools"].append(copy.deepcopy(_pool(document, 0)))
    message = _rejection(document)
    assert message.splitlines()[1] == "  allocation.pools: name 'api' is declared twice"


def test_duplicate_team_names_rejected() -> None:
    document = _document()
    document["allocation"]["teams"].append({"name": "data"})
    message = _rejection(document)
    assert message.splitlines()[1] == "  allocation.teams: name 'data' is declared twice"


def test_parent_cycle_rejected() -> None:
    document = _document()
    _pool(document, 0)["parent"] = "batch"  # batch already names api as its parent
    message = _rejection(document)
    assert message.splitlines()[1] == "  allocation.pools: pool 'api' is its own ancestor"


def test_pool_as_own_parent_rejected() -> None:
    document = _document()
    _pool(document, 2)["parent"] = "orders"
    message = _rejection(document)
    assert message.splitlines()[1] == "  allocation.pools: pool 'orders' is its own ancestor"


def test_unknown_parent_rejected() -> None:
    document = _document()
    _pool(document, 2)["parent"] = "warehouse"
    message = _rejection(document)
    assert message.splitlines()[1] == (
        "  allocation.pools[2] (orders).parent: unknown pool 'warehouse'"
    )


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        target = document
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_set(("allocation", "quotas", 0, "target"), "web"),
         "  allocation.quotas[0].target: unknown pool 'web'"),
        (_set(("allocation", "quotas", 1, "target"), "web"),
         "  allocation.quotas[1].target: unknown team 'web'"),
        (_set(("allocation", "access", 0, "team"), "web"),
         "  allocation.access[0].team: unknown team 'web'"),
        (_set(("allocation", "access", 0, "pools"), ["batch", "web"]),
         "  allocation.access[0].pools: unknown pool 'web'"),
        (_set(("allocation", "pools", 0, "min_size"), 5),
         "  allocation.pools.0: min_size 5 is larger than max_size 4; "
         "raise max_size or lower min_size"),
        (_set(("allocation", "pools", 0, "desired_capacity"), 9),
         "  allocation.pools.0: desired_capacity must lie between min_size and max_size"),
        (_set(("allocation", "pools", 0, "name"), "Api"),
         "  allocation.pools.0.name: String should match pattern '^[a-z][a-z0-9-]{0,62}$'"),
        (_set(("allocation", "pools", 0, "kind"), "vm"),
         "  allocation.pools.0.kind: Input should be 'asg', 'instances' or 'db'"),
        (_set(("allocation", "waivers", 0, "address"), "aws_instance.batch[0]"),
         "  allocation.waivers.0: a waiver names exactly one of 'pool', 'team' or 'address'"),
        (_set(("version",), 2), "  version: Input should be 1"),
    ],
    ids=["quota-pool", "quota-team", "access-team", "access-pool", "min-over-max",
         "desired-outside", "name-pattern", "kind", "waiver-scope", "version"],
)
def test_invalid_reference_or_value_rejected(
    change: Callable[[dict[str, Any]], None], expected: str
) -> None:
    document = _document()
    change(document)
    message = _rejection(document)
    assert message.splitlines()[1] == expected


def _write(tmp_path: Path, content: bytes) -> Path:
    path = tmp_path / "quotaform.json"
    path.write_bytes(content)
    return path


def test_load_config_reads_file(tmp_path: Path, catalog: Catalog) -> None:
    path = _write(tmp_path, json.dumps(_document()).encode())
    config = load_config(path, catalog)
    assert config.pool("api").max_size == 4


def test_load_config_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "quotaform.json"
    with pytest.raises(InputError) as caught:
        load_config(path)
    assert str(caught.value) == f"{path}: file not found; run 'quotaform synth APP.py' first"


def test_load_config_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        load_config(tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path}: could not read the file (Is a directory)")


def test_load_config_bad_json(tmp_path: Path) -> None:
    path = _write(tmp_path, b'{"allocation": {"teams": [}')
    with pytest.raises(InputError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: not valid JSON (")
    assert "line 1 column 27" in message
    assert message.endswith("pass the quotaform.json that 'quotaform synth' writes")


def test_load_config_not_an_object(tmp_path: Path) -> None:
    path = _write(tmp_path, b'[{"allocation": {}}]')
    with pytest.raises(InputError) as caught:
        load_config(path)
    assert str(caught.value) == (
        f"{path}: expected a JSON object with 'allocation', 'capacity', ..."
    )


def test_load_config_invalid_document(tmp_path: Path, catalog: Catalog) -> None:
    document = _document()
    _pool(document, 0)["instance_type"] = "m5.huge"
    _pool(document, 1)["colour"] = "blue"
    path = _write(tmp_path, json.dumps(document).encode())
    with pytest.raises(InputError) as caught:
        load_config(path, catalog)
    # Field errors stop validation before the cross-reference and catalog checks run.
    assert str(caught.value).splitlines() == [
        f"{path}: invalid declaration",
        "  allocation.pools.1.colour: Extra inputs are not permitted",
    ]


def test_load_config_catalog_error_names_file(tmp_path: Path, catalog: Catalog) -> None:
    document = _document()
    _pool(document, 0)["instance_type"] = "m5.huge"
    path = _write(tmp_path, json.dumps(document).encode())
    with pytest.raises(InputError) as caught:
        load_config(path, catalog)
    lines = str(caught.value).splitlines()
    assert lines[0] == f"{path}: invalid declaration"
    assert lines[1].startswith("  allocation.pools[0] (api): instance type 'm5.huge' is not in")
