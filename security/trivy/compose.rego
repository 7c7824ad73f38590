# METADATA
# title: Compose service runs privileged
# description: A privileged container has every capability and the host's devices.
# custom:
#   id: TRD-C001
#   avd_id: TRD-C001
#   severity: HIGH
#   short_code: compose-privileged
#   recommended_action: Drop the privileged flag and add only the capabilities the service needs.
#   input:
#     selector:
#       - type: yaml
package user.compose.privileged

import rego.v1

deny contains res if {
	some name, service in input.services
	service.privileged == true
	res := result.new(sprintf("service %q runs privileged", [name]), service)
}
