"""Type stubs of ``subcast._native``, the Rust extension behind ``subcast``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Final, Literal, Self, TypeAlias, TypedDict

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

Seconds: TypeAlias = int | float
"""A duration in seconds: positive, finite, at most 2**32."""

class SecurityPolicies:
    """The fail-closed security policies; every one is on by default.

    Every option is checked when the object is made: a bad value raises
    :class:`~subcast.errors.InvalidConfigError` naming it (``security.owner_path: ...``), and
    so does an unknown option. ``SubscriptionExecutor(security=...)`` also takes a dict of
    these options.
    """

    def __init__(
        self,
        *,
        tenant: bool = True,
        owner_path: str | None = "user_id",
        federation_path: str | None = "federation_id",
        user_variables: Sequence[str] = ("user_id", "userId"),
        tenant_variables: Sequence[str] = ("tenant_id", "tenantId"),
        required_scopes: Mapping[str, Sequence[str]] = {},
        rbac: Mapping[str, Sequence[str]] = {},
        rbac_deny_unlisted: bool = False,
    ) -> None:
        """
        Args:
            tenant: a tenant-scoped subscriber receives only its tenant's events (``False``: off).
            owner_path: dot-path of an event's owner in its data; an owned event reaches only
                that user, an unreadable owner nobody. ``None`` switches the row filter off.
            federation_path: dot-path of an event's federation id, matched against the
                subscriber's ``federation_id``. ``None`` switches federation scoping off.
            user_variables: variables (and root arguments) that name a user: they must name
                the subscriber. An empty list checks none.
            tenant_variables: the same for the tenant.
            required_scopes: root field -> scopes a subscriber must hold to subscribe to it.
            rbac: field path (``"users.ssn"``, or ``"*.ssn"`` at any depth) -> roles allowed to
                read it; a subscription reading, filtering on or listening to a field its roles
                may not read is refused.
            rbac_deny_unlisted: refuse fields that no ``rbac`` key matches (root fields included).
        """
    @staticmethod
    def disabled() -> SecurityPolicies:
        """Every policy off: for trusted single-tenant deployments and baselines."""

class RateLimits:
    """Token buckets per user (per connection for anonymous subscribers) and maxima of
    subscriptions held. Nothing is limited by default.

    A bucket holds ``burst`` tokens (one second's worth by default) and refills at its rate.
    Frames held back by ``deliveries_per_second`` are announced to the subscriber with a
    ``RATE_LIMITED`` notice and their count before its next frame; refused subscriptions
    raise :class:`~subcast.errors.RateLimitedError`.
    """

    def __init__(
        self,
        *,
        deliveries_per_second: float | None = None,
        burst: int | None = None,
        subscriptions_per_second: float | None = None,
        subscription_burst: int | None = None,
        max_subscriptions_per_connection: int | None = None,
        max_subscriptions_per_user: int | None = None,
    ) -> None: ...

class DocumentLimits:
    """Bounds on subscription documents, checked before and while parsing (refused
    documents raise :class:`~subcast.errors.InvalidDocumentError`)."""

    def __init__(
        self,
        *,
        max_bytes: int = 65536,
        max_depth: int = 32,
        max_tokens: int = 15000,
        max_output_fields: int = 1000,
    ) -> None:
        """
        Args:
            max_bytes: longest document, checked before parsing.
            max_depth: deepest nesting of selection sets (at most 64 takes effect).
            max_tokens: most lexer tokens; also bounds the work of lowering fragments.
            max_output_fields: most fields of the result, after fragments are inlined
                and fields merged (each alias counts); bounds what one event expands to.
        """

class PumpConfig:
    """How a network bus's events are dispatched on this node (no effect on the in-memory bus)."""

    def __init__(
        self,
        *,
        parallel_threshold: int = 4096,
        parallelism: int | None = None,
        backoff: Seconds = 0.05,
        max_backoff: Seconds = 5.0,
        max_attempts: int = 8,
        inbox_capacity: int = 1024,
    ) -> None:
        """
        Args:
            parallel_threshold: fan-outs of at least this many subscriptions are split
                across the runtime's workers.
            parallelism: runtime tasks helping one split fan-out, 0 to 4096 (0: never split;
                default: the available cores).
            backoff: first delay before resubscribing a lost channel, doubled per failure...
            max_backoff: ...up to this.
            max_attempts: failures in a row after which a channel's subscriptions end with an
                error frame.
            inbox_capacity: bus messages waiting for the dispatcher at most; when it is full
                the bus's own buffers hold the rest, and what they cannot hold is announced
                to the channel's subscribers as an ``EVENTS_GAP`` notice with its count.
        """

class JetStreamOptions(TypedDict, total=False):
    """The JetStream stream of :meth:`EventBusConfig.nats` (every node must agree)."""

    stream: str
    """Letters, digits, ``-`` and ``_`` (default ``"SUBCAST"``)."""
    max_age: Seconds
    """Events older than this are removed (default 3600)."""
    max_bytes: int | None
    """At most this many bytes are kept (default 256 MiB; ``None``: unlimited)."""
    max_messages: int | None
    """At most this many events are kept (default unlimited)."""

class EventBusConfig:
    """Where an executor's events travel.

    Options are checked when the object is made (:class:`~subcast.errors.InvalidConfigError`
    naming ``bus.<option>``); connecting happens in ``SubscriptionExecutor(bus=...)``.
    """

    @staticmethod
    def memory() -> EventBusConfig:
        """The in-memory bus: events reach this process's subscriptions only."""
    @staticmethod
    def redis(
        url: str,
        *,
        prefix: str = "subcast:",
        replay_len: int | None = None,
        timeout: Seconds = 5.0,
        reconnect_min: Seconds = 0.05,
        reconnect_max: Seconds = 5.0,
        received_capacity: int = 1024,
        stream_capacity: int = 1024,
    ) -> EventBusConfig:
        """A Redis bus at ``url`` (``redis://host:port/db``): events reach every node.

        ``prefix`` is prepended to channel names (nodes see each other only with the same
        prefix); with ``replay_len``, each channel keeps about that many events in a stream
        and replays what a disconnection missed. ``timeout`` bounds connecting and each
        command; reconnection waits ``reconnect_min``, doubling up to ``reconnect_max``.
        At most ``received_capacity`` pub/sub messages wait for the bus's task and
        ``stream_capacity`` per channel stream; what overflows is announced as a gap (or
        replayed, with ``replay_len``).
        """
    @staticmethod
    def postgresql(
        url: str,
        *,
        schema: str = "public",
        table: str = "subcast_outbox",
        channel_prefix: str = "subcast:",
        retention: Seconds | None = 3600,
        cleanup_interval: Seconds = 60,
        timeout: Seconds = 5.0,
        reconnect_min: Seconds = 0.05,
        reconnect_max: Seconds = 5.0,
        synchronous_commit: bool = False,
        received_capacity: int = 1024,
        stream_capacity: int = 1024,
    ) -> EventBusConfig:
        """A PostgreSQL LISTEN/NOTIFY bus at ``url`` (``postgresql://user@host/db``).

        Events are written to the outbox ``schema.table`` (created if missing) and kept
        ``retention`` seconds for replay (``None``: forever), cleaned every
        ``cleanup_interval``. ``channel_prefix`` (at most 15 bytes) is prepended to NOTIFY
        channels. ``synchronous_commit`` waits for the disk on each publish. At most
        ``received_capacity`` notifications wait for the bus's task and ``stream_capacity``
        events per channel stream; what overflows is replayed from the outbox once there
        is room.
        """
    @staticmethod
    def redis_cluster(
        urls: str | list[str],
        *,
        prefix: str = "subcast:",
        replay_len: int | None = None,
        timeout: Seconds = 5.0,
        reconnect_min: Seconds = 0.05,
        reconnect_max: Seconds = 5.0,
        received_capacity: int = 1024,
        stream_capacity: int = 1024,
    ) -> EventBusConfig:
        """A Redis Cluster bus reached through ``urls``: events reach every node.

        ``urls`` is one ``redis+cluster://host:port,host:port`` URL, one ``redis://`` seed,
        or a list of ``redis://`` seeds; one reachable seed is enough. Options as for
        :meth:`redis`.
        """
    @staticmethod
    def nats(
        url: str,
        *,
        prefix: str = "subcast",
        jetstream: JetStreamOptions | None = None,
        token: str | None = None,
        credentials_file: str | None = None,
        tls_root_certificates: str | None = None,
        timeout: Seconds = 5.0,
        reconnect_min: Seconds = 0.05,
        reconnect_max: Seconds = 5.0,
        received_capacity: int = 1024,
        stream_capacity: int = 1024,
    ) -> EventBusConfig:
        """A NATS bus at ``url`` (``nats://[user:password@]host:port`` or ``tls://``).

        ``prefix`` (``.``-separated tokens, no wildcards) starts every subject. With
        ``jetstream``, events go through that JetStream stream and what a disconnection or
        an overflow missed is replayed from it; without, a loss is announced as a gap.
        ``token`` or ``credentials_file`` (a ``.creds`` file) authenticate, not both;
        ``tls_root_certificates`` is a PEM file of CAs for ``tls://``. Needs the tokio build
        (the default); a smol build raises :class:`~subcast.errors.BusError`.
        """
    @property
    def kind(self) -> Literal["memory", "redis", "redis_cluster", "postgresql", "nats"]:
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

class Resume:
    """The replay of what one subscription missed since a client's cursor."""

    def next_page(self) -> list[str] | None:
        """The next page of frames to write before any live frame (an ``EVENTS_GAP``
        notice first if events are gone or the bus keeps no history, then the missed events
        in order); ``None`` once caught up, when the subscription is attached to its
        connection inbox. Blocks with the GIL released: call it off the event loop
        (``await asyncio.to_thread(resume.next_page)``)."""
    def is_replayed(self, frame: bytes | str) -> bool:
        """Whether a frame of the subscription's queue was already written by the replay
        (or read by the client before it reconnected): skip it."""
    @property
    def ended(self) -> bool:
        """Whether the replay ended the subscription with an ``error`` frame."""
    @property
    def finished(self) -> bool:
        """Whether every page was read."""
    @property
    def channel(self) -> str:
        """The channel being replayed."""

class SubscriptionExecutor:
    """Distributes published events to registered GraphQL subscriptions as graphql-transport-ws frames."""

    def __init__(
        self,
        bus: EventBusConfig | None = None,
        *,
        queue_capacity: int | None = None,
        overflow: Literal["drop_oldest", "drop_newest", "close"] | None = None,
        allow_anonymous: bool = False,
        max_event_bytes: int | None = None,
        max_frame_bytes: int | None = None,
        queue_max_bytes: int | None = None,
        loopback_window: int | None = None,
        security: SecurityPolicies | Mapping[str, Any] | None = None,
        rate_limits: RateLimits | Mapping[str, Any] | None = None,
        document_limits: DocumentLimits | Mapping[str, Any] | None = None,
        pump: PumpConfig | Mapping[str, Any] | None = None,
        schema: str | None = None,
    ) -> None:
        """Open ``bus`` (in-memory by default) and start the executor's own threads.

        ``queue_capacity`` frames (1024 by default) wait per subscription; past that,
        ``overflow`` drops the oldest (default, with an ``EVENTS_LAGGED`` notice), drops the
        newest, or closes the subscription with an error frame. ``allow_anonymous`` accepts
        subscriptions without ``user_id``. ``max_event_bytes`` (1 MiB by default) is the
        largest event data, as JSON, that is published or dispatched; event data nests at
        most 64 lists and dicts deep. ``max_frame_bytes``
        (1 MiB) bounds the frame one event's result is encoded to: a result past it ends
        the subscription with a ``FRAME_TOO_LARGE`` error frame. ``queue_max_bytes`` (4 MiB)
        bounds the bytes of frames waiting per subscription, like ``queue_capacity`` their
        number. ``loopback_window``
        (4096) is how many of this node's event ids are remembered so that their copies
        coming back through the bus are not dispatched twice.

        ``security``, ``rate_limits``, ``document_limits`` and ``pump`` take their class or a
        dict of its options; ``None`` keeps the defaults (every security policy on, no rate
        limits).

        ``schema`` is the application's GraphQL schema as SDL text (Strawberry:
        ``str(schema)``; Ariadne or graphql-core: ``graphql.print_schema(schema)``). With it,
        every subscription document is validated against the schema (an unknown field,
        argument or type raises ``InvalidDocumentError`` naming every problem with its
        line and column), variables are coerced by their declared types, a root field marked
        ``@channel(name: "...")`` listens on that channel, and RBAC keys may name schema
        coordinates (``Order.total``).

        Raises:
            InvalidConfigError: a value was refused; the message names it
                (``rate_limits.burst: must be a positive integer, got -1``), or the schema
                does not parse or validate (``schema: invalid schema: at line 3, column 9: ...``).
            BusError: the bus could not be reached.
            ForkedProcessError: (smol builds only) this process was forked from one whose
                smol reactor was in use.
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
        inbox: ConnectionInbox | None = None,
        cursor: str | None = None,
    ) -> Resume | None:
        """Register a subscription; its frames are then taken by ``subscription_id``, or,
        with ``inbox``, from that connection inbox (``DuplicateSubscriptionError`` if it
        holds the id already).

        With ``cursor`` (a ``next`` frame's ``payload.extensions.cursor``), returns the
        :class:`Resume` replaying what the client missed since; the ``inbox`` is attached
        only once that replay is done. A malformed cursor, or one of a channel the
        subscription does not listen to, raises ``SubcastError`` with code
        ``INVALID_CURSOR`` and registers nothing.

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
    def connection_inbox(self) -> ConnectionInbox:
        """A connection's inbox: its writer waits on the connection as a whole."""
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

        ``timeout`` is in seconds; ``None``, ``math.inf`` and any timeout too long for the
        clock (``1e300``, ``10**400``) wait without limit.

        Raises:
            SubscriptionTimeoutError: nothing arrived within ``timeout`` seconds.
            InvalidRequestError: ``timeout`` is negative or NaN (a ``ValueError``).
            ConversionError: ``timeout`` is not a number (a ``TypeError``).
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
    def wait_channel_ready(self, channel: str, timeout: float | None = None) -> bool:
        """Wait (GIL released) until the bus delivers ``channel``'s events to this node;
        ``False`` after ``timeout`` seconds (5 by default; ``math.inf`` waits without limit).

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
        """End every subscription, wake every waiter and join the executor's threads.

        In a ``fork()``ed child, an executor inherited from the parent is only marked closed:
        its threads and connections are the parent's. Every other method raises
        :class:`~subcast.errors.ForkedProcessError` there; make a new executor in the child.
        """
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool: ...


Action: TypeAlias = (
    tuple[Literal["send"], str]
    | tuple[Literal["authenticate"], dict[str, Any] | None]
    | tuple[Literal["subscribe"], str, dict[str, Any]]
    | tuple[Literal["unsubscribe"], str]
    | tuple[Literal["close"], int, str]
)
"""What a graphql-transport-ws loop must do next. ``subscribe`` carries
``{"query", "operationName", "variables", "extensions"}``."""

class ProtocolConfig:
    """Timers (seconds) and limits of graphql-transport-ws connections.

    Defaults: ``connection_init_timeout=3`` (then 4408), ``keep_alive=12`` (a ``ping``
    every 12 s; ``None``: none), ``pong_timeout=12`` (then 4504),
    ``max_message_bytes=131072`` (then 1009), ``max_id_bytes=256``,
    ``max_subscriptions=100`` (one more gets an ``error``), ``messages_per_second=50`` with
    ``message_burst=200`` (then 4429; ``messages_per_second=None``: no limit).
    """

    def __init__(
        self,
        *,
        connection_init_timeout: float = ...,
        keep_alive: float | None = ...,
        pong_timeout: float = ...,
        max_message_bytes: int = ...,
        max_id_bytes: int = ...,
        max_subscriptions: int = ...,
        messages_per_second: float | None = ...,
        message_burst: int = ...,
    ) -> None: ...
    @property
    def connection_init_timeout(self) -> float: ...
    @property
    def keep_alive(self) -> float | None: ...
    @property
    def pong_timeout(self) -> float: ...
    @property
    def max_message_bytes(self) -> int: ...
    @property
    def max_subscriptions(self) -> int: ...

class ProtocolConnection:
    """The graphql-transport-ws state of one socket: no I/O, Rust's monotonic clock.

    Feed it what the client sent, carry out :meth:`poll_actions` in order, and call
    :meth:`tick` when :meth:`next_deadline` seconds have passed.
    """

    def __init__(self, config: ProtocolConfig | Mapping[str, Any] | None = None) -> None: ...
    def feed_text(self, message: str | bytes) -> None:
        """Handle a text message."""
    def feed_binary(self) -> None:
        """Handle a binary message: closes with 4400."""
    def tick(self) -> None:
        """Run the timers due now (init timeout, keep-alive, credentials expiry)."""
    def next_deadline(self) -> float | None:
        """Seconds until :meth:`tick` must run (0.0 if overdue); ``None``: no timer."""
    def accept(self, payload: Mapping[str, JSON] | None = None, valid_for: float | None = None) -> None:
        """Accept after ``authenticate``: send ``connection_ack``; 4403 after ``valid_for`` s."""
    def refuse(self, reason: str = "Forbidden") -> None:
        """Close with 4403 and ``reason``."""
    def fail_subscription(self, id: str, errors: Sequence[Mapping[str, JSON]]) -> bool:
        """Send one ``error`` for ``id`` (GraphQL errors) and free the id."""
    def complete_subscription(self, id: str) -> bool:
        """The server ended ``id``: send ``complete``."""
    def subscription_ended(self, id: str) -> bool:
        """``id`` ended and its last frame was sent already: free the id."""
    def is_active(self, id: str) -> bool: ...
    def internal_error(self, reason: str) -> None:
        """Close with 4500."""
    def shutdown(self) -> None:
        """Close with 1001 ``Going away``."""
    def disconnected(self) -> None:
        """The socket is gone: unsubscribe everything, send nothing."""
    @property
    def closed(self) -> bool: ...
    def poll_actions(self) -> list[Action]:
        """Every queued action, oldest first."""

class ConnectionInbox:
    """The response queues of one connection and the one wake-up they share."""

    def ready(self) -> asyncio.Future[None]:
        """Resolved once frames or ends are ready; cancelling it loses nothing."""
    def take_frames(self, connection: ProtocolConnection) -> tuple[list[str], list[str]]:
        """``(frames, ended)``: text messages to send (frames of subscriptions
        ``connection`` no longer holds dropped), and the ids of ended subscriptions (already
        completed in ``connection``)."""
    def detach(self, id: str) -> bool:
        """Stop taking ``id``'s frames (the client completed it)."""
    def __len__(self) -> int: ...
    def close(self) -> None:
        """The socket is gone: stop waiting, drop what is held."""
