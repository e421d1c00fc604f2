package quotaform.rules.allowed_tag_values_test

import data.quotaform.rules.allowed_tag_values
import rego.v1

_allocation := {
	"teams": [{"name": "payments"}, {"name": "data"}],
	"pools": [{"name": "api", "kind": "asg", "team": "payments"}],
	"allowed_tag_values": {"env": ["prod", "staging"]},
}

_resource(address, tags) := {
	"address": address, "type": "aws_instance", "changed": true, "tags": tags,
	"pool": object.get(tags, "quotaform:pool", null), "team": object.get(tags, "quotaform:team", null),
}

test_deny_undeclared_team if {
	allowed_tag_values.deny == {{
		"rule": "allowed-tag-values",
		"severity": "medium",
		"message": "aws_s3_bucket.logs has tag quotaform:team = 'paymnets', which is not a declared team (declared: data, payments); fix the tag or declare the team in allocation.teams",
		"pool": null,
		"address": "aws_s3_bucket.logs",
	}} with input as {"resources": [_resource("aws_s3_bucket.logs", {"quotaform:team": "paymnets"})]}
		with data.quotaform.allocation as _allocation
}

test_deny_undeclared_pool if {
	allowed_tag_values.deny == {{
		"rule": "allowed-tag-values",
		"severity": "medium",
		"message": "aws_instance.web has tag quotaform:pool = 'web', which is not a declared pool (declared: api); fix the tag or declare the pool in allocation.pools",
		"pool": "web",
		"address": "aws_instance.web",
	}} with input as {"resources": [_resource("aws_instance.web", {"quotaform:pool": "web", "quotaform:team": "data"})]}
		with data.quotaform.allocation as _allocation
}

test_deny_team_other_than_pool_owner if {
	allowed_tag_values.deny == {{
		"rule": "allowed-tag-values",
		"severity": "medium",
		"message": "aws_instance.api is tagged for team 'data', but its pool 'api' belongs to team 'payments'; tag it quotaform:team = 'payments'",
		"pool": "api",
		"address": "aws_instance.api",
	}} with input as {"resources": [_resource("aws_instance.api", {"quotaform:pool": "api", "quotaform:team": "data"})]}
		with data.quotaform.allocation as _allocation
}

test_deny_value_outside_declared_list if {
	allowed_tag_values.deny == {{
		"rule": "allowed-tag-values",
		"severity": "medium",
		"message": "aws_instance.api has tag env = 'dev', which is not allowed (allowed: prod, staging); use an allowed value or extend allocation.allowed_tag_values",
		"pool": "api",
		"address": "aws_instance.api",
	}} with input as {"resources": [_resource("aws_instance.api", {"quotaform:pool": "api", "quotaform:team": "payments", "env": "dev"})]}
		with data.quotaform.allocation as _allocation
}

test_allow_declared_values_empty_tags_and_unchanged if {
	unchanged := object.union(_resource("aws_instance.old", {"quotaform:team": "nobody", "env": "dev"}), {"changed": false})
	count(allowed_tag_values.deny) == 0 with input as {"resources": [
		_resource("aws_instance.api", {"quotaform:pool": "api", "quotaform:team": "payments", "env": "prod"}),
		_resource("aws_instance.blank", {"quotaform:pool": "", "quotaform:team": "", "env": ""}),
		unchanged,
	]}
		with data.quotaform.allocation as _allocation
}
