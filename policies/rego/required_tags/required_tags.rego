package quotaform.rules.required_tags

import data.quotaform.lib
import rego.v1

# METADATA
# title: Required tags
# description: >-
#   Every aws_instance, aws_launch_template, aws_autoscaling_group and
#   aws_db_instance the plan creates or updates carries each tag of
#   allocation.required_tags with a non-empty value. Resources the plan leaves
#   alone or deletes are not checked.
# custom:
#   id: required-tags
#   severity: medium
deny contains violation if {
	count(_required) > 0
	some resource in input.resources
	resource.changed
	resource.type in _tagged_types
	missing := {tag | some tag in _required; object.get(resource.tags, tag, "") == ""}
	count(missing) > 0
	message := sprintf(
		"%s is missing required tags %s; add them to the resource or its pool's tags",
		[resource.address, concat(", ", sort(missing))],
	)
	violation := lib.violation("required-tags", "medium", message, resource.pool, resource.address)
}

_tagged_types := {"aws_instance", "aws_launch_template", "aws_autoscaling_group", "aws_db_instance"}

_required := data.quotaform.allocation.required_tags
