package quotaform.rules.allowed_instance_types_test

import data.quotaform.rules.allowed_instance_types
import rego.v1

_allocation := {"pools": [
	_pool("api", "asg", [], ["m6i", "m5"]),
	_pool("etl", "instances", ["c5.large"], []),
	_pool("db", "db", [], ["r5"]),
	_pool("free", "instances", [], []),
]}

_pool(name, kind, types, families) := {
	"name": name, "kind": kind, "team": "data",
	"allowed_instance_types": types, "allowed_families": families,
}

_resource(address, pool, instance_type, changed) := {
	"address": address, "type": "aws_instance", "pool": pool,
	"instance_type": instance_type, "changed": changed,
}

test_deny_family_not_allowed if {
	allowed_instance_types.deny == {{
		"rule": "allowed-instance-types",
		"severity": "medium",
		"message": "aws_launch_template.api uses instance type 'c5.xlarge', which pool 'api' does not allow (allowed: m5.*, m6i.*)",
		"pool": "api",
		"address": "aws_launch_template.api",
	}} with input as {"resources": [
		_resource("aws_launch_template.api", "api", "c5.xlarge", true),
		_resource("aws_autoscaling_group.api", "api", "m6i.xlarge", true),
	]}
		with data.quotaform.allocation as _allocation
}

test_deny_type_outside_list if {
	allowed_instance_types.deny == {{
		"rule": "allowed-instance-types",
		"severity": "medium",
		"message": "aws_instance.etl uses instance type 'c5.xlarge', which pool 'etl' does not allow (allowed: c5.large)",
		"pool": "etl",
		"address": "aws_instance.etl",
	}} with input as {"resources": [_resource("aws_instance.etl", "etl", "c5.xlarge", true)]}
		with data.quotaform.allocation as _allocation
}

test_allow_rds_class_by_family if {
	database := _resource("aws_db_instance.main", "db", "db.r5.large", true)
	count(allowed_instance_types.deny) == 0 with input as {"resources": [database]}
		with data.quotaform.allocation as _allocation
}

test_allow_unchanged_and_unpooled_resources if {
	count(allowed_instance_types.deny) == 0 with input as {"resources": [
		_resource("aws_instance.old", "etl", "t2.micro", false),
		_resource("aws_instance.loose", null, "x1e.32xlarge", true),
		_resource("aws_instance.any", "free", "x1e.32xlarge", true),
	]}
		with data.quotaform.allocation as _allocation
}

test_deny_mixed_instances_override_type if {
	group := object.union(_resource("aws_autoscaling_group.api", "api", "m6i.large", true), {"overrides": [
		{"instance_type": "m6i.large", "weighted_capacity": 1},
		{"instance_type": "c6i.large", "weighted_capacity": 1},
	]})
	allowed_instance_types.deny == {{
		"rule": "allowed-instance-types",
		"severity": "medium",
		"message": "aws_autoscaling_group.api uses instance type 'c6i.large', which pool 'api' does not allow (allowed: m5.*, m6i.*)",
		"pool": "api",
		"address": "aws_autoscaling_group.api",
	}} with input as {"resources": [group]}
		with data.quotaform.allocation as _allocation
}

test_deny_every_resource_of_a_denied_pool_and_type if {
	allowed_instance_types.deny == {
		{
			"rule": "allowed-instance-types",
			"severity": "medium",
			"message": "aws_instance.a uses instance type 'c5.large', which pool 'api' does not allow (allowed: m5.*, m6i.*)",
			"pool": "api",
			"address": "aws_instance.a",
		},
		{
			"rule": "allowed-instance-types",
			"severity": "medium",
			"message": "aws_instance.b uses instance type 'c5.large', which pool 'api' does not allow (allowed: m5.*, m6i.*)",
			"pool": "api",
			"address": "aws_instance.b",
		},
	} with input as {"resources": [
		_resource("aws_instance.a", "api", "c5.large", true),
		_resource("aws_instance.b", "api", "c5.large", true),
		_resource("aws_instance.c", "etl", "c5.large", true),
		_resource("aws_instance.d", "free", "c5.large", true),
		_resource("aws_instance.e", "api", "m5.large", true),
	]}
		with data.quotaform.allocation as _allocation
}
