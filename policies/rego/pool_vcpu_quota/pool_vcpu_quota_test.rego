package quotaform.rules.pool_vcpu_quota_test

import data.quotaform.rules.pool_vcpu_quota
import rego.v1

_allocation := {
	"pools": [
		{"name": "api", "kind": "asg", "team": "payments"},
		{"name": "batch", "kind": "instances", "team": "data"},
	],
	"quotas": [
		{"scope": "pool", "target": "api", "max_vcpu": 16, "max_instances": null},
		{"scope": "pool", "target": "batch", "max_vcpu": 8, "max_instances": null},
		{"scope": "team", "target": "data", "max_vcpu": 4, "max_instances": null},
	],
}

_usage(vcpu, before) := {
	"team": "payments", "instances": 0, "vcpu": vcpu,
	"before": {"instances": 0, "vcpu": before},
}

test_deny_asg_pool_over_quota if {
	pool_vcpu_quota.deny == {{
		"rule": "pool-vcpu-quota",
		"severity": "high",
		"message": "pool 'api' would use 48 vCPU after this plan, over its quota of 16 (+32); lower max_size or raise the quota",
		"pool": "api",
		"address": null,
	}} with input as {"source": "plan", "pools": {"api": _usage(48, 16), "batch": _usage(8, 8)}}
		with data.quotaform.allocation as _allocation
}

test_deny_instance_pool_names_count if {
	pool_vcpu_quota.deny == {{
		"rule": "pool-vcpu-quota",
		"severity": "high",
		"message": "pool 'batch' would use 12 vCPU when fully allocated, over its quota of 8 (+4); lower count or raise the quota",
		"pool": "batch",
		"address": null,
	}} with input as {"source": "config", "pools": {"api": _usage(16, 0), "batch": _usage(12, 0)}}
		with data.quotaform.allocation as _allocation
}

test_allow_usage_equal_to_quota if {
	pools := {"api": _usage(16, 0), "batch": _usage(8, 0)}
	count(pool_vcpu_quota.deny) == 0 with input as {"source": "plan", "pools": pools}
		with data.quotaform.allocation as _allocation
}

test_allow_over_quota_pool_that_shrinks if {
	pools := {"api": _usage(32, 48), "batch": _usage(0, 0)}
	count(pool_vcpu_quota.deny) == 0 with input as {"source": "plan", "pools": pools}
		with data.quotaform.allocation as _allocation
}

test_allow_team_quota_is_not_a_pool_quota if {
	# The team 'data' quota of 4 vCPU must not be read as a pool limit.
	count(pool_vcpu_quota.deny) == 0 with input as {"source": "plan", "pools": {"data": _usage(6, 0)}}
		with data.quotaform.allocation as _allocation
}
