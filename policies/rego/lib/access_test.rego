package quotaform.lib.access_test

import data.quotaform.lib
import rego.v1

test_allow_access_declared_by_grant_or_members if {
	lib.access_declared with data.quotaform.allocation as {"teams": [], "access": [{"team": "data"}]}
	lib.access_declared with data.quotaform.allocation as {"teams": [{"name": "data", "members": ["ann"]}]}
	not lib.access_declared with data.quotaform.allocation as {"teams": [{"name": "data", "members": []}], "access": []}
}

test_allow_requestor_defaults_to_null if {
	lib.requestor == null with input as {"resources": []}
	lib.requestor == {"name": "ann"} with input as {"requestor": {"name": "ann"}}
}
