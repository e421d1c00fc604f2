package quotaform.changes_test

import data.quotaform.changes
import rego.v1

_pools := [{"name": "api", "team": "payments"}, {"name": "etl", "team": "data"}]

test_allow_changed_pools_skip_no_op_and_undeclared if {
	resources := [
		{"address": "aws_instance.a", "pool": "api", "actions": ["delete"]},
		{"address": "aws_instance.b", "pool": "etl", "actions": ["no-op"]},
		{"address": "aws_instance.c", "pool": "ghost", "actions": ["create"]},
		{"address": "aws_instance.d", "pool": null, "actions": ["create"]},
	]
	changes.changed_pools == {"api"} with input as {"resources": resources}
		with data.quotaform.allocation as {"pools": _pools}
}
