"""Declarations: the quotaform model and the CDKTF constructs that build it.

The constructs need the CDKTF runtime (Node.js), so they are imported from
``cdk.constructs`` on demand; the model and errors import without it.
"""

from cdk.errors import ExecutionError, InputError, QuotaformError
from cdk.model import (
    POOL_TAG,
    TEAM_TAG,
    AccessGrant,
    Allocation,
    Capacity,
    Monitoring,
    Optimization,
    OptimizationRule,
    PolicySetting,
    Pool,
    Quota,
    ResourceConfig,
    Team,
    Waiver,
    describe_validation_error,
    load_config,
    validate_config,
)

__all__ = [
    "POOL_TAG",
    "TEAM_TAG",
    "AccessGrant",
    "Allocation",
    "Capacity",
    "ExecutionError",
    "InputError",
    "Monitoring",
    "Optimization",
    "OptimizationRule",
    "PolicySetting",
    "Pool",
    "Quota",
    "QuotaformError",
    "ResourceConfig",
    "Team",
    "Waiver",
    "describe_validation_error",
    "load_config",
    "validate_config",
]
