package quotaform.rules.allowed_regions_test

import data.quotaform.rules.allowed_regions
import rego.v1

_allocation := {
	"allowed_regions": ["us-east-1", "eu-west-1"],
	"pools": [{"name": "api", "kind": "asg", "team": "payments", "region": "us-east-1"}],
}

_resource(address, type, pool, region, changed) := {
	"address": address, "type": type, "pool": pool, "region": region, "changed": changed,
}

test_deny_region_outside_allowed_list if {
	allowed_regions.deny == {{
		"rule": "allowed-regions",
		"severity": "high",
		"message": "aws_s3_bucket.logs is in region 'ap-south-1', which is not allowed (allowed: eu-west-1, us-east-1); move it to an allowed region or add the region to allocation.allowed_regions",
		"pool": null,
		"address": "aws_s3_bucket.logs",
	}} with input as {"resources": [
		_resource("aws_s3_bucket.logs", "aws_s3_bucket", null, "ap-south-1", true),
		_resource("aws_s3_bucket.eu", "aws_s3_bucket", null, "eu-west-1", true),
	]}
		with data.quotaform.allocation as _allocation
}

test_deny_unknown_region_when_regions_are_restricted if {
	allowed_regions.deny == {{
		"rule": "allowed-regions",
		"severity": "high",
		"message": "aws_sqs_queue.jobs has no region known at plan time, so it cannot be checked against the allowed regions (eu-west-1, us-east-1); set the provider's region as a constant or variable",
		"pool": null,
		"address": "aws_sqs_queue.jobs",
	}} with input as {"resources": [_resource("aws_sqs_queue.jobs", "aws_sqs_queue", null, null, true)]}
		with data.quotaform.allocation as _allocation
}

test_deny_pool_resource_outside_pool_region if {
	allowed_regions.deny == {{
		"rule": "allowed-regions",
		"severity": "high",
		"message": "aws_autoscaling_group.api is in region 'eu-west-1', but its pool 'api' is declared in 'us-east-1'; create it in the pool's region or declare a pool for that region",
		"pool": "api",
		"address": "aws_autoscaling_group.api",
	}} with input as {"resources": [_resource("aws_autoscaling_group.api", "aws_autoscaling_group", "api", "eu-west-1", true)]}
		with data.quotaform.allocation as _allocation
}

test_allow_unrestricted_and_unchanged if {
	resources := [
		_resource("aws_s3_bucket.old", "aws_s3_bucket", null, "ap-south-1", false),
		_resource("aws_instance.api", "aws_instance", "api", "us-east-1", true),
	]
	count(allowed_regions.deny) == 0 with input as {"resources": resources}
		with data.quotaform.allocation as _allocation
	count(allowed_regions.deny) == 0 with input as {"resources": [_resource("aws_s3_bucket.x", "aws_s3_bucket", null, null, true)]}
		with data.quotaform.allocation as {"allowed_regions": [], "pools": []}
}
