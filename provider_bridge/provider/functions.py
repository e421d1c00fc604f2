"""Provider functions: ``provider::quotaform::vcpus`` and ``provider::quotaform::monthly_cost``.

Terraform 1.8 and later call provider functions without configuring the
provider, so they read only the shipped instance catalog. tf 1.2 reports a
failed call to Terraform with the first error's summary alone, so each
summary here names the fix as well.
"""

from __future__ import annotations

from typing import Any

from tf.function import CallContext, Function, FunctionSignature, Parameter, Return
from tf.types import Number, String

from provider_bridge.provider.diagnostics import ProviderError, add_error

_TYPE = Parameter("instance_type", String(), description="EC2 instance type, such as m5.large.")


def _fail(ctx: CallContext, exc: ProviderError) -> None:
    add_error(ctx.diagnostics, f"{exc.summary}: {exc.detail}", exc.detail)


class VcpusFunction(Function):
    """``vcpus(instance_type)``: the vCPU count of an instance type."""

    def __init__(self, provider: Any = None) -> None:
        self.provider = provider

    @classmethod
    def get_name(cls) -> str:
        return "vcpus"

    @classmethod
    def get_signature(cls) -> FunctionSignature:
        return FunctionSignature(
            parameters=[_TYPE],
            return_type=Return(Number()),
            summary="vCPU count of an EC2 instance type",
            description="Returns the vCPU count of an instance type from quotaform's catalog.",
        )

    def call(self, ctx: CallContext, arguments: list[Any]) -> Any:
        from provider_bridge.provider.lookup import instance_type

        try:
            return instance_type(arguments[0]).vcpu
        except ProviderError as exc:
            _fail(ctx, exc)
            return None


class MonthlyCostFunction(Function):
    """``monthly_cost(instance_type, region)``: on-demand USD a month of one instance."""

    def __init__(self, provider: Any = None) -> None:
        self.provider = provider

    @classmethod
    def get_name(cls) -> str:
        return "monthly_cost"

    @classmethod
    def get_signature(cls) -> FunctionSignature:
        return FunctionSignature(
            parameters=[
                _TYPE,
                Parameter("region", String(), description="AWS region, such as us-east-1."),
            ],
            return_type=Return(Number()),
            summary="On-demand USD a month of one instance",
            description="Returns the on-demand Linux price of one instance for a month of 730 "
            "hours, in USD, from quotaform's catalog.",
        )

    def call(self, ctx: CallContext, arguments: list[Any]) -> Any:
        from provider_bridge.provider.lookup import monthly_price

        try:
            return monthly_price(arguments[0], arguments[1])
        except ProviderError as exc:
            _fail(ctx, exc)
            return None
