package quotaform.rules.pool_instance_quota_test

import data.quotaform.rules.pool_instance_quota
import rego.v1

_allocation := {
	"pools": [{"name": "api", "kind": "asg", "team": "payments"}],
	"quotas": [
		{"scope": "pool", "target": "api", "max_vcpu": null, "max_instances": 4},
		{"scope": "pool", "target": "undeployed", "max_vcpu": null, "max_instances": 1},
	],
}

_usage(instances, before) := {
	"team": "payments", "vcpu": 0, "instances": instances,
	"before": {"vcpu": 0, "instances": before},
}

test_deny_asg_max_size_over_quota if {
	pool_instance_quota.deny == {{
		"rule": "pool-instance-quota",
		"severity": "high",
		"message": "pool 'api' would run 12 instances after this plan, over its quota of 4 (+8); lower max_size or raise the quota",
		"pool": "api",
		"address": null,
	}} with input as {"source": "plan", "pools": {"api": _usage(12, 4)}}
		with data.quotaform.allocation as _allocation
}

test_deny_undeclared_pool_gets_generic_hint if {
	pool_instance_quota.deny == {{
		"rule": "pool-instance-quota",
		"severity": "high",
		"message": "pool 'undeployed' would run 2 instances after this plan, over its quota of 1 (+1); use fewer or smaller instances or raise the quota",
		"pool": "undeployed",
		"address": null,
	}} with input as {"source": "plan", "pools": {"api": _usage(4, 4), "undeployed": _usage(2, 0)}}
		with data.quotaform.allocation as _allocation
}

test_allow_within_quota if {
	pools := {"api": _usage(4, 0)}
	count(pool_instance_quota.deny) == 0 with input as {"source": "plan", "pools": pools}
		with data.quotaform.allocation as _allocation
}

test_allow_pool_missing_from_input if {
	count(pool_instance_quota.deny) == 0 with input as {"source": "plan", "pools": {}}
		with data.quotaform.allocation as _allocation
}

test_deny_parent_pool_counts_its_children if {
	nested := {
		"pools": [
			{"name": "org", "kind": "instances", "team": "platform"},
			{"name": "api", "kind": "asg", "team": "payments", "parent": "org"},
		],
		"quotas": [{"scope": "pool", "target": "org", "max_instances": 10}],
	}
	pool_instance_quota.deny == {{
		"rule": "pool-instance-quota",
		"severity": "high",
		"message": "pool 'org' would run 14 instances after this plan (with child pools api, batch), over its quota of 10 (+4); shrink one of these pools or raise the quota",
		"pool": "org",
		"address": null,
	}} with input as {"source": "plan", "pools": {
		"org": object.union(_usage(14, 6), {"descendants": ["api", "batch"]}),
		"api": _usage(12, 4),
	}}
		with data.quotaform.allocation as nested
}
