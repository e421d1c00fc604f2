package quotaform.rules.unknown_requestor

import data.quotaform.changes
import data.quotaform.lib
import rego.v1

# METADATA
# title: Unknown requestor
# description: >-
#   When the declarations restrict access and a plan changes resources in
#   declared pools, but no requestor is known (no --requestor, no GitHub
#   Actions or GitLab CI identity), pool-access cannot run. The rule is
#   advisory unless allocation.policies sets another level, so local runs
#   warn; apply pipelines can make it hard-mandatory.
# custom:
#   id: unknown-requestor
#   severity: medium
deny contains violation if {
	input.source == "plan"
	lib.access_declared
	lib.requestor == null
	count(changes.changed_pools) > 0
	message := sprintf(
		"no requestor is known, so access to pools %s was not checked; %s",
		[
			concat(", ", sort(changes.changed_pools)),
			"pass --requestor NAME, or run in GitHub Actions (GITHUB_ACTOR) or GitLab CI (GITLAB_USER_LOGIN)",
		],
	)
	violation := lib.violation("unknown-requestor", "medium", message, null, null)
}
