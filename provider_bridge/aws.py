"""AWS access for the bridge: boto3 sessions per profile or assumed role, clients per region.

A credential source is a named profile, an IAM role assumed with ``sts:AssumeRole``
(from a profile or the default credentials), or the default credential chain.
Every client uses botocore's adaptive retry mode, which backs off when AWS
throttles, and the endpoint URL override when one is given.
"""

from __future__ import annotations

import logging
import re
import threading
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ProfileNotFound

from cdk.errors import ExecutionError, InputError

log = logging.getLogger(__name__)

RETRY_CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 10})
ROLE_SESSION_NAME = "quotaform-rightsize"

_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/[\w+=,.@/-]+$")
_ARN_ACCOUNT = re.compile(r"^arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:(\d{12}):")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")


@dataclass(frozen=True, slots=True)
class CredentialSource:
    """The origin of the credentials for AWS calls: a profile, a role, both or neither."""

    profile: str | None = None
    role_arn: str | None = None

    @property
    def label(self) -> str:
        """A name for messages, such as 'profile prod' or 'role arn:aws:iam::...'."""
        parts = []
        if self.role_arn:
            parts.append(f"role {self.role_arn}")
        if self.profile:
            parts.append(f"{'from ' if self.role_arn else ''}profile {self.profile}")
        return " ".join(parts) or "default credentials"

    @property
    def role_account(self) -> str | None:
        """The account id in the role ARN, if a role is assumed."""
        match = _ROLE_ARN.match(self.role_arn or "")
        return match.group(1) if match else None


def account_from_arn(arn: str | None) -> str | None:
    """Return the 12-digit account id of an ARN, or None when it has none."""
    match = _ARN_ACCOUNT.match(arn or "")
    return match.group(1) if match else None


def credential_sources(
    profiles: Sequence[str] = (), role_arns: Sequence[str] = ()
) -> list[CredentialSource]:
    """Validate ``--profile`` and ``--role-arn`` values and combine them into sources.

    Each role is assumed from the one profile given, or from the default
    credentials. Without roles, each profile is one source.
    """
    for arn in role_arns:
        if not _ROLE_ARN.match(arn):
            raise InputError(
                f"--role-arn {arn!r} is not an IAM role ARN; expected "
                "arn:aws:iam::123456789012:role/NAME"
            )
    if role_arns and len(profiles) > 1:
        raise InputError(
            f"--role-arn is assumed from one profile, but {len(profiles)} were given "
            f"({', '.join(profiles)}); pass at most one --profile with --role-arn"
        )
    if role_arns:
        base = profiles[0] if profiles else None
        return list(dict.fromkeys(CredentialSource(base, arn) for arn in role_arns))
    if profiles:
        return list(dict.fromkeys(CredentialSource(name) for name in profiles))
    return [CredentialSource()]


def validate_regions(regions: Iterable[str]) -> list[str]:
    """Return the regions in order without duplicates, rejecting malformed names."""
    result = list(dict.fromkeys(regions))
    for region in result:
        if not _REGION.match(region):
            raise InputError(
                f"--region {region!r} is not an AWS region name; expected a name such as "
                "us-east-1 or eu-west-2"
            )
    return result


def validate_endpoint_url(url: str | None) -> str | None:
    """Return ``url`` unchanged when it has the form http(s)://HOST[:PORT][/PATH].

    Raises InputError naming the value otherwise, before any client is built.
    """
    if url is None:
        return None
    parsed = urllib.parse.urlsplit(url)
    try:
        port_ok = parsed.port is None or 0 < parsed.port
    except ValueError:
        port_ok = False
    if parsed.scheme not in ("http", "https") or not parsed.hostname or not port_ok:
        raise InputError(
            f"--endpoint-url {url!r} is not an http(s) URL; expected http://HOST[:PORT] or "
            "https://HOST[:PORT], such as http://127.0.0.1:5000 for a local moto server"
        )
    return url


