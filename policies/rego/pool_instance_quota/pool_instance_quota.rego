package quotaform.rules.pool_instance_quota

import data.quotaform.lib
import data.quotaform.quotas
import rego.v1

# METADATA
# title: Pool instance quota
# description: >-
#   A pool, with every pool nested under it, may not run more instances than
#   its quota's max_instances. An ASG or EKS node group counts max_size
#   instances. A plan that leaves an over-quota pool no larger than before is
#   not denied, so that shrinking it stays possible.
# custom:
#   id: pool-instance-quota
#   severity: high
deny contains violation if {
	some quota in quotas.exceeded("pool", "instances")
	name := quota.target
	after := input.pools[name].instances
	message := sprintf(
		"pool '%s' would run %d instances %s%s, over its quota of %d (+%d); %s or raise the quota",
		[
			name, after, lib.moment, quotas.children(name), quota.max_instances,
			after - quota.max_instances, quotas.shrink_hint(name),
		],
	)
	violation := lib.violation("pool-instance-quota", "high", message, name, null)
}
