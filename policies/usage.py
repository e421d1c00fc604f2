"""The usage document: per-pool usage outside the plan, read from a file and added to a check.

``quotaform usage`` writes it from the live account (``policies.live_usage``),
and ``quotaform check --usage FILE`` adds it to the prior state of the plan. A
resource of the document that the plan manages is skipped, because the plan
counts it already. The plan manages it when it names the resource's instance
id, group name, DB identifier or ARN. So the document may cover the whole account.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from cdk.errors import InputError
from policies.documents import USAGE_VERSION, UsageDocument
from policies.plan import identify_document, prior_state_resources, read_input_file
from policies.pools import ExternalPool, add_counts

logger = logging.getLogger(__name__)

_USAGE_HINT = "write it with 'quotaform usage --data quotaform.json -o usage.json'"
# Fields of the counted resource types that contain an id a usage document records.
_ID_FIELDS = ("id", "arn", "identifier", "resource_id")


def load_usage(path: Path) -> UsageDocument:
    """Read and validate a usage document; every failure is an ``InputError``."""
    raw = read_input_file(path, expected="the usage document that 'quotaform usage' writes",
                          hint=_USAGE_HINT)
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON at line {exc.lineno}, column {exc.colno} "
                         f"({exc.msg}); {_USAGE_HINT}") from exc
    return parse_usage(document, str(path))


def parse_usage(document: object, source: str) -> UsageDocument:
    """Validate a decoded usage document, naming the file and the field of each problem."""
    if not isinstance(document, dict):
        raise InputError(f"{source}: expected a JSON object with 'version' and 'pools', found "
                         f"a {type(document).__name__}; {_USAGE_HINT}")
    kind = identify_document(document)
    if kind is not None and kind != "usage":
        raise InputError(f"{source}: this looks like {_KIND_NAMES[kind]}, not a usage "
                         f"document; {_USAGE_HINT}")
    version = document.get("version")
    if isinstance(version, int) and version > USAGE_VERSION:
        raise InputError(f"{source}: usage document version {version} is newer than this "
                         f"quotaform reads ({USAGE_VERSION}); upgrade quotaform or write the "
                         "document again with this version's 'quotaform usage'")
    try:
        return UsageDocument.model_validate(document)
    except ValidationError as exc:
        lines = [f"{source}: invalid usage document; {_USAGE_HINT}"]
        for item in exc.errors():
            where = ".".join(str(part) for part in item["loc"])
            lines.append(f"  {where}: {item['msg'].removeprefix('Value error, ')}")
        raise InputError("\n".join(lines)) from exc


_KIND_NAMES = {
    "plan": "a Terraform plan (pass it as the plan argument)",
    "state": "a Terraform state",
    "data": "a quotaform.json data document (pass it with --data)",
    "decision": "the JSON output of 'quotaform check'",
}


def managed_ids(plan: dict[str, Any], types: Iterable[str]) -> set[str]:
    """Return every id, ARN and identifier the plan gives to a resource of ``types``."""
    counted_types = set(types)
    found: set[str] = set()
    sides: list[dict[str, Any]] = []
    for change in plan.get("resource_changes") or []:
        if change.get("type") in counted_types:
            body = change.get("change") or {}
            sides += [body.get("before") or {}, body.get("after") or {}]
    for resource in prior_state_resources(plan).values():
        if resource.get("type") in counted_types:
            sides.append(resource.get("values") or {})
    for values in sides:
        found.update(value for name in _ID_FIELDS
                     if isinstance(value := values.get(name), str) and value)
    return found


def external_usage(document: UsageDocument, managed: set[str],
                   source: str) -> dict[str, ExternalPool]:
    """Return each pool's usage outside the plan, skipping the resources the plan manages."""
    pools: dict[str, ExternalPool] = {}
    skipped = 0
    for name, record in document.pools.items():
        pool = ExternalPool(team=record.team)
        if not record.resources:
            pool.usage = record.usage.model_copy()
        for resource in record.resources:
            if managed.intersection(resource.ids):
                skipped += 1
                continue
            pool.usage.add(resource.usage)
            add_counts(pool.uncounted, dict.fromkeys(resource.uncounted, 1))
        pools[name] = pool
    if skipped:
        logger.info("usage document %s: skipped %d resources that the plan manages",
                    source, skipped)
    return pools
