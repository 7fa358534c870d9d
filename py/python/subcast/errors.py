"""Exceptions raised by subcast.

Every exception is a :class:`SubcastError`; each also derives from the built-in that
matches its meaning, so ``except LookupError`` or ``except TypeError`` work as expected.
``code`` is the engine's machine-readable code (as in ``extensions.code`` of error frames).
"""

from __future__ import annotations

__all__ = [
    "AmbiguousSubscriptionError",
    "BusError",
    "BusUnavailableError",
    "ConversionError",
    "DuplicateSubscriptionError",
    "ExecutorClosedError",
    "ForkedProcessError",
    "InvalidConfigError",
    "InvalidDocumentError",
    "InvalidFilterError",
    "InvalidRequestError",
    "RateLimitedError",
    "SubscriptionRefusedError",
    "SubcastError",
    "SubscriptionTimeoutError",
    "UnknownConnectionError",
    "UnknownSubscriptionError",
]


class SubcastError(Exception):
    """Base class of every error subcast raises."""

    code: str = "INTERNAL_ERROR"
    """Machine-readable code, e.g. ``"BAD_REQUEST"``."""


class ConversionError(SubcastError, TypeError, ValueError):
    """A value cannot cross into the engine as JSON (the message names its path)."""

    code = "BAD_REQUEST"


class InvalidRequestError(SubcastError, ValueError):
    """An argument was refused: an empty id, a bad channel name, an event over the size limit."""

    code = "BAD_REQUEST"


class InvalidConfigError(InvalidRequestError, TypeError):
    """A configuration value was refused; the message starts with the field, e.g.
    ``rate_limits.burst: must be a positive integer, got -1``."""

    code = "INVALID_CONFIG"


class InvalidDocumentError(SubcastError, ValueError):
    """The subscription document (or its variables) is not valid; the message gives line and column."""

    code = "GRAPHQL_VALIDATION_FAILED"


class DuplicateSubscriptionError(InvalidRequestError):
    """The subscription id is already registered on this connection."""


class UnknownSubscriptionError(SubcastError, LookupError):
    """No subscription is registered under this id."""

    code = "BAD_REQUEST"


class UnknownConnectionError(SubcastError, LookupError):
    """No subscription is registered on this connection."""

    code = "BAD_REQUEST"


class AmbiguousSubscriptionError(SubcastError, LookupError):
    """The subscription id is registered on several connections: pass ``connection_id=``."""

    code = "BAD_REQUEST"


class SubscriptionTimeoutError(SubcastError, TimeoutError):
    """No frame arrived within the timeout of ``recv_blocking``."""


class ExecutorClosedError(SubcastError):
    """The executor was closed."""


class ForkedProcessError(SubcastError):
    """The executor was created in the parent of this ``fork()``ed process: its threads and
    connections stayed in the parent. Create a new executor in the child."""


class BusError(SubcastError, ConnectionError):
    """The event bus failed to publish, subscribe or answer."""


class BusUnavailableError(BusError):
    """The requested bus is not available in this build."""


class InvalidFilterError(InvalidRequestError):
    """The subscription's event filter is not valid."""

    code = "INVALID_FILTER"


class SubscriptionRefusedError(SubcastError, PermissionError):
    """Security refused the subscription: no context, a forbidden field, a missing scope,
    or variables naming another user or tenant (``code`` says which)."""

    code = "UNAUTHENTICATED"


class RateLimitedError(SubscriptionRefusedError):
    """A rate limit or a subscription limit refused the subscription."""

    code = "RATE_LIMITED"
