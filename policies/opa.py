"""The ``opa`` engine: our policies evaluated by an OPA server, through opa-python-client.

The server must already contain our policies, loaded from the bundle that
``quotaform policy bundle`` writes (``opa run --server bundle.tar.gz``, or a
bundle service). quotaform never writes policies or data to the server.
Central OPA servers usually load them from bundles, and the REST API may not
change a bundle's roots. Besides, two checks that pushed different data
documents to one server at the same time could each be decided on the other's
data.

Before the first evaluation the engine confirms, with the Data API:

- ``GET /v1/data/quotaform/policy_bundle/policies_digest`` equals the digest of
  this quotaform's policies, so the server runs the same rules;
- ``GET /v1/data/quotaform/<key>`` equals each top-level key of the data
  document given to ``check --data``, so the server decides on the same
  declarations that the quota table and the enforcement levels come from.

It then sends the normalized input once, ``POST /v1/data/quotaform/rules``, and
reads every rule's ``deny`` set from the result. It fails closed: a connection
error, a timeout, an HTTP error, a response that is not JSON, an undefined or
malformed result, or a server whose policies or data differ raises
``ExecutionError`` naming the URL and the fix.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any
from urllib.parse import urlsplit

import orjson
import requests
from opa_client import OpaClient
from opa_client.errors import PolicyNotFoundError

from cdk.errors import ExecutionError, InputError
from policies.bundle import STATUS_ROOT, policies_digest
from policies.engine import (
    DEFAULT_OPA_TIMEOUT_SECONDS,
    PolicyInputJson,
    RuleInfo,
    checked_deny,
    index_rules,
    policy_files,
)

logger = logging.getLogger(__name__)

TOKEN_VARIABLE = "QUOTAFORM_OPA_TOKEN"
RULES_PATH = "quotaform/rules"

_BUNDLE_HINT = ("build the bundle with 'quotaform policy bundle -o bundle.tar.gz --data "
                "quotaform.json' and load it into the server (opa run --server bundle.tar.gz)")


class OpaEngine:
    """Evaluates our rules on an OPA server at ``url``, such as ``http://127.0.0.1:8181``.

    ``timeout`` is in seconds per HTTP attempt; opa-python-client retries a
    failed connection and an HTTP 500, 502 or 504 to a GET twice. A bearer token
    for the server is read from the environment variable ``QUOTAFORM_OPA_TOKEN``.
    """

    name = "opa"

    def __init__(self, url: str, *, policies: list[tuple[str, str]] | None = None,
                 timeout: float = DEFAULT_OPA_TIMEOUT_SECONDS):
        self.url = url.rstrip("/")
        self._policies = policy_files() if policies is None else policies
        self._rules = index_rules(self._policies)
        self._digest = policies_digest(self._policies)
        self._timeout = timeout
        if timeout <= 0:
            raise InputError(f"--opa-timeout: {timeout} is not a positive number of seconds")
        self._client = _client(self.url, self._timeout)
        self._policies_verified = False
        self._verified_data: bytes | None = None

    def rules(self) -> dict[str, RuleInfo]:
        return dict(self._rules)

    def evaluate(self, policy_input: PolicyInputJson, data: dict[str, Any]) -> list[dict[str, Any]]:
        started = time.perf_counter()
        self._verify_policies()
        self._verify_data(data)

        if isinstance(policy_input, str):
            # The HTTP client encodes the request body from a document.
            policy_input = orjson.loads(policy_input)
        result = self._post(RULES_PATH, policy_input)
        if not isinstance(result, dict):
            raise ExecutionError(
                f"the OPA server at {self.url} returned a {type(result).__name__} for "
                f"data.quotaform.rules, not the object of rule packages; {_BUNDLE_HINT}"
            )
        violations: list[dict[str, Any]] = []
        for info in self._rules.values():
            package = result.get(info.package.rsplit(".", 1)[-1])
            if not isinstance(package, dict) or "deny" not in package:
                raise ExecutionError(
                    f"the OPA server at {self.url} returned no deny set for rule {info.id} "
                    f"({info.package}.deny); {_BUNDLE_HINT}"
                )
            violations += checked_deny(info, package["deny"])
        logger.info("evaluated engine=opa url=%s rules=%d violations=%d seconds=%.3f",
                    self.url, len(self._rules), len(violations), time.perf_counter() - started)
        return violations

    def _verify_policies(self) -> None:
        if self._policies_verified:
            return
        found = self._get(f"{STATUS_ROOT}/policies_digest")
        if found is _UNDEFINED:
            raise ExecutionError(
                f"the OPA server at {self.url} has no quotaform policies "
                f"(data.{STATUS_ROOT.replace('/', '.')} is undefined); {_BUNDLE_HINT}"
            )
        if found != self._digest:
            raise ExecutionError(
                f"the OPA server at {self.url} has other quotaform policies than this "
                f"quotaform ({found} on the server, {self._digest} here); rebuild the bundle "
                "with this quotaform version ('quotaform policy bundle') and reload the server"
            )
        self._policies_verified = True

    def _verify_data(self, data: dict[str, Any]) -> None:
        canonical = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
        if canonical == self._verified_data:
            return
        for key, expected in data.items():
            found = self._get(f"quotaform/{key}")
            if found is _UNDEFINED:
                raise ExecutionError(
                    f"the OPA server at {self.url} has no data.quotaform.{key}; {_BUNDLE_HINT}"
                )
            difference = first_difference(expected, found, f"data.quotaform.{key}")
            if difference is not None:
                raise ExecutionError(
                    f"the OPA server at {self.url} has other declarations than the --data "
                    f"document: {difference}; rebuild the bundle from this data document "
                    "('quotaform policy bundle --data FILE') and reload the server, or check "
                    "with the --data document the server was built from"
                )
        self._verified_data = canonical

    def _get(self, path: str) -> Any:
        try:
            return self._client.get_data(path)["result"]
        except PolicyNotFoundError as exc:
            # The client raises this for an undefined document (HTTP 200 without
            # a result) and for an error response that carries OPA's code.
            if exc.expression == "PolicyNotFoundError":
                return _UNDEFINED
            raise ExecutionError(
                f"the OPA server at {self.url} failed GET /v1/data/{path}: "
                f"{exc.expression}: {exc.message}; check the server's log"
            ) from exc
        except (requests.exceptions.RequestException, ValueError) as exc:
            raise self._request_failed("GET", path, exc) from exc

    def _post(self, path: str, policy_input: dict[str, Any]) -> Any:
        try:
            body = self._client.query_rule(input_data=policy_input,
                                           package_path=path.replace("/", "."))
        except (requests.exceptions.RequestException, ValueError) as exc:
            raise self._request_failed("POST", path, exc) from exc
        if not isinstance(body, dict):
            raise ExecutionError(
                f"the OPA server at {self.url} answered POST /v1/data/{path} with a JSON "
                f"{type(body).__name__}, not an object; check that --opa-url is OPA's address"
            )
        if "result" not in body:
            raise ExecutionError(
                f"the OPA server at {self.url} returned no result for data."
                f"{path.replace('/', '.')}: the quotaform rules are not loaded; {_BUNDLE_HINT}"
            )
        return body["result"]

    def _request_failed(self, method: str, path: str, error: Exception) -> ExecutionError:
        where = f"{method} {self.url}/v1/data/{path}"
        # A GET that timed out on every retry surfaces as a ConnectionError.
        timed_out = "timed out" in _reason(error).lower()
        if isinstance(error, requests.exceptions.Timeout) or timed_out:
            return ExecutionError(
                f"the OPA server did not answer {where} within {self._timeout:g} s; check "
                "the server's load, or allow more time with --opa-timeout SECONDS"
            )
        if isinstance(error, requests.exceptions.ConnectionError):
            return ExecutionError(
                f"could not connect to the OPA server for {where} ({_reason(error)}); check "
                "that OPA is running there (opa run --server bundle.tar.gz) and that "
                "--opa-url is right"
            )
        if isinstance(error, requests.exceptions.HTTPError) and error.response is not None:
            return ExecutionError(
                f"the OPA server answered {where} with HTTP {error.response.status_code}: "
                f"{_opa_message(error.response)}; check the server's log"
            )
        if isinstance(error, ValueError):
            return ExecutionError(
                f"the OPA server's answer to {where} is not valid JSON; check that "
                "--opa-url is the address of OPA's REST API"
            )
        return ExecutionError(f"{where} failed: {error}; check --opa-url and the server")


class _Undefined:
    """The value of an OPA document that does not exist."""


_UNDEFINED = _Undefined()


def _client(url: str, timeout: float) -> OpaClient:
    """Create an ``OpaClient`` for ``url``; a path in the URL is kept as a prefix of /v1."""
    parts = urlsplit(url)
    example = "such as http://127.0.0.1:8181"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"--opa-url {url!r}: expected an http:// or https:// URL with a "
                         f"host, {example}")
    if parts.query or parts.fragment or parts.username:
        raise InputError(f"--opa-url {url!r}: remove the query, fragment or user name; "
                         f"pass the server's base URL, {example}, and a token in "
                         f"{TOKEN_VARIABLE}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise InputError(f"--opa-url {url!r}: invalid port; {example}") from exc

    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    prefix = parts.path.strip("/")
    return OpaClient(
        host=host,
        port=port,
        ssl=parts.scheme == "https",
        version=f"{prefix}/v1" if prefix else "v1",
        timeout=timeout,
        token=os.environ.get(TOKEN_VARIABLE) or None,
    )


def _reason(error: Exception) -> str:
    """Return the innermost cause of a connection error, such as 'Connection refused'."""
    while error.__cause__ is not None or error.__context__ is not None:
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    text = str(error)
    return text.rsplit("] ", 1)[-1] if "] " in text else text or type(error).__name__


def _opa_message(response: requests.Response) -> str:
    """Return OPA's error code and message from an error response, or its first bytes."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or "(empty body)"
    if isinstance(body, dict) and "message" in body:
        return f"{body.get('code', 'error')}: {body['message']}"
    return response.text[:200]


def first_difference(expected: Any, found: Any, path: str) -> str | None:
    """Describe the first place where ``found`` (the server's) differs from ``expected``."""
    if isinstance(expected, dict) and isinstance(found, dict):
        for key in sorted(set(expected) | set(found)):
            if key not in found:
                return f"{path}.{key} is missing on the server"
            if key not in expected:
                return f"{path}.{key} is on the server but not in the --data document"
            difference = first_difference(expected[key], found[key], f"{path}.{key}")
            if difference is not None:
                return difference
        return None
    if isinstance(expected, list) and isinstance(found, list):
        if len(expected) != len(found):
            return (f"{path} has {len(found)} items on the server and {len(expected)} in the "
                    "--data document")
        for index, (left, right) in enumerate(zip(expected, found, strict=True)):
            difference = first_difference(left, right, f"{path}[{index}]")
            if difference is not None:
                return difference
        return None
    # bool is a subclass of int in Python, so True == 1 must not count as equal.
    if type(expected) is bool or type(found) is bool:
        same = type(expected) is type(found) and expected == found
    else:
        same = expected == found
    if same:
        return None
    return (f"{path} is {orjson.dumps(found).decode()[:80]} on the server and "
            f"{orjson.dumps(expected).decode()[:80]} in the --data document")
