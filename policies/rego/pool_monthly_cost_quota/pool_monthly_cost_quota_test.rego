package quotaform.rules.pool_monthly_cost_quota_test

import data.quotaform.rules.pool_monthly_cost_quota
import rego.v1

_allocation := {
	"pools": [{"name": "batch", "kind": "instances", "team": "data"}],
	"quotas": [
		{"scope": "pool", "target": "batch", "max_monthly_cost_usd": 1000},
		{"scope": "pool", "target": "api", "max_monthly_cost_usd": null, "max_vcpu": 1},
	],
}

_usage(cost, before) := {"monthly_cost_usd": cost, "before": {"monthly_cost_usd": before}}

test_deny_cost_over_quota_names_cents if {
	pool_monthly_cost_quota.deny == {{
		"rule": "pool-monthly-cost-quota",
		"severity": "high",
		"message": "pool 'batch' would cost 1241 USD a month on demand after this plan, over its quota of 1000 USD (+241); lower count or raise the quota",
		"pool": "batch",
		"address": null,
	}} with input as {"source": "plan", "pools": {"batch": _usage(1241.0, 248.2)}}
		with data.quotaform.allocation as _allocation
}

test_deny_cost_excess_rounded_to_cents if {
	pool_monthly_cost_quota.deny == {{
		"rule": "pool-monthly-cost-quota",
		"severity": "high",
		"message": "pool 'batch' would cost 1116.9 USD a month on demand after this plan, over its quota of 1000 USD (+116.9); lower count or raise the quota",
		"pool": "batch",
		"address": null,
	}} with input as {"source": "plan", "pools": {"batch": _usage(1116.9, 0)}}
		with data.quotaform.allocation as _allocation
}

test_allow_unset_cost_limit if {
	pools := {"api": _usage(99999.0, 0), "batch": _usage(10.0, 0)}
	count(pool_monthly_cost_quota.deny) == 0 with input as {"source": "plan", "pools": pools}
		with data.quotaform.allocation as _allocation
}

test_allow_cheaper_over_quota_pool if {
	pools := {"batch": _usage(1100.0, 1200.0)}
	count(pool_monthly_cost_quota.deny) == 0 with input as {"source": "plan", "pools": pools}
		with data.quotaform.allocation as _allocation
}
