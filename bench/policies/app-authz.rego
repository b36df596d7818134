# The seeds' `app.authz` policy in Rego, as the peer benchmark evaluates it with regorus.
# The same rules as examples/policies/app-authz.policy.json (Vigil) and app-authz.cedar.
# Input: {"method", "path", "user": verified token claims (absent when anonymous),
#         "device": verified device-token claims (absent when none)}.
package app.authz

import rego.v1

default allow := false

write_methods := {"POST", "PUT", "PATCH", "DELETE"}

read_methods := {"GET", "HEAD"}

confidential if startswith(input.path, "/api/confidential/")

mfa if "mfa" in input.user.amr

deny contains "User account is blocked" if input.user.blocked == true

deny contains "MFA verification required" if {
	input.method in write_methods
	not mfa
}

deny contains "MFA verification required" if {
	confidential
	not mfa
}

deny contains "Device compliance check failed" if {
	confidential
	not input.device.compliant == true
}

permitted if {
	input.user
	input.method in read_methods
	not confidential
}

permitted if {
	input.method in write_methods
	some role in input.user.roles
	role in {"editor", "admin"}
	not confidential
}

permitted if {
	confidential
	some role in input.user.roles
	role in {"analyst", "admin"}
}

allow if {
	input.user
	count(deny) == 0
	permitted
}
