package quotaform.rules.pool_vcpu_quota

import data.quotaform.lib
import rego.v1

# METADATA
# title: Pool vCPU quota
# description: >-
#   A pool may not use more vCPU than its quota's max_vcpu. Usage counts every
#   instance the pool may run: an ASG at max_size, instances and databases at
#   their count. A plan that leaves an over-quota pool no larger than before is
#   not denied, so that shrinking it stays possible.
# custom:
#   id: pool-vcpu-quota
#   severity: high
deny contains violation if {
	some quota in lib.quotas("pool", "max_vcpu")
	name := quota.target
	usage := input.pools[name]
	usage.vcpu > quota.max_vcpu
	usage.vcpu > usage.before.vcpu
	message := sprintf(
		"pool '%s' would use %d vCPU %s, over its quota of %d (+%d); %s or raise the quota",
		[
			name, usage.vcpu, lib.moment, quota.max_vcpu,
			usage.vcpu - quota.max_vcpu, lib.shrink_hint(name),
		],
	)
	violation := lib.violation("pool-vcpu-quota", "high", message, name, null)
}
