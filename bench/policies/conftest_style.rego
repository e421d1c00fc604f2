# Typical conftest-style rules over the raw plan, for timing user policies.
package main

import rego.v1

changed contains change if {
	some change in input.resource_changes
	change.mode == "managed"
	not "no-op" in change.change.actions
	not "delete" in change.change.actions
}

deny contains msg if {
	some change in changed
	change.type == "aws_instance"
	not change.change.after.tags.owner
	msg := sprintf("%s: instances need an owner tag", [change.address])
}

deny contains msg if {
	some change in input.resource_changes
	"delete" in change.change.actions
	startswith(change.type, "aws_db_")
	msg := sprintf("%s: deleting a database needs a reviewed plan", [change.address])
}

warn contains msg if {
	some change in changed
	change.change.after.associate_public_ip_address == true
	msg := sprintf("%s: instance gets a public IP address", [change.address])
}
