package quotaform.rules.allowed_instance_types

import data.quotaform.lib
import rego.v1

# METADATA
# title: Allowed instance types
# description: >-
#   A resource the plan creates or updates in a pool must use an instance type
#   the pool allows: one of allowed_instance_types, or a type of one of
#   allowed_families. A pool that lists neither allows every type. RDS classes
#   are matched without their "db." prefix.
# custom:
#   id: allowed-instance-types
#   severity: medium
deny contains violation if {
	some resource in input.resources
	resource.changed
	is_string(resource.instance_type)
	name := resource.pool
	pool := lib.declared_pool(name)
	not _allowed(pool, resource.instance_type)
	message := sprintf(
		"%s uses instance type '%s', which pool '%s' does not allow (allowed: %s)",
		[resource.address, resource.instance_type, name, concat(", ", _allowed_names(pool))],
	)
	violation := lib.violation("allowed-instance-types", "medium", message, name, resource.address)
}

_allowed(pool, _) if {
	count(pool.allowed_instance_types) == 0
	count(pool.allowed_families) == 0
}

_allowed(pool, instance_type) if instance_type in pool.allowed_instance_types

_allowed(pool, instance_type) if _family(instance_type) in pool.allowed_families

_family(instance_type) := split(trim_prefix(instance_type, "db."), ".")[0]

_allowed_names(pool) := array.concat(
	sort(pool.allowed_instance_types),
	sort([sprintf("%s.*", [family]) | some family in pool.allowed_families]),
)
