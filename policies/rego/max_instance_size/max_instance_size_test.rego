package quotaform.rules.max_instance_size_test

import data.quotaform.rules.max_instance_size
import rego.v1

_allocation := {"pools": [
	{"name": "api", "kind": "asg", "team": "payments", "max_instance_vcpu": 4, "max_instance_memory_gib": null},
	{"name": "db", "kind": "db", "team": "data", "max_instance_vcpu": null, "max_instance_memory_gib": 32},
	{"name": "free", "kind": "instances", "team": "data", "max_instance_vcpu": null, "max_instance_memory_gib": null},
]}

_resource(address, pool, instance_type, vcpu, memory_gib) := {
	"address": address, "type": "aws_instance", "pool": pool, "changed": true,
	"instance_type": instance_type, "vcpu": vcpu, "memory_gib": memory_gib,
}

test_deny_vcpu_over_pool_limit if {
	max_instance_size.deny == {{
		"rule": "max-instance-size",
		"severity": "medium",
		"message": "aws_launch_template.api uses instance type 'm5.2xlarge' with 8 vCPU, more than pool 'api' allows per instance (max_instance_vcpu = 4); choose a smaller type or raise the limit",
		"pool": "api",
		"address": "aws_launch_template.api",
	}} with input as {"resources": [
		_resource("aws_launch_template.api", "api", "m5.2xlarge", 8, 32),
		_resource("aws_instance.small", "api", "m5.xlarge", 4, 16),
	]}
		with data.quotaform.allocation as _allocation
}

test_deny_memory_of_rds_class if {
	max_instance_size.deny == {{
		"rule": "max-instance-size",
		"severity": "medium",
		"message": "aws_db_instance.main uses instance type 'db.r5.2xlarge' with 64 GiB of memory, more than pool 'db' allows per instance (max_instance_memory_gib = 32); choose a smaller type or raise the limit",
		"pool": "db",
		"address": "aws_db_instance.main",
	}} with input as {"resources": [_resource("aws_db_instance.main", "db", "db.r5.2xlarge", 8, 64)]}
		with data.quotaform.allocation as _allocation
}

test_deny_mixed_instances_override if {
	group := object.union(_resource("aws_autoscaling_group.api", "api", "m5.large", 2, 8), {"overrides": [
		{"instance_type": "m5.large", "vcpu": 2, "memory_gib": 8},
		{"instance_type": "m5.4xlarge", "vcpu": 16, "memory_gib": 64},
	]})
	max_instance_size.deny == {{
		"rule": "max-instance-size",
		"severity": "medium",
		"message": "aws_autoscaling_group.api uses instance type 'm5.4xlarge' with 16 vCPU, more than pool 'api' allows per instance (max_instance_vcpu = 4); choose a smaller type or raise the limit",
		"pool": "api",
		"address": "aws_autoscaling_group.api",
	}} with input as {"resources": [group]}
		with data.quotaform.allocation as _allocation
}

test_allow_unsized_unchanged_and_unlimited if {
	unchanged := object.union(_resource("aws_instance.old", "api", "m5.8xlarge", 32, 128), {"changed": false})
	count(max_instance_size.deny) == 0 with input as {"resources": [
		unchanged,
		_resource("aws_instance.unknown", "api", "x9.huge", null, null),
		_resource("aws_instance.any", "free", "x1e.32xlarge", 128, 3904),
		_resource("aws_instance.loose", null, "x1e.32xlarge", 128, 3904),
	]}
		with data.quotaform.allocation as _allocation
}
