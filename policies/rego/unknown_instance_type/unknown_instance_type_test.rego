package quotaform.rules.unknown_instance_type_test

import data.quotaform.rules.unknown_instance_type
import rego.v1

test_deny_names_type_and_reason if {
	unknown_instance_type.deny == {{
		"rule": "unknown-instance-type",
		"severity": "high",
		"message": "aws_instance.gpu in pool 'ml' cannot be counted against its quotas: instance type 'x9.huge' is not in the instance catalog; use a type from the instance catalog or pass --catalog",
		"pool": "ml",
		"address": "aws_instance.gpu",
	}} with input as {"unsized": [{
		"address": "aws_instance.gpu", "type": "aws_instance", "pool": "ml",
		"instance_type": "x9.huge", "reason": "instance type 'x9.huge' is not in the instance catalog",
	}]}
}

test_allow_when_everything_is_sized if {
	count(unknown_instance_type.deny) == 0 with input as {"unsized": []}
}
