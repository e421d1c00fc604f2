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
	name := resource.pool
	denied := _denied[name]
	some instance_type in _instance_types(resource)
	denied[instance_type]
	message := sprintf(
		"%s uses instance type '%s', which pool '%s' does not allow (allowed: %s)",
		[resource.address, instance_type, name, _allowed_text[name]],
	)
	violation := lib.violation("allowed-instance-types", "medium", message, name, resource.address)
}

# _restricted are the pools that list allowed types or families; the others allow every type.
_restricted := {pool.name: pool |
	some pool in data.quotaform.allocation.pools
	count(pool.allowed_instance_types) + count(pool.allowed_families) > 0
}

# _denied holds, by pool, the types that changed resources of the pool use and the pool
# does not allow; pools without such a type are left out. Each pair of pool and type is
# decided once, however many resources share it, and the resources of other pools are
# passed over with one look-up.
_denied := {name: types |
	some name, pool in _restricted
	types := {instance_type: true |
		some [pool_name, instance_type] in _used
		pool_name == name
		not _allowed(pool, instance_type)
	}
	count(types) > 0
}

# _used lists the pairs [pool, instance type] of changed resources in restricted pools.
_used := {[resource.pool, instance_type] |
	some resource in input.resources
	resource.changed
	_restricted[resource.pool]
	some instance_type in _instance_types(resource)
}

# _instance_types are the resource's own type and its mixed instances override types.
_instance_types(resource) := [resource.instance_type] if {
	count(object.get(resource, "overrides", [])) == 0
	is_string(resource.instance_type)
}

_instance_types(resource) := [override.instance_type | some override in resource.overrides] if {
	count(resource.overrides) > 0
}

_allowed(pool, instance_type) if instance_type in pool.allowed_instance_types

_allowed(pool, instance_type) if _family(instance_type) in pool.allowed_families

_family(instance_type) := split(trim_prefix(instance_type, "db."), ".")[0]

# _allowed_text lists each restricted pool's types and families for the message.
_allowed_text := {name: concat(", ", names) |
	some name, pool in _restricted
	names := array.concat(
		sort(pool.allowed_instance_types),
		sort([sprintf("%s.*", [family]) | some family in pool.allowed_families]),
	)
}
