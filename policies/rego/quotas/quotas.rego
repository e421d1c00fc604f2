# METADATA
# title: Shared helpers of the quota rules
# description: >-
#   Finds the pool and team quotas that the usage after the change exceeds, and
#   words the pool tree in messages. Python computes every total: a pool's
#   usage includes its descendants', a team's usage adds its pools' own usage.
package quotaform.quotas

import data.quotaform.lib
import rego.v1

# limit_fields maps each metric of the usage to the quota field that limits it.
limit_fields := {
	"instances": "max_instances",
	"vcpu": "max_vcpu",
	"memory_gib": "max_memory_gib",
	"monthly_cost_usd": "max_monthly_cost_usd",
}

# metric_names names each metric in messages.
metric_names := {
	"instances": "instance",
	"vcpu": "vCPU",
	"memory_gib": "memory",
	"monthly_cost_usd": "monthly cost",
}

# exceeded lists the quotas of a scope whose limit on metric the usage after the
# change exceeds. A change that leaves the usage no larger than before is not
# listed, so that shrinking an over-quota pool or team stays possible.
exceeded(scope, metric) := {quota |
	some quota in lib.quotas(scope, limit_fields[metric])
	current := usage(scope, quota.target)
	current[metric] > quota[limit_fields[metric]]
	current[metric] > current.before[metric]
}

# usage is the usage of a pool (with its descendants) or a team.
usage("pool", name) := input.pools[name]

usage("team", name) := input.teams[name]

# excess is how far a value exceeds a limit, rounded to thousandths for the message.
excess(value, limit) := round((value - limit) * 1000) / 1000

# children names a pool's descendants for a message, or is empty for a leaf pool.
children(name) := sprintf(" (with child pools %s)", [concat(", ", _descendants(name))]) if {
	count(_descendants(name)) > 0
}

default children(_) := ""

# shrink_hint names the change that lowers a pool's usage.
shrink_hint(name) := "shrink one of these pools" if count(_descendants(name)) > 0

shrink_hint(name) := lib.shrink_hint(name) if count(_descendants(name)) == 0

_descendants(name) := object.get(input.pools, [name, "descendants"], [])

# team_pools lists a team's pools for a message.
team_pools(team) := concat(", ", input.teams[team].pools)
