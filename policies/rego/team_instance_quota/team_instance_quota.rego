package quotaform.rules.team_instance_quota

import data.quotaform.lib
import data.quotaform.quotas
import rego.v1

# METADATA
# title: Team instance quota
# description: >-
#   The pools of a team together may not run more instances than the team
#   quota's max_instances, each ASG and EKS node group at max_size. A plan
#   that leaves an over-quota team no larger than before is not denied.
# custom:
#   id: team-instance-quota
#   severity: high
deny contains violation if {
	some quota in quotas.exceeded("team", "instances")
	team := quota.target
	after := input.teams[team].instances
	message := sprintf(
		"team '%s' would run %d instances %s across pools %s, over its quota of %d (+%d); %s",
		[
			team, after, lib.moment, quotas.team_pools(team), quota.max_instances,
			after - quota.max_instances, "shrink one of its pools or raise the quota",
		],
	)
	violation := lib.violation("team-instance-quota", "high", message, null, null)
}
