"""Shared fixtures: paths, the catalog, a moto server and terraform with its provider."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from provider_bridge import Catalog, load_catalog
from provider_bridge.local_aws import LocalAws, local_aws

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
PLANS = FIXTURES / "plans"
EXAMPLES = ROOT / "examples"
SERIES = EXAMPLES / "data" / "cloudwatch"

MIRROR_VARIABLE = "QUOTAFORM_TF_PLUGIN_MIRROR"


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[LocalAws]:
    """A moto server on 127.0.0.1 at a free port, shared by the session's tests."""
    with local_aws() as aws:
        yield aws


@pytest.fixture
def aws_env(moto_server: LocalAws, monkeypatch: pytest.MonkeyPatch) -> LocalAws:
    """Point every AWS SDK in this process at the moto server, with fake credentials."""
    for name, value in moto_server.environment().items():
        monkeypatch.setenv(name, value)
    return moto_server


@pytest.fixture(scope="session")
def terraform_bin() -> str:
    path = shutil.which("terraform")
    if path is None:
        pytest.skip("terraform is not on PATH; install terraform 1.5+ to run this test")
    return path


@pytest.fixture(scope="session")
def provider_mirror(terraform_bin: str) -> Path:
    """The offline mirror that holds hashicorp/aws, named by QUOTAFORM_TF_PLUGIN_MIRROR."""
    value = os.environ.get(MIRROR_VARIABLE, "")
    if not value:
        pytest.skip(
            f"{MIRROR_VARIABLE} is not set; point it at a provider mirror holding "
            "registry.terraform.io/hashicorp/aws (make test finds one itself)"
        )
    mirror = Path(value)
    if not (mirror / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
        pytest.skip(f"{MIRROR_VARIABLE}={value} holds no registry.terraform.io/hashicorp/aws")
    return mirror
