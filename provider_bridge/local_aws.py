"""A local AWS: a moto server on 127.0.0.1 for the demo and the integration tests."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import boto3

log = logging.getLogger(__name__)

# moto accepts any credentials; fixed fake ones keep boto3 and the terraform
# AWS provider from looking for real ones (files, the metadata address).
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


@dataclass(frozen=True)
class LocalAws:
    """A running moto server and how to reach it."""

    endpoint_url: str
    region: str = "us-east-1"

    def client(self, service: str):  # noqa: ANN201 - boto3 clients have no shared base type
        """Return a boto3 client for ``service`` bound to this server."""
        return boto3.session.Session(
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
            region_name=self.region,
        ).client(service, endpoint_url=self.endpoint_url)

    def environment(self) -> dict[str, str]:
        """Return environment variables that point AWS SDKs and terraform at this server."""
        return {
            **FAKE_CREDENTIALS,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_EC2_METADATA_DISABLED": "true",
            # Keep SDKs from reading the user's real profiles and config files.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }


@contextmanager
def local_aws(region: str = "us-east-1") -> Iterator[LocalAws]:
    """Start a moto server on 127.0.0.1 at a free port and stop it on exit, also on error."""
    from moto.server import ThreadedMotoServer

    # werkzeug logs every request at INFO; one line per API call would bury
    # the output of the demo and of failing tests.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    log.info("moto server started endpoint=%s", endpoint)
    try:
        yield LocalAws(endpoint_url=endpoint, region=region)
    finally:
        server.stop()
        log.info("moto server stopped endpoint=%s", endpoint)
