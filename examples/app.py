"""Example platform: two teams, an auto scaling pool, three instance pools and two quotas.

Synthesize it with ``quotaform synth examples/app.py``; ``build_platform`` is
also imported by examples/app_scale_out.py and by the tests.
"""

from cdktf import App

from cdk.constructs import AsgPool, InstancePool, Quota, QuotaformStack, Team


def build_platform(app: App, *, api_max_size: int = 4) -> QuotaformStack:
    """Declare the example platform in ``app``; ``api_max_size`` caps the api pool's ASG."""
    stack = QuotaformStack(app, "platform", region="us-east-1")
    Team(stack, "payments")
    Team(stack, "data")
    AsgPool(stack, "api", team="payments", instance_type="m5.xlarge",
            min_size=2, max_size=api_max_size, allowed_families=["m5", "m6i"])
    InstancePool(stack, "reporting", team="data", instance_type="m5.2xlarge", count=1,
                 allowed_families=["m5", "r5"])
    InstancePool(stack, "batch", team="data", instance_type="c5.xlarge", count=2,
                 allowed_families=["c5", "m5"])
    InstancePool(stack, "etl", team="data", instance_type="c5.large", count=1,
                 allowed_families=["c5"])
    Quota(stack, "api-quota", target="api", max_vcpu=16, max_instances=4)
    Quota(stack, "data-quota", scope="team", target="data", max_vcpu=32)
    # Rightsizing may move a pool to these families, within each pool's allowed families.
    stack.optimization(allowed_families=["c5", "m5", "r5"])
    return stack


if __name__ == "__main__":
    app = App()
    build_platform(app)
    app.synth()
