# METADATA
# title: Access helpers of the quotaform rules
# description: >-
#   Whether the declarations restrict who may change pools, who requests the
#   change, and which resources a plan modifies. Shared by the pool-access and
#   unknown-requestor rules. The pools a plan changes are in quotaform.changes.
package quotaform.lib

import rego.v1

# access_declared holds when the declarations restrict who may change pools:
# an access grant, or a team that lists its members.
access_declared if count(object.get(data.quotaform.allocation, "access", [])) > 0

access_declared if {
	some team in data.quotaform.allocation.teams
	count(object.get(team, "members", [])) > 0
}

# modifies holds for a resource the plan creates, updates, replaces or deletes.
modifies(resource) if {
	some action in resource.actions
	action in {"create", "update", "delete"}
}

# requestor is the person the check runs for, or null when none is known.
requestor := object.get(input, "requestor", null)
