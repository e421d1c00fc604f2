package quotaform.rules.monthly_cost_budget

import data.quotaform.lib
import rego.v1

# METADATA
# title: Monthly cost budget
# description: >-
#   A plan may not raise the on-demand monthly cost by more than its budget:
#   --budget, or else allocation.max_monthly_cost_delta_usd. The delta is
#   count x on-demand Linux price x 730 h after the change minus before it,
#   with auto scaling groups at max_size. Resources without a price are not
#   counted; unpriced-cost lists them. Only plans are checked.
# custom:
#   id: monthly-cost-budget
#   severity: medium
deny contains violation if {
	input.source == "plan"
	cost := input.cost
	is_number(cost.budget_usd)
	cost.delta_usd > cost.budget_usd
	message := sprintf(
		"this plan raises the on-demand cost by %s USD a month (%s -> %s), over the budget of %s USD per plan (+%s); largest increases: %s%s; %s",
		[
			lib.usd(cost.delta_usd), lib.usd(cost.before_usd), lib.usd(cost.after_usd),
			lib.usd(cost.budget_usd), lib.usd(cost.delta_usd - cost.budget_usd),
			concat(", ", _largest_increases), _unpriced_note,
			"make the change smaller or raise the budget (--budget or allocation.max_monthly_cost_delta_usd)",
		],
	)
	violation := lib.violation("monthly-cost-budget", "medium", message, null, null)
}

# The input lists resources by cost change, largest increase first.
_largest_increases := [sprintf("%s +%s", [item.address, lib.usd(item.delta_usd)]) |
	some item in array.slice(_increases, 0, 3)
]

_increases := [item | some item in input.cost.resources; item.delta_usd > 0]

_unpriced_note := sprintf(" (%d resources without a price not counted)", [count(input.cost.unpriced)]) if {
	count(input.cost.unpriced) > 0
}

default _unpriced_note := ""
