"""quotaform as a Terraform provider, built on the ``tf`` plugin framework.

Terraform starts the provider through a launcher script that
``quotaform provider install`` puts into a local filesystem mirror; see
``install``. ``bootstrap`` starts the process, ``plugin`` defines the
provider, and one module per data source reads AWS and the declarations.
"""

from provider_bridge.provider.address import (
    LAUNCHER_NAME,
    PROVIDER_ADDRESS,
    PROVIDER_SOURCE,
    PROVIDER_VERSION,
    PROVIDER_VERSION_CONSTRAINT,
)

__all__ = [
    "LAUNCHER_NAME",
    "PROVIDER_ADDRESS",
    "PROVIDER_SOURCE",
    "PROVIDER_VERSION",
    "PROVIDER_VERSION_CONSTRAINT",
]
