"""Errors the services raise; the API maps each to one HTTP status and error code."""

from __future__ import annotations


class ServiceError(Exception):
    """Base class: ``code`` is the stable machine-readable error code."""

    code = "error"
    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(ServiceError):
    """The object does not exist, or belongs to someone else (never tell which)."""

    code = "not_found"
    status_code = 404


class Conflict(ServiceError):
    """The request contradicts the current state."""

    code = "conflict"
    status_code = 409


class IdempotencyConflict(Conflict):
    """A ``client_order_id`` was reused with a different payload."""

    code = "idempotency_conflict"


class OrderNotOpen(Conflict):
    """The order is already in a terminal state."""

    code = "order_not_open"


class AlreadyExists(Conflict):
    """A unique value (an e-mail address) is taken."""

    code = "already_exists"


class RuleViolation(Conflict):
    """Well-formed, but the target's rules refuse it (a quantity off the lot grid)."""

    code = "rule_violation"


class InvalidRequest(ServiceError):
    """The request is well-formed but refers to something unusable."""

    code = "invalid_request"
    status_code = 422


class AuthenticationFailed(ServiceError):
    """Wrong credentials or an unusable token."""

    code = "not_authenticated"
    status_code = 401


class Forbidden(ServiceError):
    """Authenticated, but the role does not allow it."""

    code = "forbidden"
    status_code = 403
