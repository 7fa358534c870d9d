"""Type stubs of ``subcast._native``, the Rust extension behind ``subcast``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Final, Literal, Self, TypeAlias

__version__: Final[str]

JSON: TypeAlias = None | bool | int | float | str | list["JSON"] | tuple["JSON", ...] | dict[str, "JSON"]
"""What crosses into the engine: ints of at most 64 bits, finite floats, str-keyed dicts."""

Identifier: TypeAlias = str | int
"""A connection, subscription, user or tenant id; an int is taken as its decimal string."""

Resolver: TypeAlias = Callable[[dict[str, Any], dict[str, Any], dict[str, Any]], dict[str, JSON]]
"""``resolver(event, variables, context) -> data``.

``event`` has ``id``, ``event_type``, ``channel``, ``data``, ``tenant_id``, ``timestamp``
(ms since the epoch), ``correlation_id`` and ``origin``; ``variables`` are the
subscription's variables with defaults applied; ``context`` is the subscriber's
``user_id``, ``tenant_id``, ``roles`` and ``scopes`` (sorted lists), ``federation_id`` and
``claims`` (every field empty for an anonymous subscriber). The returned dict is the
``data`` of the ``next`` frame. An exception, or a value that is not a JSON dict, becomes an
``error`` frame (class and message) that ends that subscription only.

Subscribers share a resolver call only if they share the callable, the document, the
variables and the whole context. All the calls one event needs of one callable happen in a
single attach to the interpreter (see the ``python_resolver_batches`` metric).
"""

def runtime() -> Literal["smol", "tokio"]:
    """The async runtime this build runs its background work on."""

class EventBusConfig:
    """Where an executor's events travel."""

    @staticmethod
    def memory() -> EventBusConfig:
        """The in-memory bus: events reach this process's subscriptions only."""
    @staticmethod
    def redis(url: str) -> EventBusConfig:
        """A Redis bus at ``url`` (``redis://host:port/db``): events reach every node."""
    @staticmethod
    def postgresql(url: str) -> EventBusConfig:
        """A PostgreSQL LISTEN/NOTIFY bus at ``url`` (``postgresql://user@host/db``)."""
    @property
    def kind(self) -> Literal["memory", "redis", "postgresql"]:
        """Which bus."""
    @property
    def url(self) -> str | None:
        """The connection URL (``None`` for the in-memory bus)."""

class FrameReceiver:
    """One subscription's frames, held past its completion."""

    def recv(self) -> asyncio.Future[bytes | None]:
        """Await the next frame; ``None`` once the subscription ended."""
    def next_event(self) -> bytes | None:
        """The next frame without waiting, or ``None``."""

