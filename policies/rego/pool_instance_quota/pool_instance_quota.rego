package quotaform.rules.pool_instance_quota

import data.quotaform.lib
import rego.v1

# METADATA
# title: Pool instance quota
# description: >-
#   A pool may not run more instances than its quota's max_instances. An ASG
#   counts max_size instances. A plan that leaves an over-quota pool no larger
#   than before is not denied, so that shrinking it stays possible.
# custom:
#   id: pool-instance-quota
#   severity: high
deny contains violation if {
	some quota in lib.quotas("pool", "max_instances")
	name := quota.target
	usage := input.pools[name]
	usage.instances > quota.max_instances
	usage.instances > usage.before.instances
	message := sprintf(
		"pool '%s' would run %d instances %s, over its quota of %d (+%d); %s or raise the quota",
		[
			name, usage.instances, lib.moment, quota.max_instances,
			usage.instances - quota.max_instances, lib.shrink_hint(name),
		],
	)
	violation := lib.violation("pool-instance-quota", "high", message, name, null)
}
