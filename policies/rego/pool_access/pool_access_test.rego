package quotaform.rules.pool_access_test

import data.quotaform.rules.pool_access
import rego.v1

_allocation := {
	"teams": [
		{"name": "payments", "members": ["Alice"]},
		{"name": "data", "members": ["bob", "alice"]},
	],
	"pools": [
		{"name": "api", "kind": "asg", "team": "payments"},
		{"name": "etl", "kind": "instances", "team": "data"},
		{"name": "shared", "kind": "instances", "team": "payments"},
		{"name": "shared-batch", "kind": "instances", "team": "payments"},
	],
	"access": [{"team": "data", "pools": ["shared"], "principals": ["Carol"]}],
}

_input(requestor, resources) := {
	"source": "plan",
	"requestor": requestor,
	"resources": resources,
	"pools": {"shared-batch": {"ancestors": ["shared"]}},
}

_resource(address, pool, actions) := {"address": address, "pool": pool, "actions": actions}

test_deny_member_of_other_team if {
	bob := {"name": "bob", "source": "github-actions", "teams": ["data"]}
	resources := [
		_resource("aws_autoscaling_group.api", "api", ["update"]),
		_resource("aws_launch_template.api", "api", ["create"]),
		_resource("aws_instance.etl", "etl", ["create"]),
	]
	pool_access.deny == {{
		"rule": "pool-access",
		"severity": "high",
		"message": "bob (member of data) may not change pool 'api', which is open to teams payments; the plan changes aws_autoscaling_group.api, aws_launch_template.api. Add them to a team with access or grant access in allocation.access",
		"pool": "api",
		"address": null,
	}} with input as _input(bob, resources)
		with data.quotaform.allocation as _allocation
}

test_deny_requestor_without_team_lists_openings if {
	dave := {"name": "dave", "source": "flag", "teams": []}
	pool_access.deny == {{
		"rule": "pool-access",
		"severity": "high",
		"message": "dave (member of no team) may not change pool 'shared-batch', which is open to teams data, payments; principals Carol; the plan changes aws_instance.batch[0]. Add them to a team with access or grant access in allocation.access",
		"pool": "shared-batch",
		"address": null,
	}} with input as _input(dave, [_resource("aws_instance.batch[0]", "shared-batch", ["delete"])])
		with data.quotaform.allocation as _allocation
}

test_allow_owner_grant_principal_and_nested if {
	alice := {"name": "alice", "source": "flag", "teams": ["data", "payments"]}
	bob := {"name": "bob", "source": "flag", "teams": ["data"]}
	carol := {"name": "carol", "source": "gitlab-ci", "teams": []}
	shared := [_resource("aws_instance.shared", "shared", ["create"])]
	nested := [_resource("aws_instance.batch", "shared-batch", ["create"])]
	count(pool_access.deny) == 0 with input as _input(alice, [_resource("aws_instance.api", "api", ["create"])])
		with data.quotaform.allocation as _allocation
	count(pool_access.deny) == 0 with input as _input(bob, shared) with data.quotaform.allocation as _allocation
	count(pool_access.deny) == 0 with input as _input(carol, shared) with data.quotaform.allocation as _allocation
	count(pool_access.deny) == 0 with input as _input(bob, nested) with data.quotaform.allocation as _allocation
}

test_allow_no_op_unknown_requestor_and_open_declarations if {
	bob := {"name": "bob", "source": "flag", "teams": ["data"]}
	api := [_resource("aws_instance.api", "api", ["create"])]
	count(pool_access.deny) == 0 with input as _input(bob, [_resource("aws_instance.api", "api", ["no-op"])])
		with data.quotaform.allocation as _allocation
	count(pool_access.deny) == 0 with input as _input(null, api) with data.quotaform.allocation as _allocation
	open := object.union(_allocation, {"teams": [{"name": "payments"}, {"name": "data"}], "access": []})
	count(pool_access.deny) == 0 with input as _input(bob, api) with data.quotaform.allocation as open
}

test_deny_each_pool_lists_its_own_changes if {
	bob := {"name": "bob", "source": "flag", "teams": ["data"]}
	resources := [
		_resource("aws_instance.api_b", "api", ["create"]),
		_resource("aws_instance.api_a", "api", ["delete", "create"]),
		_resource("aws_instance.api_kept", "api", ["no-op"]),
		_resource("aws_instance.batch", "shared-batch", ["update"]),
		_resource("aws_instance.etl", "etl", ["create"]),
	]
	open_batch := object.union(_allocation, {"access": []})
	pool_access.deny == {
		{
			"rule": "pool-access",
			"severity": "high",
			"message": "bob (member of data) may not change pool 'api', which is open to teams payments; the plan changes aws_instance.api_a, aws_instance.api_b. Add them to a team with access or grant access in allocation.access",
			"pool": "api",
			"address": null,
		},
		{
			"rule": "pool-access",
			"severity": "high",
			"message": "bob (member of data) may not change pool 'shared-batch', which is open to teams payments; the plan changes aws_instance.batch. Add them to a team with access or grant access in allocation.access",
			"pool": "shared-batch",
			"address": null,
		},
	} with input as _input(bob, resources)
		with data.quotaform.allocation as open_batch
}
