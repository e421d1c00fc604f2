package quotaform.rules.team_vcpu_quota

import data.quotaform.lib
import data.quotaform.quotas
import rego.v1

# METADATA
# title: Team vCPU quota
# description: >-
#   The pools of a team together may not use more vCPU than the team quota's
#   max_vcpu. A pool belongs to the team its declaration names, or for an
#   undeclared pool the team of its quotaform:team tag; a pool nested in a
#   pool of the same team is counted once. A plan that leaves an over-quota
#   team no larger than before is not denied.
# custom:
#   id: team-vcpu-quota
#   severity: high
deny contains violation if {
	some quota in quotas.exceeded("team", "vcpu")
	team := quota.target
	after := input.teams[team].vcpu
	message := sprintf(
		"team '%s' would use %d vCPU %s across pools %s, over its quota of %d (+%d); %s",
		[
			team, after, lib.moment, quotas.team_pools(team), quota.max_vcpu,
			after - quota.max_vcpu, "shrink one of its pools or raise the quota",
		],
	)
	violation := lib.violation("team-vcpu-quota", "high", message, null, null)
}
