package quotaform.rules.monthly_cost_budget_test

import data.quotaform.rules.monthly_cost_budget
import rego.v1

_line(address, delta) := {"address": address, "pool": null, "before_usd": 0, "after_usd": delta, "delta_usd": delta}

_cost(budget, before, after, lines, unpriced) := {
	"hours_per_month": 730, "budget_usd": budget, "before_usd": before, "after_usd": after,
	"delta_usd": after - before, "resources": lines, "unpriced": unpriced,
}

test_deny_over_budget_names_largest_increases if {
	lines := [
		_line("aws_autoscaling_group.api", 1121.28),
		_line("aws_instance.b", 70.08),
		_line("aws_instance.c", 35.04),
		_line("aws_instance.d", 17.52),
		_line("aws_instance.e", -140.16),
	]
	unpriced := [{"address": "aws_db_instance.main"}]
	monthly_cost_budget.deny == {{
		"rule": "monthly-cost-budget",
		"severity": "medium",
		"message": "this plan raises the on-demand cost by 1103.76 USD a month (560.64 -> 1664.40), over the budget of 500.00 USD per plan (+603.76); largest increases: aws_autoscaling_group.api +1121.28, aws_instance.b +70.08, aws_instance.c +35.04 (1 resources without a price not counted); make the change smaller or raise the budget (--budget or allocation.max_monthly_cost_delta_usd)",
		"pool": null,
		"address": null,
	}} with input as {"source": "plan", "cost": _cost(500, 560.64, 1664.4, lines, unpriced)}
}

test_allow_within_budget_without_budget_and_for_config if {
	lines := [_line("aws_instance.b", 70.08)]
	count(monthly_cost_budget.deny) == 0 with input as {"source": "plan", "cost": _cost(70.08, 0, 70.08, lines, [])}
	count(monthly_cost_budget.deny) == 0 with input as {"source": "plan", "cost": _cost(null, 0, 70.08, lines, [])}
	count(monthly_cost_budget.deny) == 0 with input as {"source": "config", "cost": _cost(1, 0, 70.08, lines, [])}
}
