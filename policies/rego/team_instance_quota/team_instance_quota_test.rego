package quotaform.rules.team_instance_quota_test

import data.quotaform.rules.team_instance_quota
import rego.v1

_allocation := {"quotas": [
	{"scope": "team", "target": "web", "max_instances": 8, "max_vcpu": null},
	{"scope": "team", "target": "data", "max_vcpu": 4},
]}

_team(instances, before, pools) := {
	"instances": instances, "pools": pools,
	"before": {"instances": before},
}

test_deny_team_instances_over_quota if {
	team_instance_quota.deny == {{
		"rule": "team-instance-quota",
		"severity": "high",
		"message": "team 'web' would run 15 instances when fully allocated across pools frontend, search, over its quota of 8 (+7); shrink one of its pools or raise the quota",
		"pool": null,
		"address": null,
	}} with input as {"source": "config", "teams": {
		"web": _team(15, 0, ["frontend", "search"]),
		"data": _team(99, 0, ["etl"]),
	}}
		with data.quotaform.allocation as _allocation
}

test_allow_team_at_its_quota if {
	count(team_instance_quota.deny) == 0 with input as {"source": "plan", "teams": {
		"web": _team(8, 2, ["frontend"]),
	}}
		with data.quotaform.allocation as _allocation
}

test_allow_team_quota_without_instance_limit if {
	# 'data' limits vCPU only, so 99 instances are not an instance quota breach.
	count(team_instance_quota.deny) == 0 with input as {"source": "plan", "teams": {
		"data": _team(99, 0, ["etl"]),
	}}
		with data.quotaform.allocation as _allocation
}
