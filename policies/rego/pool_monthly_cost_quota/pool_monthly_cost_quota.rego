package quotaform.rules.pool_monthly_cost_quota

import data.quotaform.lib
import data.quotaform.quotas
import rego.v1

# METADATA
# title: Pool monthly cost quota
# description: >-
#   A pool, with every pool nested under it, may not cost more a month than
#   its quota's max_monthly_cost_usd: every instance it may run at its
#   on-demand Linux price for 730 hours. A plan that leaves an over-quota pool
#   no more expensive than before is not denied.
# custom:
#   id: pool-monthly-cost-quota
#   severity: high
deny contains violation if {
	some quota in quotas.exceeded("pool", "monthly_cost_usd")
	name := quota.target
	after := input.pools[name].monthly_cost_usd
	message := sprintf(
		"pool '%s' would cost %v USD a month on demand %s%s, over its quota of %v USD (+%v); %s or raise the quota",
		[
			name, after, lib.moment, quotas.children(name), quota.max_monthly_cost_usd,
			quotas.excess(after, quota.max_monthly_cost_usd), quotas.shrink_hint(name),
		],
	)
	violation := lib.violation("pool-monthly-cost-quota", "high", message, name, null)
}
