# METADATA
# title: Compose service has a secret written into its environment
# description: A password, token or key written into the compose file is committed with it.
# custom:
#   id: TRD-C004
#   avd_id: TRD-C004
#   severity: HIGH
#   short_code: compose-literal-secret
#   recommended_action: Interpolate the value from the environment, e.g. ${NAME:?set NAME}.
#   input:
#     selector:
#       - type: yaml
package user.compose.literal_secret

import rego.v1

secret_name(key) if regex.match(`(?i)(password|passwd|secret|token|api_?key|private_?key)`, key)

literal(value) if {
	is_string(value)
	count(value) > 0
	not contains(value, "${")
}

deny contains res if {
	some name, service in input.services
	is_object(service.environment)
	some key, value in service.environment
	secret_name(key)
	literal(value)
	res := result.new(sprintf("service %q sets %s to a literal value", [name, key]), service)
}

deny contains res if {
	some name, service in input.services
	is_array(service.environment)
	some entry in service.environment
	[key, value] := split(entry, "=")
	secret_name(key)
	literal(value)
	res := result.new(sprintf("service %q sets %s to a literal value", [name, key]), service)
}
