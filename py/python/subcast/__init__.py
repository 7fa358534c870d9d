"""subcast: distribute events to GraphQL subscriptions, with a Rust engine.

A mutation publishes an event on a channel; subcast matches it to the subscriptions
registered on that channel, resolves the GraphQL result once per group of identical
subscriptions (with the built-in projection or a Python resolver), and queues one
graphql-transport-ws frame (``bytes``) per subscriber.

>>> from subcast import SubscriptionExecutor
>>> with SubscriptionExecutor() as ex:
...     ex.register_subscription(connection_id="c1", subscription_id="1",
...                              query="subscription { users { id } }", user_id="ada", tenant_id="acme")
...     ex.publish_event(event_type="userCreated", channel="users", data={"id": "7", "pw": "x"},
...                      tenant_id="acme")
...     ex.next_event("1")
1
b'{"id":"1","type":"next","payload":{"data":{"users":{"id":"7"}}}}'
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from . import _native
from ._native import DocumentLimits, EventBusConfig, PumpConfig, RateLimits, SecurityPolicies, runtime
from . import errors
from .errors import *  # noqa: F403  (every exception class, listed once in errors.__all__)

__all__ = [
    *errors.__all__,
    "DocumentLimits",
    "EventBusConfig",
    "PumpConfig",
    "RateLimits",
    "SecurityPolicies",
    "SubscriptionExecutor",
    "runtime",
]

__version__: str = _native.__version__


class SubscriptionExecutor(_native.SubscriptionExecutor):
    """Registers subscriptions, publishes events and hands out their frames.

    ``SubscriptionExecutor()`` uses the in-memory bus; pass
    ``bus=EventBusConfig.redis(url)`` or ``EventBusConfig.postgresql(url)`` to reach other
    nodes. The executor owns its threads: ``close()`` (or leaving a ``with`` block) stops them.
    """

    async def frames(
        self, subscription_id: str | int, *, connection_id: str | int | None = None
    ) -> AsyncIterator[bytes]:
        """Yield the subscription's frames as they are queued, until it completes.

        Waiting is a wake-up, not a poll; cancelling the consuming task loses no frame.
        """
        receiver = self.receiver(subscription_id, connection_id=connection_id)
        while (frame := await receiver.recv()) is not None:
            yield frame

    async def __aenter__(self) -> SubscriptionExecutor:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()
