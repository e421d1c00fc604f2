package quotaform.rules.required_tags_test

import data.quotaform.rules.required_tags
import rego.v1

_allocation := {"required_tags": ["quotaform:pool", "quotaform:team", "cost-center"]}

_complete_tags := {"quotaform:pool": "api", "quotaform:team": "payments", "cost-center": "7"}

_resource(address, type, tags, changed) := {
	"address": address, "type": type, "pool": object.get(tags, "quotaform:pool", null),
	"tags": tags, "changed": changed,
}

test_deny_missing_tags_sorted if {
	web := _resource("aws_instance.web", "aws_instance", {"quotaform:pool": "api"}, true)
	required_tags.deny == {{
		"rule": "required-tags",
		"severity": "medium",
		"message": "aws_instance.web is missing required tags cost-center, quotaform:team; add them to the resource or its pool's tags",
		"pool": "api",
		"address": "aws_instance.web",
	}} with input as {"resources": [web]}
		with data.quotaform.allocation as _allocation
}

test_deny_empty_tag_value if {
	required_tags.deny == {{
		"rule": "required-tags",
		"severity": "medium",
		"message": "aws_db_instance.main is missing required tags quotaform:pool; add them to the resource or its pool's tags",
		"pool": null,
		"address": "aws_db_instance.main",
	}} with input as {"resources": [{
		"address": "aws_db_instance.main", "type": "aws_db_instance", "pool": null, "changed": true,
		"tags": {"quotaform:pool": "", "quotaform:team": "data", "cost-center": "42"},
	}]}
		with data.quotaform.allocation as {"required_tags": ["quotaform:pool"]}
}

test_allow_untagged_types_and_unchanged_resources if {
	count(required_tags.deny) == 0 with input as {"resources": [
		_resource("aws_security_group.web", "aws_security_group", {}, true),
		_resource("aws_instance.old", "aws_instance", {}, false),
		_resource("aws_launch_template.web", "aws_launch_template", _complete_tags, true),
	]}
		with data.quotaform.allocation as _allocation
}

test_allow_any_tags_when_none_are_required if {
	count(required_tags.deny) == 0 with input as {"resources": [
		_resource("aws_instance.web", "aws_instance", {}, true),
	]}
		with data.quotaform.allocation as {"required_tags": []}
}
