package quotaform.rules.unpriced_cost_test

import data.quotaform.rules.unpriced_cost
import rego.v1

_unpriced := [{
	"address": "aws_db_instance.main", "type": "aws_db_instance", "pool": "db",
	"instance_type": "db.r5.large", "reason": "the instance catalog has no RDS on-demand prices",
}]

test_deny_lists_unpriced_resource_under_budget if {
	unpriced_cost.deny == {{
		"rule": "unpriced-cost",
		"severity": "low",
		"message": "aws_db_instance.main is left out of the monthly cost delta: the instance catalog has no RDS on-demand prices; the cost budget does not cover it",
		"pool": "db",
		"address": "aws_db_instance.main",
	}} with input as {"source": "plan", "cost": {"budget_usd": 100, "unpriced": _unpriced}}
}

test_allow_without_budget if {
	count(unpriced_cost.deny) == 0 with input as {"source": "plan", "cost": {"budget_usd": null, "unpriced": _unpriced}}
}
