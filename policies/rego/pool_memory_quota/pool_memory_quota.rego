package quotaform.rules.pool_memory_quota

import data.quotaform.lib
import data.quotaform.quotas
import rego.v1

# METADATA
# title: Pool memory quota
# description: >-
#   A pool, with every pool nested under it, may not use more memory (GiB)
#   than its quota's max_memory_gib, counting every instance it may run. A
#   plan that leaves an over-quota pool no larger than before is not denied.
# custom:
#   id: pool-memory-quota
#   severity: high
deny contains violation if {
	some quota in quotas.exceeded("pool", "memory_gib")
	name := quota.target
	after := input.pools[name].memory_gib
	message := sprintf(
		"pool '%s' would use %v GiB of memory %s%s, over its quota of %v GiB (+%v); %s or raise the quota",
		[
			name, after, lib.moment, quotas.children(name), quota.max_memory_gib,
			quotas.excess(after, quota.max_memory_gib), quotas.shrink_hint(name),
		],
	)
	violation := lib.violation("pool-memory-quota", "high", message, name, null)
}
