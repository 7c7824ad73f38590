# METADATA
# title: Compose service publishes a port on every interface
# description: A port published without a host address is reachable from the whole network.
# custom:
#   id: TRD-C005
#   avd_id: TRD-C005
#   severity: MEDIUM
#   short_code: compose-public-port
#   recommended_action: Bind published ports to 127.0.0.1 ("127.0.0.1:8000:8000").
#   input:
#     selector:
#       - type: yaml
package user.compose.public_port

import rego.v1

deny contains res if {
	some name, service in input.services
	some port in service.ports
	is_string(port)
	count(split(port, ":")) == 2
	res := result.new(sprintf("service %q publishes %s on every interface", [name, port]), service)
}

deny contains res if {
	some name, service in input.services
	some port in service.ports
	is_number(port)
	res := result.new(sprintf("service %q publishes %v on every interface", [name, port]), service)
}
