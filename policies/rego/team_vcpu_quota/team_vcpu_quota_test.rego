package quotaform.rules.team_vcpu_quota_test

import data.quotaform.rules.team_vcpu_quota
import rego.v1

_allocation := {"quotas": [
	{"scope": "team", "target": "data", "max_vcpu": 32, "max_instances": null},
	{"scope": "pool", "target": "etl", "max_vcpu": 1, "max_instances": null},
]}

_usage(team, vcpu, before) := {
	"team": team, "instances": 0, "vcpu": vcpu,
	"before": {"instances": 0, "vcpu": before},
}

test_deny_team_sum_of_pools_over_quota if {
	team_vcpu_quota.deny == {{
		"rule": "team-vcpu-quota",
		"severity": "high",
		"message": "team 'data' would use 40 vCPU after this plan across pools batch, etl, reporting, over its quota of 32 (+8); shrink one of its pools or raise the quota",
		"pool": null,
		"address": null,
	}} with input as {"source": "plan", "pools": {
		"reporting": _usage("data", 8, 8),
		"batch": _usage("data", 24, 8),
		"etl": _usage("data", 8, 2),
		"api": _usage("payments", 48, 16),
	}}
		with data.quotaform.allocation as _allocation
}

test_allow_other_teams_not_counted if {
	count(team_vcpu_quota.deny) == 0 with input as {"source": "plan", "pools": {
		"batch": _usage("data", 32, 0),
		"api": _usage("payments", 48, 0),
	}}
		with data.quotaform.allocation as _allocation
}

test_allow_team_that_shrinks if {
	pools := {"batch": _usage("data", 40, 48)}
	count(team_vcpu_quota.deny) == 0 with input as {"source": "plan", "pools": pools}
		with data.quotaform.allocation as _allocation
}
