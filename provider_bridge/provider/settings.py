"""The provider configuration block: its values, their checks and the model it names.

Terraform sends the ``provider "quotaform"`` block as a dict whose unset
attributes are None and whose values not yet known are ``tf.types.Unknown``.
Checks skip unknown values: Terraform validates the block again once they
are known.
"""

from __future__ import annotations

import os
import re
import threading
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provider_bridge.provider.diagnostics import ProviderError
from provider_bridge.provider.redaction import redact

DEFAULT_REGION = "us-east-1"
DEFAULT_SESSION_NAME = "quotaform-provider"
CONFIG_VARIABLE = "QUOTAFORM_CONFIG"
CONFIG_FETCH_TIMEOUT_SECONDS = 30

_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_SESSION_NAME = re.compile(r"^[\w+=,.@-]{2,64}$")


@dataclass(frozen=True)
class AssumeRole:
    """The role the provider assumes with STS before any other AWS call."""

    role_arn: str
    session_name: str = DEFAULT_SESSION_NAME
    external_id: str | None = field(default=None, repr=False)


@dataclass
class ProviderSettings:
    """The checked provider configuration, and the model it loads on first use."""

    region: str = DEFAULT_REGION
    profile: str | None = None
    assume_role: AssumeRole | None = None
    endpoint: str | None = None
    config: str | None = None
    _model: Any = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def model(self) -> Any:
        """Return the ``ResourceConfig`` that ``config`` names, loading it once."""
        with self._lock:
            if self._model is None:
                self._model = load_model(self.config)
            return self._model


def _is_unknown(value: Any) -> bool:
    from tf.types import Unknown

    return value is Unknown


def _text(config: dict[str, Any], name: str) -> str | None:
    value = config.get(name)
    if value is None or _is_unknown(value):
        return None
    if not isinstance(value, str) or not value.strip():
        raise ProviderError(
            f"Invalid provider argument {name}", f"{name} must be a non-empty string.", name
        )
    return value.strip()


def check_region(region: str, attribute: str = "region") -> str:
    """Return ``region`` if it looks like an AWS region name, else raise ``ProviderError``."""
    if not _REGION.match(region):
        raise ProviderError(
            f"Invalid {attribute} {region!r}",
            f"{attribute} must be an AWS region name such as us-east-1 or eu-west-2.",
            attribute,
        )
    return region


def check_endpoint(endpoint: str) -> str:
    """Return ``endpoint`` if it is an http(s) URL with a host, else raise ``ProviderError``."""
    parsed = urllib.parse.urlsplit(endpoint)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ProviderError(
            "Invalid endpoint",
            f"endpoint {redact(endpoint)!r} is not an http or https URL; set it to the URL of "
            "an AWS-compatible endpoint, such as http://127.0.0.1:5000 for a local moto server, "
            "or remove it to use the AWS endpoints.",
            "endpoint",
        )
    return endpoint.rstrip("/")


def _assume_role(config: dict[str, Any]) -> AssumeRole | None:
    block = config.get("assume_role")
    if isinstance(block, list):
        block = block[0] if block else None
    if not block or _is_unknown(block):
        return None
    arn = _text(block, "role_arn")
    if arn is None:
        return None
    if not _ROLE_ARN.match(arn):
        raise ProviderError(
            "Invalid assume_role.role_arn",
            f"{arn!r} is not an IAM role ARN; use the form arn:aws:iam::123456789012:role/NAME.",
            "assume_role",
        )
    session_name = _text(block, "session_name") or DEFAULT_SESSION_NAME
    if not _SESSION_NAME.match(session_name):
        raise ProviderError(
            "Invalid assume_role.session_name",
            f"{session_name!r} must be 2 to 64 letters, digits or the characters +=,.@_-.",
            "assume_role",
        )
    return AssumeRole(arn, session_name, _text(block, "external_id"))


