package quotaform.rules.unknown_instance_type_test

import data.quotaform.rules.unknown_instance_type
import rego.v1

_allocation := {"quotas": [
	{"scope": "pool", "target": "ml", "max_vcpu": 64, "max_instances": 4},
	{"scope": "pool", "target": "research", "max_monthly_cost_usd": 5000, "max_vcpu": null},
	{"scope": "team", "target": "data", "max_memory_gib": 512},
	{"scope": "team", "target": "web", "max_vcpu": 8},
]}

_pools := {
	"ml": {"team": "data", "ancestors": ["research"]},
	"research": {"team": "data", "ancestors": []},
}

_unsized(metrics, changed) := {
	"address": "aws_instance.gpu", "type": "aws_instance", "pool": "ml",
	"instance_type": "x9.huge", "metrics": metrics, "changed": changed,
	"reason": "instance type 'x9.huge' is not in the instance catalog",
	"fix": "use a type from the instance catalog, or pass --catalog DIR with a catalog that lists 'x9.huge'",
}

test_deny_names_every_quota_that_needs_the_size if {
	unknown_instance_type.deny == {{
		"rule": "unknown-instance-type",
		"severity": "high",
		"message": "aws_instance.gpu in pool 'ml' cannot be counted against the memory quota of team 'data', the monthly cost quota of pool 'research', the vCPU quota of pool 'ml': instance type 'x9.huge' is not in the instance catalog; use a type from the instance catalog, or pass --catalog DIR with a catalog that lists 'x9.huge'",
		"pool": "ml",
		"address": "aws_instance.gpu",
	}} with input as {"pools": _pools, "unsized": [_unsized(["vcpu", "memory_gib", "monthly_cost_usd"], true)]}
		with data.quotaform.allocation as _allocation
}

test_deny_unknown_count_needs_instance_quota if {
	item := object.union(_unsized(["instances"], true), {
		"reason": "its max_size is unknown until apply",
		"fix": "set max_size from a constant or a variable",
	})
	unknown_instance_type.deny == {{
		"rule": "unknown-instance-type",
		"severity": "high",
		"message": "aws_instance.gpu in pool 'ml' cannot be counted against the instance quota of pool 'ml': its max_size is unknown until apply; set max_size from a constant or a variable",
		"pool": "ml",
		"address": "aws_instance.gpu",
	}} with input as {"pools": _pools, "unsized": [item]}
		with data.quotaform.allocation as _allocation
}

test_allow_when_no_quota_needs_the_missing_metric if {
	# Only the price is missing, and only a vCPU quota covers the pool.
	allocation := {"quotas": [{"scope": "pool", "target": "ml", "max_vcpu": 64}]}
	count(unknown_instance_type.deny) == 0 with input as {"pools": _pools, "unsized": [_unsized(["monthly_cost_usd"], true)]}
		with data.quotaform.allocation as allocation
}

test_allow_unchanged_unsized_resource if {
	count(unknown_instance_type.deny) == 0 with input as {"pools": _pools, "unsized": [_unsized(["vcpu"], false)]}
		with data.quotaform.allocation as _allocation
}

test_allow_when_everything_is_sized if {
	count(unknown_instance_type.deny) == 0 with input as {"pools": _pools, "unsized": []}
		with data.quotaform.allocation as _allocation
}
