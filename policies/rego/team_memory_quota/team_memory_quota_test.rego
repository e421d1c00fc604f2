package quotaform.rules.team_memory_quota_test

import data.quotaform.rules.team_memory_quota
import rego.v1

_allocation := {"quotas": [{"scope": "team", "target": "data", "max_memory_gib": 64}]}

_team(memory, before) := {"memory_gib": memory, "pools": ["batch", "etl"], "before": {"memory_gib": before}}

test_deny_team_memory_over_quota if {
	team_memory_quota.deny == {{
		"rule": "team-memory-quota",
		"severity": "high",
		"message": "team 'data' would use 84.5 GiB of memory after this plan across pools batch, etl, over its quota of 64 GiB (+20.5); shrink one of its pools or raise the quota",
		"pool": null,
		"address": null,
	}} with input as {"source": "plan", "teams": {"data": _team(84.5, 16)}}
		with data.quotaform.allocation as _allocation
}

test_allow_team_memory_within_quota if {
	count(team_memory_quota.deny) == 0 with input as {"source": "plan", "teams": {"data": _team(64.0, 16)}}
		with data.quotaform.allocation as _allocation
}

test_allow_team_memory_that_shrinks if {
	count(team_memory_quota.deny) == 0 with input as {"source": "plan", "teams": {"data": _team(70.0, 80.0)}}
		with data.quotaform.allocation as _allocation
}