def parse_settings(config: dict[str, Any]) -> ProviderSettings:
    """Check the provider block and return its settings, with environment fallbacks.

    The region falls back to AWS_REGION, AWS_DEFAULT_REGION and then
    us-east-1; ``config`` falls back to QUOTAFORM_CONFIG. Profile and
    endpoint fall back the way boto3 does (AWS_PROFILE, AWS_ENDPOINT_URL).
    """
    region = (
        _text(config, "region")
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or DEFAULT_REGION
    )
    endpoint = _text(config, "endpoint")
    source = _text(config, "config") or os.environ.get(CONFIG_VARIABLE) or None
    settings = ProviderSettings(
        region=check_region(region),
        profile=_text(config, "profile"),
        assume_role=_assume_role(config),
        endpoint=check_endpoint(endpoint) if endpoint else None,
        config=source,
    )
    if source is not None:
        check_config_source(source)
    return settings


def is_url(source: str) -> bool:
    return source.split("://", 1)[0].lower() in ("http", "https") and "://" in source


def check_config_source(source: str) -> None:
    """Reject a ``config`` value that can never be read: a missing file or another scheme."""
    if "://" in source and not is_url(source):
        raise ProviderError(
            "Invalid config",
            f"config {redact(source)!r} is neither a file path nor an http or https URL; set it "
            "to the quotaform.json that 'quotaform synth' writes.",
            "config",
        )
    if not is_url(source) and not Path(source).is_file():
        raise ProviderError(
            "quotaform configuration file not found",
            f"config {source!r} does not exist (relative paths start at the folder terraform "
            f"runs in, {os.getcwd()}); run 'quotaform synth APP.py' to write quotaform.json, "
            'or set config = "${path.module}/quotaform.json".',
            "config",
        )


def load_model(source: str | None) -> Any:
    """Read and validate the quotaform.json that ``source`` names (a path or a URL)."""
    if source is None:
        raise ProviderError(
            "No quotaform configuration",
            "This data source needs the declared pools and quotas. Set config in the "
            "provider \"quotaform\" block to the quotaform.json that 'quotaform synth' writes "
            f"(a path or an http(s) URL), or set the {CONFIG_VARIABLE} environment variable.",
            "config",
        )
    from cdk.model import describe_validation_error, load_config, validate_config
    from provider_bridge.catalog import load_catalog

    catalog = load_catalog()
    if not is_url(source):
        return load_config(Path(source), catalog)

    import orjson
    from pydantic import ValidationError

    document = _fetch(source)
    shown = redact(source)
    try:
        parsed = orjson.loads(document)
    except orjson.JSONDecodeError as exc:
        raise ProviderError(
            "Invalid quotaform configuration",
            f"{shown} returned invalid JSON ({exc}); serve the quotaform.json "
            "that 'quotaform synth' writes.",
            "config",
        ) from exc
    if not isinstance(parsed, dict):
        raise ProviderError(
            "Invalid quotaform configuration",
            f"{shown} returned JSON that is not an object; serve the "
            "quotaform.json that 'quotaform synth' writes.",
            "config",
        )
    try:
        return validate_config(parsed, catalog)
    except ValidationError as exc:
        raise ProviderError(
            "Invalid quotaform configuration", describe_validation_error(exc, shown), "config"
        ) from exc


def _fetch(url: str) -> bytes:
    import urllib.error
    import urllib.request

    shown = redact(url)
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=CONFIG_FETCH_TIMEOUT_SECONDS) as response:
            return response.read()
    except urllib.error.HTTPError as exc:
        raise ProviderError(
            "Could not fetch the quotaform configuration",
            f"GET {shown} returned HTTP {exc.code} {exc.reason}; check the config URL.",
            "config",
        ) from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ProviderError(
            "Could not fetch the quotaform configuration",
            f"GET {shown} failed ({reason}); check that the server is reachable from the "
            "machine running terraform, or point config at a local file.",
            "config",
        ) from exc
