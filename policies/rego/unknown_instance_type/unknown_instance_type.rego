package quotaform.rules.unknown_instance_type

import data.quotaform.lib
import rego.v1

# METADATA
# title: Unknown instance type
# description: >-
#   Every resource that launches instances in a pool must have an instance
#   type the instance catalog knows, because its vCPU and memory count against
#   the pool's quotas. Otherwise the quota checks would pass unsized usage.
# custom:
#   id: unknown-instance-type
#   severity: high
deny contains violation if {
	some item in input.unsized
	message := sprintf(
		"%s in pool '%s' cannot be counted against its quotas: %s; %s",
		[item.address, item.pool, item.reason, "use a type from the instance catalog or pass --catalog"],
	)
	violation := lib.violation("unknown-instance-type", "high", message, item.pool, item.address)
}
