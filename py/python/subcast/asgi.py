"""graphql-transport-ws for ASGI servers: Starlette, FastAPI, or any ASGI application.

>>> from subcast import SubscriptionExecutor
>>> from subcast.asgi import GraphQLTransportWS, SecurityContext
>>> async def on_connect(params, scope):
...     return SecurityContext(user_id=params["user"], tenant_id=params["tenant"])
>>> ws = GraphQLTransportWS(SubscriptionExecutor(), on_connect=on_connect)
>>> # app.add_websocket_route("/graphql", ws)   # Starlette / FastAPI

The protocol (``connection_init`` and its timeout, ping/pong, keep-alive, every close
code) is the engine's state machine, the same one the Rust endpoint runs. Each socket has
three tasks: a reader feeding the machine, a writer that waits on the connection as a
whole and sends every subscription's frames as text messages, and a timer for keep-alive
and credential expiry. When the socket ends, however it ends, every subscription of the
connection is completed (``complete_connection``).

A ``subscribe`` whose ``extensions.cursor`` is the ``payload.extensions.cursor`` of a
``next`` frame resumes from there, as with the Rust endpoint: the events the client missed
on that channel are replayed from the bus's history (security checks included), then live
events follow with no duplicate at the seam. A bus without history, or a cursor older than
what it retains, gets an ``EVENTS_GAP`` notice first.

uvicorn closes open WebSockets with 1012 when it shuts down, before the lifespan
``shutdown`` event: call :meth:`GraphQLTransportWS.close_all` first (from a signal
handler; see ``examples/conformance_server.py``) to close them with 1001, after which
graphql-ws clients reconnect.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._native import ConnectionInbox, ProtocolConfig, ProtocolConnection, Resume, SubscriptionExecutor
from .errors import SubcastError

__all__ = [
    "Accept",
    "ConnectionRefused",
    "GraphQLTransportWS",
    "ProtocolConfig",
    "SecurityContext",
    "SubscribeRequest",
    "SubscriptionRefused",
    "SUBPROTOCOL",
]

SUBPROTOCOL = "graphql-transport-ws"
"""The only WebSocket sub-protocol served."""

DEFAULT_AUTH_TIMEOUT = 10.0
"""Seconds ``on_connect`` may take before the connection is closed with 4500."""

_log = logging.getLogger("subcast.asgi")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@dataclass(frozen=True)
class SecurityContext:
    """Who a connection's subscriptions run as: the engine checks every event against it."""

    user_id: str
    tenant_id: str | None = None
    roles: Sequence[str] = ()
    scopes: Sequence[str] = ()
    federation_id: str | None = None
    claims: Mapping[str, Any] | None = None

    def registration(self) -> dict[str, Any]:
        """The keyword arguments of ``register_subscription`` this context sets."""
        return {
            "user_id": self.user_id,
            "tenant_id": self.tenant_id,
            "roles": list(self.roles),
            "scopes": list(self.scopes),
            "federation_id": self.federation_id,
            "claims": dict(self.claims) if self.claims is not None else None,
        }


@dataclass(frozen=True)
class Accept:
    """``on_connect`` accepts, with more than a context: an expiry or an ack payload.

    ``context=None`` accepts anonymously (subscriptions are then refused unless the
    executor allows anonymous subscribers). After ``valid_for`` seconds the connection is
    closed with 4403, so the client reconnects with fresh credentials.
    """

    context: SecurityContext | Mapping[str, Any] | None = None
    valid_for: float | None = None
    ack_payload: Mapping[str, Any] | None = None


class ConnectionRefused(Exception):
    """Raised by ``on_connect`` to refuse: the socket is closed with 4403 and ``reason``."""

    def __init__(self, reason: str = "Forbidden") -> None:
        super().__init__(reason)
        self.reason = reason


class SubscriptionRefused(Exception):
    """Raised by ``on_subscribe`` to refuse one operation: the client gets its ``error``."""

    def __init__(self, message: str, code: str = "FORBIDDEN", **extensions: Any) -> None:
        super().__init__(message)
        self.error = {"message": message, "extensions": {"code": code, **extensions}}


