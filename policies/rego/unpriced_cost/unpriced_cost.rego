package quotaform.rules.unpriced_cost

import data.quotaform.lib
import rego.v1

# METADATA
# title: Unpriced cost
# description: >-
#   When a plan has a cost budget, every resource whose cost may change but
#   that has no on-demand price (RDS classes, unknown types, regions or counts)
#   is reported, because the budget check cannot see its cost. The rule is
#   advisory unless allocation.policies sets another level.
# custom:
#   id: unpriced-cost
#   severity: low
deny contains violation if {
	input.source == "plan"
	is_number(input.cost.budget_usd)
	some item in input.cost.unpriced
	message := sprintf(
		"%s is left out of the monthly cost delta: %s; the cost budget does not cover it",
		[item.address, item.reason],
	)
	violation := lib.violation("unpriced-cost", "low", message, item.pool, item.address)
}
