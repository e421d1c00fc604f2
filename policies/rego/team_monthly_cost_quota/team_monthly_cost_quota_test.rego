package quotaform.rules.team_monthly_cost_quota_test

import data.quotaform.rules.team_monthly_cost_quota
import rego.v1

_allocation := {"quotas": [
	{"scope": "team", "target": "data", "max_monthly_cost_usd": 500.5},
	{"scope": "pool", "target": "data", "max_monthly_cost_usd": 1},
]}

_team(cost, before) := {"monthly_cost_usd": cost, "pools": ["batch"], "before": {"monthly_cost_usd": before}}

test_deny_team_cost_over_quota if {
	team_monthly_cost_quota.deny == {{
		"rule": "team-monthly-cost-quota",
		"severity": "high",
		"message": "team 'data' would cost 620.5 USD a month on demand after this plan across pools batch, over its quota of 500.5 USD (+120); shrink one of its pools or raise the quota",
		"pool": null,
		"address": null,
	}} with input as {"source": "plan", "teams": {"data": _team(620.5, 124.1)}}
		with data.quotaform.allocation as _allocation
}

test_allow_team_cost_within_quota if {
	count(team_monthly_cost_quota.deny) == 0 with input as {"source": "plan", "teams": {"data": _team(500.5, 0)}}
		with data.quotaform.allocation as _allocation
}

test_allow_pool_quota_is_not_a_team_quota if {
	# The pool 'data' quota of 1 USD must not be read as a team limit.
	count(team_monthly_cost_quota.deny) == 0 with input as {"source": "plan", "pools": {}, "teams": {"data": _team(2.0, 0)}}
		with data.quotaform.allocation as {"quotas": [{"scope": "pool", "target": "data", "max_monthly_cost_usd": 1}]}
}
