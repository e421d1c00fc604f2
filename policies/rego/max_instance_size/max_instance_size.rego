package quotaform.rules.max_instance_size

import data.quotaform.lib
import rego.v1

# METADATA
# title: Maximum instance size
# description: >-
#   A resource the plan creates or updates in a pool may not use an instance
#   type larger than the pool's max_instance_vcpu or max_instance_memory_gib,
#   nor list such a type among its mixed instances policy overrides. RDS
#   classes are sized as the EC2 type of the same name. A type missing from the
#   catalog has no size here; unknown-instance-type reports it.
# custom:
#   id: max-instance-size
#   severity: medium
deny contains violation if {
	some resource in input.resources
	resource.changed
	pool := _limited[resource.pool]
	some sized in _sized_types(resource)
	some limit in _limits
	is_number(pool[limit.field])
	is_number(sized[limit.fact])
	sized[limit.fact] > pool[limit.field]
	message := sprintf(
		"%s uses instance type '%s' with %v %s, more than pool '%s' allows per instance (%s = %v); %s",
		[
			resource.address, sized.instance_type, sized[limit.fact], limit.unit, pool.name,
			limit.field, pool[limit.field], "choose a smaller type or raise the limit",
		],
	)
	violation := lib.violation("max-instance-size", "medium", message, pool.name, resource.address)
}

# _limited are the pools that set a per-instance limit; resources of other pools are skipped.
_limited := {pool.name: pool |
	some pool in data.quotaform.allocation.pools
	some limit in _limits
	is_number(pool[limit.field])
}

_limits := [
	{"field": "max_instance_vcpu", "fact": "vcpu", "unit": "vCPU"},
	{"field": "max_instance_memory_gib", "fact": "memory_gib", "unit": "GiB of memory"},
]

# _sized_types lists the resource's own type and every mixed instances override type.
_sized_types(resource) := {sized |
	some sized in array.concat([resource], object.get(resource, "overrides", []))
	is_string(sized.instance_type)
}
