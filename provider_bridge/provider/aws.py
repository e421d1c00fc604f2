"""AWS access for the data sources: one boto3 session per provider configuration.

boto3 is imported on the first data source read that needs AWS, never when
Terraform only starts the provider, requests its schema or calls a function.
Clients retry throttled calls in the standard mode and give up on an
unreachable endpoint after a short connect timeout, so a wrong endpoint fails
the plan within seconds instead of hanging it.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from provider_bridge.provider.diagnostics import ProviderError
from provider_bridge.provider.redaction import register_secret
from provider_bridge.provider.settings import ProviderSettings

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 60
MAX_ATTEMPTS = 4

_FIX = (
    "check the provider's region, profile, assume_role and endpoint arguments and the AWS "
    "credentials terraform runs with"
)


class AwsAccess:
    """Creates boto3 clients for one provider configuration, assuming its role once."""

    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings
        self._session: Any = None
        self._lock = threading.Lock()

    def client(self, service: str, region: str | None = None) -> Any:
        """Return a client for ``service`` in ``region`` (default: the provider's region)."""
        from botocore.config import Config

        config = Config(
            retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS},
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=READ_TIMEOUT_SECONDS,
        )
        session = self.session()
        # A boto3 session is not thread-safe, and Terraform reads data sources in parallel.
        with self._lock:
            return session.client(
                service,
                region_name=region or self.settings.region,
                endpoint_url=self.settings.endpoint,
                config=config,
            )

    def session(self) -> Any:
        """Return the boto3 session, created on first use."""
        with self._lock:
            if self._session is None:
                self._session = self._create_session()
            return self._session

    def _create_session(self) -> Any:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError

        settings = self.settings
        try:
            session = boto3.session.Session(
                profile_name=settings.profile, region_name=settings.region
            )
        except BotoCoreError as exc:
            raise ProviderError(
                "Invalid AWS profile",
                f"{exc}; set profile to a profile of your AWS config file, or remove it.",
                "profile",
            ) from exc
        _register_credentials(session)
        role = settings.assume_role
        if role is None:
            return session

        request: dict[str, Any] = {"RoleArn": role.role_arn, "RoleSessionName": role.session_name}
        if role.external_id:
            register_secret(role.external_id)
            request["ExternalId"] = role.external_id
        sts = session.client("sts", region_name=settings.region, endpoint_url=settings.endpoint)
        try:
            credentials = sts.assume_role(**request)["Credentials"]
        except (BotoCoreError, ClientError) as exc:
            raise ProviderError(
                "Could not assume the configured role",
                f"sts:AssumeRole for {role.role_arn} failed: {exc}. Check that the role's trust "
                "policy allows the credentials terraform runs with, and the external_id.",
                "assume_role",
            ) from exc
        for name in ("AccessKeyId", "SecretAccessKey", "SessionToken"):
            register_secret(credentials.get(name))
        log.info("assumed role %s session=%s", role.role_arn, role.session_name)
        return boto3.session.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name=settings.region,
        )


def _register_credentials(session: Any) -> None:
    """Register the session's resolved credentials as secrets, when it has any."""
    credentials = session.get_credentials()
    if credentials is None:
        return
    frozen = credentials.get_frozen_credentials()
    for value in (frozen.access_key, frozen.secret_key, frozen.token):
        register_secret(value)


def aws_error(operation: str, exc: Exception) -> ProviderError:
    """Turn a botocore failure of ``operation`` into a ``ProviderError`` that names the fix."""
    from botocore.exceptions import EndpointConnectionError, NoCredentialsError, NoRegionError

    if isinstance(exc, NoCredentialsError):
        return ProviderError(
            "No AWS credentials found",
            f"{operation} needs AWS credentials. Set AWS_PROFILE or the provider's profile, "
            "export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or configure assume_role.",
        )
    if isinstance(exc, NoRegionError):
        return ProviderError(
            "No AWS region",
            f'{operation} needs a region; set region in the provider "quotaform" block.',
            "region",
        )
    if isinstance(exc, EndpointConnectionError):
        return ProviderError(
            "AWS endpoint not reachable",
            f"{operation} could not connect: {exc}. Check the endpoint argument and that the "
            "service is running.",
            "endpoint",
        )
    return ProviderError("AWS request failed", f"{operation} failed: {exc}; {_FIX}.")


def call(operation: str, work: Any) -> Any:
    """Run ``work()``, turning botocore failures into ``ProviderError``."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return work()
    except (BotoCoreError, ClientError) as exc:
        raise aws_error(operation, exc) from exc
