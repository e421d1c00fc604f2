package quotaform.rules.team_monthly_cost_quota

import data.quotaform.lib
import data.quotaform.quotas
import rego.v1

# METADATA
# title: Team monthly cost quota
# description: >-
#   The pools of a team together may not cost more a month than the team
#   quota's max_monthly_cost_usd, at on-demand Linux prices for 730 hours. A
#   plan that leaves an over-quota team no more expensive than before is not
#   denied.
# custom:
#   id: team-monthly-cost-quota
#   severity: high
deny contains violation if {
	some quota in quotas.exceeded("team", "monthly_cost_usd")
	team := quota.target
	after := input.teams[team].monthly_cost_usd
	message := sprintf(
		"team '%s' would cost %v USD a month on demand %s across pools %s, over its quota of %v USD (+%v); %s",
		[
			team, after, lib.moment, quotas.team_pools(team), quota.max_monthly_cost_usd,
			quotas.excess(after, quota.max_monthly_cost_usd), "shrink one of its pools or raise the quota",
		],
	)
	violation := lib.violation("team-monthly-cost-quota", "high", message, null, null)
}
