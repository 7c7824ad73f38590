# METADATA
# title: Compose service shares the host's namespaces or adds broad capabilities
# description: Host network or PID namespaces, or SYS_ADMIN/ALL capabilities, break the container boundary.
# custom:
#   id: TRD-C003
#   avd_id: TRD-C003
#   severity: HIGH
#   short_code: compose-host-namespaces
#   recommended_action: Use the default namespaces and add only narrow capabilities.
#   input:
#     selector:
#       - type: yaml
package user.compose.host_namespaces

import rego.v1

broad := {"ALL", "SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE"}

deny contains res if {
	some name, service in input.services
	some key in ["network_mode", "pid", "ipc"]
	service[key] == "host"
	res := result.new(sprintf("service %q uses the host's %s namespace", [name, key]), service)
}

deny contains res if {
	some name, service in input.services
	some capability in service.cap_add
	broad[upper(capability)]
	res := result.new(sprintf("service %q adds capability %s", [name, capability]), service)
}
