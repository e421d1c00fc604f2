package quotaform.lib_test

import data.quotaform.lib
import rego.v1

test_allow_violation_has_the_five_fields if {
	lib.violation("r", "low", "m", "p", "a") == {
		"rule": "r", "severity": "low", "message": "m", "pool": "p", "address": "a",
	}
}

test_allow_shrink_hint_by_kind if {
	pools := {"pools": [{"name": "api", "kind": "asg"}, {"name": "db", "kind": "db"}]}
	lib.shrink_hint("api") == "lower max_size" with data.quotaform.allocation as pools
	lib.shrink_hint("db") == "lower count" with data.quotaform.allocation as pools
	lib.shrink_hint("gone") == "use fewer or smaller instances" with data.quotaform.allocation as pools
}
