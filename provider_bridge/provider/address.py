"""The provider's name in Terraform: source address, version and type prefix.

Terraform addresses a provider as HOSTNAME/NAMESPACE/TYPE. quotaform is not
published to a registry. It is installed into a local filesystem mirror under
the default hostname, so configurations write the short source
``quotaform/quotaform``.
"""

from __future__ import annotations

PROVIDER_HOSTNAME = "registry.terraform.io"
PROVIDER_NAMESPACE = "quotaform"
PROVIDER_TYPE = "quotaform"
PROVIDER_SOURCE = f"{PROVIDER_NAMESPACE}/{PROVIDER_TYPE}"
PROVIDER_ADDRESS = f"{PROVIDER_HOSTNAME}/{PROVIDER_SOURCE}"
# The provider is released with the quotaform distribution, so it carries the
# same version; a test checks that the two agree.
PROVIDER_VERSION = "0.1.0"
PROVIDER_VERSION_CONSTRAINT = "~> 0.1"
LAUNCHER_NAME = f"terraform-provider-{PROVIDER_TYPE}_v{PROVIDER_VERSION}"
# Data sources are named quotaform_<name>, as Terraform expects for provider "quotaform".
TYPE_PREFIX = f"{PROVIDER_TYPE}_"
