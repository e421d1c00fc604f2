package quotaform.lib.access_test

import data.quotaform.lib
import rego.v1

_pools := [{"name": "api", "team": "payments"}, {"name": "etl", "team": "data"}]

test_allow_access_declared_by_grant_or_members if {
	lib.access_declared with data.quotaform.allocation as {"teams": [], "access": [{"team": "data"}]}
	lib.access_declared with data.quotaform.allocation as {"teams": [{"name": "data", "members": ["ann"]}]}
	not lib.access_declared with data.quotaform.allocation as {"teams": [{"name": "data", "members": []}], "access": []}
}

test_allow_changed_pools_skip_no_op_and_undeclared if {
	resources := [
		{"address": "aws_instance.a", "pool": "api", "actions": ["delete"]},
		{"address": "aws_instance.b", "pool": "etl", "actions": ["no-op"]},
		{"address": "aws_instance.c", "pool": "ghost", "actions": ["create"]},
		{"address": "aws_instance.d", "pool": null, "actions": ["create"]},
	]
	lib.changed_pools == {"api"} with input as {"resources": resources}
		with data.quotaform.allocation as {"pools": _pools}
}

test_allow_requestor_defaults_to_null if {
	lib.requestor == null with input as {"resources": []}
	lib.requestor == {"name": "ann"} with input as {"requestor": {"name": "ann"}}
}
