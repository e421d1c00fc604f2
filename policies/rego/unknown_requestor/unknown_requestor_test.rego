package quotaform.rules.unknown_requestor_test

import data.quotaform.rules.unknown_requestor
import rego.v1

_allocation := {
	"teams": [{"name": "payments", "members": ["alice"]}],
	"pools": [{"name": "api", "team": "payments"}, {"name": "web", "team": "payments"}],
	"access": [],
}

_changes := [
	{"address": "aws_instance.web", "pool": "web", "actions": ["delete"]},
	{"address": "aws_instance.api", "pool": "api", "actions": ["create"]},
]

test_deny_names_the_unchecked_pools if {
	unknown_requestor.deny == {{
		"rule": "unknown-requestor",
		"severity": "medium",
		"message": "no requestor is known, so access to pools api, web was not checked; pass --requestor NAME, or run in GitHub Actions (GITHUB_ACTOR) or GitLab CI (GITLAB_USER_LOGIN)",
		"pool": null,
		"address": null,
	}} with input as {"source": "plan", "requestor": null, "resources": _changes}
		with data.quotaform.allocation as _allocation
}

test_allow_known_requestor_config_and_open_pools if {
	alice := {"name": "alice", "source": "flag", "teams": ["payments"]}
	count(unknown_requestor.deny) == 0 with input as {"source": "plan", "requestor": alice, "resources": _changes}
		with data.quotaform.allocation as _allocation
	count(unknown_requestor.deny) == 0 with input as {"source": "config", "resources": _changes}
		with data.quotaform.allocation as _allocation
	open := object.union(_allocation, {"teams": [{"name": "payments", "members": []}]})
	count(unknown_requestor.deny) == 0 with input as {"source": "plan", "resources": _changes}
		with data.quotaform.allocation as open
}
