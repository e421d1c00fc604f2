# METADATA
# title: Shared helpers of the quotaform rules
# description: >-
#   Builds the one violation shape every rule reports, and the wording that
#   depends on whether a plan or the declarations alone are checked.
package quotaform.lib

import rego.v1

# violation is the only way a rule reports, so every finding has these fields.
violation(rule, severity, message, pool, address) := {
	"rule": rule,
	"severity": severity,
	"message": message,
	"pool": pool,
	"address": address,
}

moment := "after this plan" if input.source == "plan"

moment := "when fully allocated" if input.source == "config"

# declared_pool is the pool declaration of the given name.
declared_pool(name) := pool if {
	some pool in data.quotaform.allocation.pools
	pool.name == name
}

# shrink_hint names the declaration field that lowers a pool's usage.
shrink_hint(name) := "lower max_size" if declared_pool(name).kind == "asg"

shrink_hint(name) := "lower count" if declared_pool(name).kind in {"instances", "db"}

default shrink_hint(_) := "use fewer or smaller instances"

# quotas lists the quotas of one scope that set the given limit.
quotas(scope, limit) := [quota |
	some quota in data.quotaform.allocation.quotas
	quota.scope == scope
	is_number(quota[limit])
]
