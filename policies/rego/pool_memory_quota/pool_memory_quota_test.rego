package quotaform.rules.pool_memory_quota_test

import data.quotaform.rules.pool_memory_quota
import rego.v1

_allocation := {
	"pools": [
		{"name": "api", "kind": "asg", "team": "payments"},
		{"name": "payments", "kind": "instances", "team": "payments"},
	],
	"quotas": [
		{"scope": "pool", "target": "api", "max_memory_gib": 128, "max_vcpu": null},
		{"scope": "pool", "target": "payments", "max_memory_gib": 200.5},
		{"scope": "team", "target": "api", "max_memory_gib": 1},
	],
}

_usage(memory, before, descendants) := {
	"memory_gib": memory, "before": {"memory_gib": before},
	"descendants": descendants,
}

test_deny_asg_pool_over_memory_quota if {
	pool_memory_quota.deny == {{
		"rule": "pool-memory-quota",
		"severity": "high",
		"message": "pool 'api' would use 192 GiB of memory after this plan, over its quota of 128 GiB (+64); lower max_size or raise the quota",
		"pool": "api",
		"address": null,
	}} with input as {"source": "plan", "pools": {"api": _usage(192.0, 64.0, [])}}
		with data.quotaform.allocation as _allocation
}

test_deny_parent_pool_with_fractional_excess if {
	pool_memory_quota.deny == {{
		"rule": "pool-memory-quota",
		"severity": "high",
		"message": "pool 'payments' would use 201.125 GiB of memory when fully allocated (with child pools api), over its quota of 200.5 GiB (+0.625); shrink one of these pools or raise the quota",
		"pool": "payments",
		"address": null,
	}} with input as {"source": "config", "pools": {
		"api": _usage(96.0, 0, []),
		"payments": _usage(201.125, 0, ["api"]),
	}}
		with data.quotaform.allocation as _allocation
}

test_allow_memory_equal_to_quota if {
	pools := {"api": _usage(128.0, 0, []), "payments": _usage(128.0, 0, ["api"])}
	count(pool_memory_quota.deny) == 0 with input as {"source": "plan", "pools": pools}
		with data.quotaform.allocation as _allocation
}

test_allow_over_quota_pool_that_shrinks if {
	pools := {"api": _usage(160.0, 192.0, [])}
	count(pool_memory_quota.deny) == 0 with input as {"source": "plan", "pools": pools}
		with data.quotaform.allocation as _allocation
}
