package quotaform.rules.pool_access

import data.quotaform.changes
import data.quotaform.lib
import rego.v1

# METADATA
# title: Pool access
# description: >-
#   When the declarations restrict access (any access grant, or any team that
#   lists members), the requestor may create, update or delete resources only
#   in pools open to them: pools their team owns, pools granted to their team
#   in allocation.access, pools whose grant names them as a principal, and the
#   pools nested below any of these. A requestor belongs to every team whose
#   members list them. Only plans are checked; unknown-requestor reports a
#   plan checked without a requestor.
# custom:
#   id: pool-access
#   severity: high
deny contains violation if {
	input.source == "plan"
	lib.access_declared
	requestor := lib.requestor
	is_object(requestor)
	some name in changes.changed_pools
	not _open_to(requestor, name)
	message := sprintf(
		"%s (%s) may not change pool '%s', which is open to %s; the plan changes %s. %s",
		[
			requestor.name, _membership(requestor), name, _openings(name),
			concat(", ", _changed_addresses(name)),
			"Add them to a team with access or grant access in allocation.access",
		],
	)
	violation := lib.violation("pool-access", "high", message, name, null)
}

# _scope is the pool and every pool that encloses it: access to a pool covers its children.
_scope(name) := {name} | {ancestor | some ancestor in object.get(input.pools, [name, "ancestors"], [])}

_open_to(requestor, name) if {
	some pool_name in _scope(name)
	lib.declared_pool(pool_name).team in requestor.teams
}

_open_to(requestor, name) if {
	some grant in _grants(name)
	grant.team in requestor.teams
}

_open_to(requestor, name) if {
	some grant in _grants(name)
	some principal in grant.principals
	lower(principal) == lower(requestor.name)
}

_grants(name) := [grant |
	some grant in object.get(data.quotaform.allocation, "access", [])
	some pool_name in grant.pools
	pool_name in _scope(name)
]

_membership(requestor) := sprintf("member of %s", [concat(", ", sort(requestor.teams))]) if {
	count(requestor.teams) > 0
}

_membership(requestor) := "member of no team" if count(requestor.teams) == 0

_openings(name) := concat("; ", [text | some text in [_team_text(name), _principal_text(name)]; text != ""])

_team_text(name) := sprintf("teams %s", [concat(", ", sort(_open_teams(name)))])

_open_teams(name) := {lib.declared_pool(pool_name).team | some pool_name in _scope(name)} | {grant.team | some grant in _grants(name)}

_principal_text(name) := sprintf("principals %s", [concat(", ", sort(_principals(name)))]) if count(_principals(name)) > 0

default _principal_text(_) := ""

_principals(name) := {principal | some grant in _grants(name); some principal in grant.principals}

_changed_addresses(name) := sort(_modified_addresses[name])

# _modified_addresses lists, by pool, the addresses of the resources the plan modifies
# there, so that the resources are read once however many pools are denied.
_modified_addresses[resource.pool] contains resource.address if {
	some resource in input.resources
	lib.modifies(resource)
}
