package quotaform.rules.allowed_tag_values

import data.quotaform.lib
import rego.v1

# METADATA
# title: Allowed tag values
# description: >-
#   On every resource the plan creates or updates, of any type: the
#   quotaform:team tag names a declared team, the quotaform:pool tag names a
#   declared pool, a pool resource's team is the team that owns the pool, and
#   each tag listed in allocation.allowed_tag_values takes one of its values.
#   Empty and missing tags are left to required-tags.
# custom:
#   id: allowed-tag-values
#   severity: medium
deny contains violation if {
	some resource in input.resources
	resource.changed
	team := resource.tags["quotaform:team"]
	team != ""
	not _teams[team]
	message := sprintf(
		"%s has tag quotaform:team = '%s', which is not a declared team (declared: %s); %s",
		[resource.address, team, _list(object.keys(_teams)), "fix the tag or declare the team in allocation.teams"],
	)
	violation := lib.violation("allowed-tag-values", "medium", message, resource.pool, resource.address)
}

deny contains violation if {
	some resource in input.resources
	resource.changed
	pool := resource.tags["quotaform:pool"]
	pool != ""
	not _pools[pool]
	message := sprintf(
		"%s has tag quotaform:pool = '%s', which is not a declared pool (declared: %s); %s",
		[resource.address, pool, _list(object.keys(_pools)), "fix the tag or declare the pool in allocation.pools"],
	)
	violation := lib.violation("allowed-tag-values", "medium", message, pool, resource.address)
}

deny contains violation if {
	some resource in input.resources
	resource.changed
	pool := _pools[resource.pool]
	is_string(resource.team)
	resource.team != pool.team
	message := sprintf(
		"%s is tagged for team '%s', but its pool '%s' belongs to team '%s'; tag it quotaform:team = '%s'",
		[resource.address, resource.team, pool.name, pool.team, pool.team],
	)
	violation := lib.violation("allowed-tag-values", "medium", message, pool.name, resource.address)
}

deny contains violation if {
	count(_allowed_values) > 0
	some resource in input.resources
	resource.changed
	some key, allowed in _allowed_values
	value := resource.tags[key]
	value != ""
	not value in allowed
	message := sprintf(
		"%s has tag %s = '%s', which is not allowed (allowed: %s); %s",
		[resource.address, key, value, _list(allowed), "use an allowed value or extend allocation.allowed_tag_values"],
	)
	violation := lib.violation("allowed-tag-values", "medium", message, resource.pool, resource.address)
}

_allowed_values := object.get(data.quotaform.allocation, "allowed_tag_values", {})

_teams := {team.name: team | some team in data.quotaform.allocation.teams}

_pools := {pool.name: pool | some pool in data.quotaform.allocation.pools}

_list(names) := concat(", ", sort(names)) if count(names) > 0

_list(names) := "none" if count(names) == 0
