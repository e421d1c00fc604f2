package quotaform.rules.unknown_instance_type

import data.quotaform.lib
import data.quotaform.quotas
import rego.v1

# METADATA
# title: Unknown instance type
# description: >-
#   A resource the plan creates or resizes in a pool must be countable against
#   every quota that covers it: the quotas of its pool, of each enclosing pool
#   and of its team. When the catalog lacks its instance type (or its price in
#   the region), or the plan leaves its type or max_size unknown, each quota
#   whose metric it cannot give is named, with the fix. Otherwise the quota
#   rules would pass usage they cannot see.
# custom:
#   id: unknown-instance-type
#   severity: high
deny contains violation if {
	some item in input.unsized
	item.changed
	needed := _needed_quotas(item)
	count(needed) > 0
	message := sprintf(
		"%s in pool '%s' cannot be counted against %s: %s; %s",
		[item.address, item.pool, concat(", ", sort(needed)), item.reason, item.fix],
	)
	violation := lib.violation("unknown-instance-type", "high", message, item.pool, item.address)
}

# _needed_quotas names each quota that covers the item and limits a metric it lacks.
_needed_quotas(item) := {text |
	some metric in item.metrics
	some quota in data.quotaform.allocation.quotas
	is_number(quota[quotas.limit_fields[metric]])
	_covers(quota, item.pool)
	text := sprintf("the %s quota of %s '%s'", [quotas.metric_names[metric], quota.scope, quota.target])
}

_covers(quota, pool) if {
	quota.scope == "pool"
	quota.target in array.concat([pool], object.get(input.pools, [pool, "ancestors"], []))
}

_covers(quota, pool) if {
	quota.scope == "team"
	object.get(input.pools, [pool, "team"], null) == quota.target
}