@dataclass
class SubscribeRequest:
    """One ``subscribe`` message, as ``on_subscribe`` sees it."""

    id: str
    query: str
    operation_name: str | None
    variables: dict[str, Any] | None
    extensions: dict[str, Any] | None
    context: SecurityContext | Mapping[str, Any] | None
    scope: Scope = field(repr=False)


OnConnect = Callable[[dict[str, Any], Scope], Awaitable[Any]]
OnSubscribe = Callable[[SubscribeRequest], Any]

_connection_ids = itertools.count(1)


class GraphQLTransportWS:
    """An ASGI application serving graphql-transport-ws over WebSockets.

    ``on_connect(params, scope)`` (async) authenticates ``connection_init``: it returns a
    :class:`SecurityContext` (or a dict of ``register_subscription`` keywords, or an
    :class:`Accept`); ``None`` or an exception refuses with 4403. Without it every
    connection is accepted anonymously. ``on_subscribe(request)`` (sync or async) may
    return extra ``register_subscription`` keywords (``channels``, ``resolver``,
    ``filter``) or raise :class:`SubscriptionRefused`. ``config`` is a
    :class:`ProtocolConfig` or a dict of its options (timeouts in seconds).
    """

    def __init__(
        self,
        executor: SubscriptionExecutor,
        *,
        on_connect: OnConnect | None = None,
        on_subscribe: OnSubscribe | None = None,
        config: ProtocolConfig | Mapping[str, Any] | None = None,
        auth_timeout: float = DEFAULT_AUTH_TIMEOUT,
    ) -> None:
        self.executor = executor
        self.on_connect = on_connect
        self.on_subscribe = on_subscribe
        self.config = config if isinstance(config, ProtocolConfig) else ProtocolConfig(**dict(config or {}))
        self.auth_timeout = auth_timeout
        self._sessions: set[_Session] = set()
        self._closing = False
        self._drained: asyncio.Event | None = None

    @property
    def closing(self) -> bool:
        """Whether :meth:`close_all` was called."""
        return self._closing

    @property
    def connections(self) -> int:
        """Number of sockets served now."""
        return len(self._sessions)

    async def close_all(self, timeout: float | None = 5.0) -> bool:
        """Close every connection with 1001 ``Going away`` (and any accepted from now on);
        ``True`` once none is served, ``False`` if some were still open after ``timeout``."""
        self._closing = True
        if self._drained is None:
            self._drained = asyncio.Event()
        for session in list(self._sessions):
            session.shut_down()
        if not self._sessions:
            return True
        try:
            await asyncio.wait_for(self._drained.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "websocket":
            await self._serve(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        else:
            body = b"graphql-transport-ws: connect with a WebSocket"
            headers = [(b"content-type", b"text/plain"), (b"upgrade", b"websocket")]
            await send({"type": "http.response.start", "status": 426, "headers": headers})
            await send({"type": "http.response.body", "body": body})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.close_all()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        if SUBPROTOCOL not in scope.get("subprotocols", ()):
            # As the Rust endpoint: accept, then say why with 4406.
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": 4406, "reason": "Subprotocol not acceptable"})
            return
        await send({"type": "websocket.accept", "subprotocol": SUBPROTOCOL})
        session = _Session(self, scope, receive, send)
        self._sessions.add(session)
        try:
            await session.run()
        finally:
            self._sessions.discard(session)
            if not self._sessions and self._drained is not None:
                self._drained.set()


class _Session:
    """One served socket: the protocol state, the connection's inbox and its three tasks."""

    def __init__(self, app: GraphQLTransportWS, scope: Scope, receive: Receive, send: Send) -> None:
        self.app = app
        self.executor = app.executor
        self.scope = scope
        self.receive = receive
        self.send = send
        self.connection_id = f"asgi-{next(_connection_ids)}"
        self.protocol = ProtocolConnection(app.config)
        self.inbox: ConnectionInbox = self.executor.connection_inbox()
        self.context: SecurityContext | Mapping[str, Any] | None = None
        self.registration: dict[str, Any] = {}
        # Every change of the protocol state and every send happens under it: a frame
        # drained before a client's `complete` is never sent after it.
        self.lock = asyncio.Lock()
        self.ended = asyncio.Event()
        self.timer_changed = asyncio.Event()
        self.timer_at: float | None = None
        self.shutting_down = False
        self.socket_open = True
        self.failure: BaseException | None = None

    def shut_down(self) -> None:
        self.shutting_down = True
        self.timer_changed.set()

    async def run(self) -> None:
        if self.app.closing:
            self.shutting_down = True
        tasks = [
            asyncio.create_task(self._guard(self._read())),
            asyncio.create_task(self._guard(self._write())),
            asyncio.create_task(self._guard(self._keep_time())),
        ]
        try:
            await self.ended.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.inbox.close()
            self._complete_connection()
        if self.failure is not None:
            raise self.failure

    def _complete_connection(self) -> None:
        try:
            self.executor.complete_connection(self.connection_id)
        except SubcastError:
            # No subscription left, or the executor is closed: nothing to end.
            pass

    async def _guard(self, work: Awaitable[None]) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except BaseException as error:  # noqa: BLE001  (reported by `run`, after cleanup)
            self.failure = error
            async with self.lock:
                self.protocol.internal_error("Internal server error")
                await self._carry_out()
        finally:
            self.ended.set()

    async def _read(self) -> None:
        while self.socket_open:
            message = await self.receive()
            async with self.lock:
                kind = message["type"]
                if kind == "websocket.receive":
                    text = message.get("text")
                    if text is not None:
                        self.protocol.feed_text(text)
                    else:
                        self.protocol.feed_binary()
                elif kind == "websocket.disconnect":
                    self.socket_open = False
                    self.protocol.disconnected()
                await self._carry_out()
            self._reschedule()

    async def _write(self) -> None:
        inbox, protocol, send = self.inbox, self.protocol, self.send
        while self.socket_open:
            await inbox.ready()
            async with self.lock:
                frames, ended = inbox.take_frames(protocol)
                for frame in frames:
                    if not self.socket_open:
                        return
                    try:
                        await send({"type": "websocket.send", "text": frame})
                    except OSError:
                        self._disconnected()
                        return
                for subscription_id in ended:
                    # An `error` frame ends the queue but leaves the registration.
                    self._end_subscription(subscription_id)
                await self._carry_out()

    async def _keep_time(self) -> None:
        loop = asyncio.get_running_loop()
        while self.socket_open:
            self.timer_changed.clear()
            if self.shutting_down:
                async with self.lock:
                    self.protocol.shutdown()
                    await self._carry_out()
                return
            delay = self.protocol.next_deadline()
            self.timer_at = None if delay is None else loop.time() + delay
            if delay is None:
                await self.timer_changed.wait()
                continue
            if delay > 0:
                try:
                    await asyncio.wait_for(self.timer_changed.wait(), delay)
                    continue
                except TimeoutError:
                    pass
            async with self.lock:
                self.protocol.tick()
                await self._carry_out()

    def _reschedule(self) -> None:
        """Wake the timer if the protocol's next deadline moved before the one it sleeps to."""
        delay = self.protocol.next_deadline()
        if delay is None:
            return
        at = asyncio.get_running_loop().time() + delay
        if self.timer_at is None or at < self.timer_at:
            self.timer_changed.set()

    async def _carry_out(self) -> None:
        """Carry out every queued action; call with the lock held."""
        while actions := self.protocol.poll_actions():
            for action in actions:
                kind = action[0]
                if kind == "send":
                    if not await self._send_text(action[1]):
                        return
                elif kind == "authenticate":
                    await self._authenticate(action[1])
                    self._reschedule()
                elif kind == "subscribe":
                    await self._subscribe(action[1], action[2])
                elif kind == "unsubscribe":
                    self.inbox.detach(action[1])
                    self._end_subscription(action[1])
                elif kind == "close":
                    await self._close(action[1], action[2])
                    return

    async def _send_text(self, text: str) -> bool:
        if not self.socket_open:
            return False
        try:
            await self.send({"type": "websocket.send", "text": text})
        except OSError:
            self._disconnected()
            return False
        return True

    async def _close(self, code: int, reason: str) -> None:
        if self.socket_open:
            self.socket_open = False
            try:
                await self.send({"type": "websocket.close", "code": code, "reason": reason})
            except OSError:
                pass
        self.ended.set()

    def _disconnected(self) -> None:
        """The socket failed while writing: nothing more can be sent."""
        self.socket_open = False
        self.protocol.disconnected()
        for action in self.protocol.poll_actions():
            if action[0] == "unsubscribe":
                self.inbox.detach(action[1])
                self._end_subscription(action[1])
        self.ended.set()

    def _end_subscription(self, subscription_id: str) -> None:
        try:
            self.executor.complete_subscription(subscription_id, connection_id=self.connection_id)
        except SubcastError:
            # Already ended by the engine.
            pass

    async def _authenticate(self, payload: dict[str, Any] | None) -> None:
        hook = self.app.on_connect
        if hook is None:
            self.protocol.accept()
            return
        try:
            decided = await asyncio.wait_for(hook(payload or {}, self.scope), self.app.auth_timeout)
        except TimeoutError:
            self.protocol.internal_error("Authentication timed out")
            return
        except ConnectionRefused as refused:
            self.protocol.refuse(refused.reason)
            return
        except Exception:  # noqa: BLE001  (any failure to authenticate is a refusal)
            _log.warning("on_connect raised: connection refused", exc_info=True)
            self.protocol.refuse("Forbidden")
            return
        if decided is None:
            self.protocol.refuse("Forbidden")
            return
        accept = decided if isinstance(decided, Accept) else Accept(context=decided)
        self.context = accept.context
        self.registration = _registration(accept.context)
        ack = dict(accept.ack_payload) if accept.ack_payload is not None else None
        self.protocol.accept(ack, accept.valid_for)

    async def _subscribe(self, subscription_id: str, payload: dict[str, Any]) -> None:
        options = dict(self.registration)
        if self.app.on_subscribe is not None:
            request = SubscribeRequest(
                id=subscription_id,
                query=payload["query"],
                operation_name=payload["operationName"],
                variables=payload["variables"],
                extensions=payload["extensions"],
                context=self.context,
                scope=self.scope,
            )
            try:
                extra = self.app.on_subscribe(request)
                if asyncio.iscoroutine(extra):
                    extra = await extra
            except SubscriptionRefused as refused:
                self.protocol.fail_subscription(subscription_id, [refused.error])
                return
            except Exception:  # noqa: BLE001  (one operation fails, not the connection)
                _log.exception("on_subscribe raised: subscription %r refused", subscription_id)
                failed = {"message": "Internal server error", "extensions": {"code": "INTERNAL_ERROR"}}
                self.protocol.fail_subscription(subscription_id, [failed])
                return
            if extra:
                options.update(extra)
        cursor = (payload["extensions"] or {}).get("cursor")
        if cursor is not None and not isinstance(cursor, str):
            invalid = {"message": "invalid cursor: `extensions.cursor` must be a string",
                       "extensions": {"code": "INVALID_CURSOR"}}
            self.protocol.fail_subscription(subscription_id, [invalid])
            return
        try:
            # Registered first, so live events queue up while the missed ones are replayed.
            resume = self.executor.register_subscription(
                self.connection_id,
                subscription_id,
                payload["query"],
                operation_name=payload["operationName"],
                variables=payload["variables"],
                inbox=self.inbox,
                cursor=cursor,
                **options,
            )
        except SubcastError as error:
            message = {"message": str(error), "extensions": {"code": error.code}}
            self.protocol.fail_subscription(subscription_id, [message])
            return
        if resume is not None:
            await self._replay(subscription_id, resume)

    async def _replay(self, subscription_id: str, resume: Resume) -> None:
        """Write what the subscription missed since its cursor, page by page, before its
        queue is read (the inbox gets it after the last page, and drops the live frames
        the replay wrote). A bus without history gives one ``EVENTS_GAP`` notice. Called
        with the lock held: the connection's other frames wait in their bounded queues."""
        # Reading the bus's history blocks: never on the event loop's thread.
        while (page := await asyncio.to_thread(resume.next_page)) is not None:
            for frame in page:
                if not await self._send_text(frame):
                    # The socket is gone: the subscription ends with the connection.
                    return
        if resume.ended:
            # Its `error` frame was the replay's last: nothing follows it, not even `complete`.
            self.protocol.subscription_ended(subscription_id)
            self._end_subscription(subscription_id)


def _registration(context: SecurityContext | Mapping[str, Any] | None) -> dict[str, Any]:
    if context is None:
        return {}
    if isinstance(context, SecurityContext):
        return context.registration()
    return dict(context)
