# METADATA
# title: Compose service mounts the Docker socket
# description: Whoever controls a container holding the Docker socket controls the host.
# custom:
#   id: TRD-C002
#   avd_id: TRD-C002
#   severity: HIGH
#   short_code: compose-docker-socket
#   recommended_action: Do not mount /var/run/docker.sock into application containers.
#   input:
#     selector:
#       - type: yaml
package user.compose.docker_socket

import rego.v1

deny contains res if {
	some name, service in input.services
	some volume in service.volumes
	contains(sprintf("%v", [volume]), "docker.sock")
	res := result.new(sprintf("service %q mounts the Docker socket", [name]), service)
}
