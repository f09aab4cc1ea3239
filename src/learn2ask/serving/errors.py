"""Typed errors of the serving layer; the router turns each into its HTTP status and a
one-line ``{"detail": ...}``."""

from __future__ import annotations


class ServingError(Exception):
    """Base: ``status`` is the HTTP status, the message the detail shown to the client."""

    status = 400


class NotFound(ServingError):
    """No such session (or it was deleted / purged)."""

    status = 404


class Conflict(ServingError):
    """The session's state does not allow this (stopped, escalated, closed, turn cap)."""

    status = 409


class Unauthorized(ServingError):
    """Missing or wrong API key."""

    status = 401


class PayloadTooLarge(ServingError):
    """Request body beyond the limit."""

    status = 413


class BadRequest(ServingError):
    """Well-formed JSON that cannot be served (e.g. a domain this server does not serve)."""

    status = 422


class RateLimited(ServingError):
    """Too many requests for one key (or client) per minute."""

    status = 429


class PolicyUnavailable(ServingError):
    """The policy (local model or endpoint) failed; the user's message is kept."""

    status = 503