class AwsAccess:
    """boto3 sessions and clients per credential source and region, created once each.

    ``endpoint_url`` sends every call to that endpoint, such as a local moto
    server. Sessions that assume a role are created on first use.
    """

    def __init__(
        self,
        sources: Sequence[CredentialSource] = (CredentialSource(),),
        *,
        endpoint_url: str | None = None,
        default_region: str = "us-east-1",
    ) -> None:
        if not sources:
            raise InputError("no AWS credential source given; pass --profile or --role-arn")
        self.sources = list(sources)
        self.endpoint_url = endpoint_url
        self.default_region = default_region
        self._sessions: dict[CredentialSource, boto3.session.Session] = {}
        self._clients: dict[tuple[str, str, CredentialSource], Any] = {}
        self._accounts: dict[CredentialSource, str] = {}
        # boto3 sessions are not thread-safe to create clients from concurrently.
        self._lock = threading.Lock()

    def client(self, service: str, region: str, source: CredentialSource | None = None) -> Any:
        """Return the client for ``service`` in ``region`` with the credentials of ``source``."""
        source = source or self.sources[0]
        key = (service, region, source)
        with self._lock:
            if key not in self._clients:
                session = self._session(source)
                self._clients[key] = session.client(
                    service, region_name=region, endpoint_url=self.endpoint_url,
                    config=RETRY_CONFIG,
                )
            return self._clients[key]

    def account_id(self, source: CredentialSource) -> str:
        """Return the account id of ``source`` from ``sts:GetCallerIdentity``."""
        if source not in self._accounts:
            sts = self.client("sts", self.default_region, source)
            try:
                self._accounts[source] = sts.get_caller_identity()["Account"]
            except (BotoCoreError, ClientError) as exc:
                raise ExecutionError(
                    f"GetCallerIdentity failed for {source.label}: {exc}; check that the "
                    "credentials are valid"
                ) from exc
        return self._accounts[source]

    def source_for_account(self, account_id: str | None) -> CredentialSource:
        """Return the source whose credentials belong to ``account_id``.

        With one source, that source is returned without any call. A resource
        whose account is unknown gets the first source. So does a resource that
        no source reaches, and a warning names its account.
        """
        if len(self.sources) == 1 or account_id is None:
            return self.sources[0]
        for source in self.sources:
            if self.account_id(source) == account_id:
                return source
        log.warning("no credential source reaches account %s; using %s for its resources; "
                    "add a --profile or --role-arn for that account", account_id,
                    self.sources[0].label)
        return self.sources[0]

    def _session(self, source: CredentialSource) -> boto3.session.Session:
        if source in self._sessions:
            return self._sessions[source]
        try:
            base = boto3.session.Session(profile_name=source.profile)
        except ProfileNotFound as exc:
            raise InputError(
                f"AWS profile {source.profile!r} not found in the AWS config files; check "
                "--profile or AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE"
            ) from exc
        session = base if source.role_arn is None else self._assume(base, source)
        self._sessions[source] = session
        return session

    def _assume(self, base: boto3.session.Session, source: CredentialSource) -> Any:
        sts = base.client("sts", region_name=self.default_region,
                          endpoint_url=self.endpoint_url, config=RETRY_CONFIG)
        try:
            reply = sts.assume_role(RoleArn=source.role_arn, RoleSessionName=ROLE_SESSION_NAME)
        except (BotoCoreError, ClientError) as exc:
            raise ExecutionError(
                f"AssumeRole failed for {source.label}: {exc}; check the role's trust policy "
                "and that the base credentials may call sts:AssumeRole"
            ) from exc
        credentials = reply["Credentials"]
        log.info("assumed role role_arn=%s expires=%s", source.role_arn,
                 credentials.get("Expiration"))
        # NOTE: the role's credentials are not refreshed. They last the role's
        # session duration (one hour by default); calls after that fail.
        return boto3.session.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )
