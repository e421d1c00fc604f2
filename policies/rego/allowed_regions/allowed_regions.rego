package quotaform.rules.allowed_regions

import data.quotaform.lib
import rego.v1

# METADATA
# title: Allowed regions
# description: >-
#   Every resource the plan creates or updates, of any type, must be in one of
#   allocation.allowed_regions when that list is set; a resource whose region
#   is not known at plan time is denied too, since it could be anywhere. A
#   resource in a declared pool must also be in the pool's region, because the
#   pool's quotas, prices and usage are counted there.
# custom:
#   id: allowed-regions
#   severity: high
deny contains violation if {
	count(_allowed) > 0
	some resource in input.resources
	resource.changed
	is_string(resource.region)
	not resource.region in _allowed
	message := sprintf(
		"%s is in region '%s', which is not allowed (allowed: %s); %s",
		[
			resource.address, resource.region, concat(", ", sort(_allowed)),
			"move it to an allowed region or add the region to allocation.allowed_regions",
		],
	)
	violation := lib.violation("allowed-regions", "high", message, resource.pool, resource.address)
}

deny contains violation if {
	count(_allowed) > 0
	some resource in input.resources
	resource.changed
	resource.region == null
	message := sprintf(
		"%s has no region known at plan time, so it cannot be checked against the allowed regions (%s); %s",
		[resource.address, concat(", ", sort(_allowed)), "set the provider's region as a constant or variable"],
	)
	violation := lib.violation("allowed-regions", "high", message, resource.pool, resource.address)
}

deny contains violation if {
	some resource in input.resources
	resource.changed
	pool := _pools[resource.pool]
	is_string(resource.region)
	resource.region != pool.region
	message := sprintf(
		"%s is in region '%s', but its pool '%s' is declared in '%s'; %s",
		[
			resource.address, resource.region, pool.name, pool.region,
			"create it in the pool's region or declare a pool for that region",
		],
	)
	violation := lib.violation("allowed-regions", "high", message, pool.name, resource.address)
}

_allowed := object.get(data.quotaform.allocation, "allowed_regions", [])

_pools := {pool.name: pool | some pool in data.quotaform.allocation.pools}
