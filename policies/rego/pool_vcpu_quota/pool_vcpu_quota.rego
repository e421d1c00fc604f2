package quotaform.rules.pool_vcpu_quota

import data.quotaform.lib
import data.quotaform.quotas
import rego.v1

# METADATA
# title: Pool vCPU quota
# description: >-
#   A pool, with every pool nested under it, may not use more vCPU than its
#   quota's max_vcpu. Usage counts every instance the pool may run: an ASG or
#   EKS node group at max_size, instances and databases at their count. A plan
#   that leaves an over-quota pool no larger than before is not denied, so
#   that shrinking it stays possible.
# custom:
#   id: pool-vcpu-quota
#   severity: high
deny contains violation if {
	some quota in quotas.exceeded("pool", "vcpu")
	name := quota.target
	after := input.pools[name].vcpu
	message := sprintf(
		"pool '%s' would use %d vCPU %s%s, over its quota of %d (+%d); %s or raise the quota",
		[
			name, after, lib.moment, quotas.children(name), quota.max_vcpu,
			after - quota.max_vcpu, quotas.shrink_hint(name),
		],
	)
	violation := lib.violation("pool-vcpu-quota", "high", message, name, null)
}
