# METADATA
# title: Pools a plan changes
# description: >-
#   The declared pools in which the plan creates, updates, replaces or deletes
#   a resource. Used by the pool-access and unknown-requestor rules. It has a
#   package of its own because regorus 0.13.0 evaluates every rule of a package
#   when another package reads one of them, and this one reads every resource.
package quotaform.changes

import data.quotaform.lib
import rego.v1

# changed_pools are the declared pools in which the plan modifies a resource.
changed_pools contains name if {
	some resource in input.resources
	name := resource.pool
	_declared_pools[name]
	lib.modifies(resource)
}

_declared_pools := {pool.name: pool | some pool in data.quotaform.allocation.pools}
