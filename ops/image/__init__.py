"""The production image (``deploy/Dockerfile``): built, booted and checked here.

- :mod:`ops.image.engine` -- the Docker engine: ``DOCKER_HOST``, or a private ``dockerd``
- :mod:`ops.image.base` -- the stand-in base for machines without registry access
- :mod:`ops.image.build` -- ``docker build`` with the version, commit and OCI labels
- :mod:`ops.image.checks` -- the image's gates: user, leftovers, size, boot, drain,
  the settings guard, trivy and the SBOM
"""
