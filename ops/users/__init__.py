"""The service accounts an environment's gates act as, kept by ``invoke users.provision``.

- :mod:`ops.users.accounts` -- which accounts an environment needs, and their passwords
- :mod:`ops.users.operations` -- status -> plan -> confirm -> apply -> verify
"""
