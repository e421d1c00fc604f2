package quotaform.rules.team_memory_quota

import data.quotaform.lib
import data.quotaform.quotas
import rego.v1

# METADATA
# title: Team memory quota
# description: >-
#   The pools of a team together may not use more memory (GiB) than the team
#   quota's max_memory_gib. A plan that leaves an over-quota team no larger
#   than before is not denied.
# custom:
#   id: team-memory-quota
#   severity: high
deny contains violation if {
	some quota in quotas.exceeded("team", "memory_gib")
	team := quota.target
	after := input.teams[team].memory_gib
	message := sprintf(
		"team '%s' would use %v GiB of memory %s across pools %s, over its quota of %v GiB (+%v); %s",
		[
			team, after, lib.moment, quotas.team_pools(team), quota.max_memory_gib,
			quotas.excess(after, quota.max_memory_gib), "shrink one of its pools or raise the quota",
		],
	)
	violation := lib.violation("team-memory-quota", "high", message, null, null)
}
