package quotaform.rules.team_vcpu_quota_test

import data.quotaform.rules.team_vcpu_quota
import rego.v1

_allocation := {"quotas": [
	{"scope": "team", "target": "data", "max_vcpu": 32, "max_instances": null},
	{"scope": "pool", "target": "etl", "max_vcpu": 1, "max_instances": null},
]}

_team(vcpu, before, pools) := {
	"instances": 0, "vcpu": vcpu, "pools": pools,
	"before": {"instances": 0, "vcpu": before},
}

test_deny_team_sum_of_pools_over_quota if {
	team_vcpu_quota.deny == {{
		"rule": "team-vcpu-quota",
		"severity": "high",
		"message": "team 'data' would use 40 vCPU after this plan across pools batch, etl, reporting, over its quota of 32 (+8); shrink one of its pools or raise the quota",
		"pool": null,
		"address": null,
	}} with input as {"source": "plan", "teams": {
		"data": _team(40, 18, ["batch", "etl", "reporting"]),
		"payments": _team(48, 16, ["api"]),
	}}
		with data.quotaform.allocation as _allocation
}

test_allow_other_teams_not_counted if {
	count(team_vcpu_quota.deny) == 0 with input as {"source": "plan", "teams": {
		"data": _team(32, 0, ["batch"]),
		"payments": _team(48, 0, ["api"]),
	}}
		with data.quotaform.allocation as _allocation
}

test_allow_team_that_shrinks if {
	teams := {"data": _team(40, 48, ["batch"])}
	count(team_vcpu_quota.deny) == 0 with input as {"source": "plan", "teams": teams}
		with data.quotaform.allocation as _allocation
}

test_allow_team_without_pools if {
	count(team_vcpu_quota.deny) == 0 with input as {"source": "plan", "teams": {}}
		with data.quotaform.allocation as _allocation
}
