package quotaform.quotas_test

import data.quotaform.quotas
import rego.v1

_allocation := {
	"pools": [{"name": "api", "kind": "asg"}],
	"quotas": [
		{"scope": "pool", "target": "api", "max_vcpu": 16, "max_instances": null},
		{"scope": "pool", "target": "org", "max_vcpu": 64},
		{"scope": "team", "target": "payments", "max_vcpu": 8},
	],
}

_pool(vcpu, before, descendants) := {
	"vcpu": vcpu, "before": {"vcpu": before},
	"descendants": descendants,
}

_input := {
	"pools": {
		"api": _pool(20, 16, []),
		"org": _pool(60, 10, ["api", "batch"]),
	},
	"teams": {"payments": {"vcpu": 12, "before": {"vcpu": 12}, "pools": ["api", "batch"]}},
}

test_deny_lists_pool_quota_over_limit_that_grew if {
	found := quotas.exceeded("pool", "vcpu") with input as _input
		with data.quotaform.allocation as _allocation
	found == {{"scope": "pool", "target": "api", "max_vcpu": 16, "max_instances": null}}
}

test_allow_team_over_limit_that_did_not_grow if {
	found := quotas.exceeded("team", "vcpu") with input as _input
		with data.quotaform.allocation as _allocation
	found == set()
}

test_allow_unset_limit_is_not_listed if {
	found := quotas.exceeded("pool", "instances") with input as _input
		with data.quotaform.allocation as _allocation
	found == set()
}

test_allow_children_and_hint_follow_the_tree if {
	quotas.children("org") == " (with child pools api, batch)" with input as _input
	quotas.children("api") == "" with input as _input
	quotas.shrink_hint("org") == "shrink one of these pools" with input as _input
	quotas.shrink_hint("api") == "lower max_size" with input as _input
		with data.quotaform.allocation as _allocation
}

test_allow_excess_rounds_to_thousandths if {
	quotas.excess(1121.28, 1000) == 121.28
	quotas.excess(192.0, 128) == 64
}
