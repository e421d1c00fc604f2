package quotaform.rules.allowed_instance_types

import data.quotaform.lib
import rego.v1

# METADATA
# title: Allowed instance types
# description: >-
#   A resource the plan creates or updates in a pool must use an instance type
#   the pool allows: one of allowed_instance_types, or a type of one of
#   allowed_families. A pool that lists neither allows every type. Each type of
#   a mixed instances policy's overrides is checked too. RDS classes are
#   matched without their "db." prefix.
# custom:
#   id: allowed-instance-types
#   severity: medium
deny contains violation if {
	some resource in input.resources
	resource.changed
	some instance_type in _instance_types(resource)
	name := resource.pool
	pool := _pools[name]
	not _allowed(pool, instance_type)
	message := sprintf(
		"%s uses instance type '%s', which pool '%s' does not allow (allowed: %s)",
		[resource.address, instance_type, name, concat(", ", _allowed_names(pool))],
	)
	violation := lib.violation("allowed-instance-types", "medium", message, name, resource.address)
}

_pools := {pool.name: pool | some pool in data.quotaform.allocation.pools}

# _instance_types are the resource's own type and its mixed instances override types.
_instance_types(resource) := [resource.instance_type] if {
	count(object.get(resource, "overrides", [])) == 0
	is_string(resource.instance_type)
}

_instance_types(resource) := [override.instance_type | some override in resource.overrides] if {
	count(resource.overrides) > 0
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