class SubscriptionExecutor:
    """Distributes published events to registered GraphQL subscriptions as graphql-transport-ws frames."""

    def __init__(
        self,
        bus: EventBusConfig | None = None,
        *,
        queue_capacity: int | None = None,
        overflow: Literal["drop_oldest", "drop_newest", "close"] | None = None,
        allow_anonymous: bool = False,
    ) -> None:
        """Open ``bus`` (in-memory by default) and start the executor's own threads.

        ``queue_capacity`` frames (1024 by default) wait per subscription; past that,
        ``overflow`` drops the oldest (default, with an ``EVENTS_LAGGED`` notice), drops the
        newest, or closes the subscription with an error frame. ``allow_anonymous`` accepts
        subscriptions without ``user_id``.
        """
    def register_subscription(
        self,
        connection_id: Identifier,
        subscription_id: Identifier,
        query: str,
        operation_name: str | None = None,
        variables: Mapping[str, JSON] | None = None,
        user_id: Identifier | None = None,
        tenant_id: Identifier | None = None,
        roles: Sequence[str] | None = None,
        scopes: Sequence[str] | None = None,
        channels: Sequence[str] | None = None,
        resolver: Resolver | None = None,
        filter: Sequence[Mapping[str, Any]] | str | None = None,
        *,
        federation_id: Identifier | None = None,
        claims: Mapping[str, JSON] | None = None,
    ) -> None:
        """Register a subscription; its frames are then taken by ``subscription_id``.

        The document must be one ``subscription`` operation. It listens on the channel named
        after its root field, or on ``channels``. Without ``resolver``, the event's data is
        projected to the selection set.

        Raises:
            InvalidDocumentError: the document or variables are invalid.
            DuplicateSubscriptionError: the id is already registered on this connection.
            ConversionError: an argument has the wrong type.
            ExecutorClosedError: the executor was closed.
        """
    def complete_subscription(
        self, subscription_id: Identifier, *, connection_id: Identifier | None = None
    ) -> None:
        """End one subscription; waiting ``recv`` calls return ``None``.

        Raises:
            UnknownSubscriptionError: no such subscription.
            AmbiguousSubscriptionError: the id is on several connections and none was given.
        """
    def complete_connection(self, connection_id: Identifier) -> int:
        """End every subscription of a connection; return how many there were.

        Raises:
            UnknownConnectionError: no subscription is registered on this connection.
        """
    def publish_event(
        self,
        event_type: str,
        channel: str,
        data: JSON = None,
        tenant_id: Identifier | None = None,
        *,
        correlation_id: str | None = None,
        event_id: Identifier | None = None,
    ) -> int:
        """Publish an event; return the number of frames queued for this process's subscribers.

        The data is converted with the GIL held; publishing and dispatch run with it
        released (Python resolvers attach again, once per callable the event reaches).

        Raises:
            ConversionError: ``data`` holds something JSON cannot carry (the path is named).
            InvalidRequestError: bad channel name, or data over the size limit.
            BusError: the bus refused the event.
        """
    def next_event(
        self, subscription_id: Identifier, *, connection_id: Identifier | None = None
    ) -> bytes | None:
        """The next frame without waiting, or ``None`` if none is queued (or the subscription ended)."""
    def next_events(
        self, subscription_ids: Iterable[Identifier], *, max_per_subscription: int | None = None
    ) -> list[tuple[Identifier, bytes]]:
        """The queued frames of many subscriptions in one call, without waiting.

        Returns ``(subscription_id, frame)`` pairs, each id as given, in the order of
        ``subscription_ids`` and, per subscription, of its frames; at most
        ``max_per_subscription`` frames each (every queued frame by default). One call
        replaces a ``next_event`` per subscription: a server that writes many subscribers'
        frames after each wake-up pays one crossing into the engine instead of one per frame.

        Raises:
            UnknownSubscriptionError: an id is not registered.
            AmbiguousSubscriptionError: an id is on several connections.
            InvalidRequestError: ``max_per_subscription`` is less than 1.
        """
    def drain_connection(
        self, connection_id: Identifier, *, max_per_subscription: int | None = None
    ) -> list[tuple[str, bytes]]:
        """The queued frames of every subscription of a connection, without waiting.

        Returns ``(subscription_id, frame)`` pairs, subscriptions in registration order and
        ids as ``str``; what a connection's WebSocket task sends after a wake-up. A
        connection with no subscriptions has none.

        Raises:
            InvalidRequestError: ``max_per_subscription`` is less than 1.
        """
    def recv_blocking(
        self,
        subscription_id: Identifier,
        timeout: float | None = None,
        *,
        connection_id: Identifier | None = None,
    ) -> bytes | None:
        """Wait for the next frame with the GIL released; ``None`` once the subscription ended.

        Raises:
            SubscriptionTimeoutError: nothing arrived within ``timeout`` seconds.
        """
    def recv(
        self, subscription_id: Identifier, *, connection_id: Identifier | None = None
    ) -> asyncio.Future[bytes | None]:
        """Await the next frame; ``None`` once the subscription ended.

        Call it from a running event loop. It wakes when a frame is queued; cancelling it
        loses no frame.
        """
    def receiver(
        self, subscription_id: Identifier, *, connection_id: Identifier | None = None
    ) -> FrameReceiver:
        """A receiver of this subscription's frames that outlives ``complete_subscription``."""
    def wait_channel_ready(self, channel: str, timeout: float = 5.0) -> bool:
        """Wait (GIL released) until the bus delivers ``channel``'s events to this node.

        Subscribing a bus channel is asynchronous; always ``True`` for the in-memory bus.
        """
    def get_metrics(self) -> dict[str, int | float]:
        """Every metric by name: subscriptions, frames delivered and dropped, bus counters,
        and ``python_resolver_batches`` (attaches to the interpreter) and
        ``python_resolver_calls`` (resolver calls)."""
    def metrics_prometheus(self) -> str:
        """The metrics in the Prometheus text exposition format."""
    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
    def close(self) -> None:
        """End every subscription, wake every waiter and join the executor's threads."""
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool: ...
