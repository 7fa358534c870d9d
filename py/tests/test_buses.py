"""Network buses: an event published on one executor reaches another executor's subscribers."""

from __future__ import annotations

import os
import socket

import pytest

from subcast import EventBusConfig, SubscriptionExecutor

BUSES = {
    "redis": (EventBusConfig.redis, os.environ.get("SUBCAST_REDIS_URL", "redis://127.0.0.1:6379"), 6379),
    "postgresql": (EventBusConfig.postgresql,
                   os.environ.get("SUBCAST_POSTGRES_URL", "postgresql://postgres@127.0.0.1/postgres"), 5432),
}


def reachable(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.mark.parametrize("kind", sorted(BUSES))
def test_event_published_on_one_node_reaches_another_node_once(kind: str) -> None:
    make, url, port = BUSES[kind]
    if not reachable(port):
        pytest.skip(f"{kind} is not running on 127.0.0.1:{port} (scripts/services starts it)")
    with SubscriptionExecutor(bus=make(url)) as a, SubscriptionExecutor(bus=make(url)) as b:
        channel = f"py_{kind}_{os.getpid()}"
        b.register_subscription("c", "s", "subscription { users { id } }", user_id="u", tenant_id="t",
                                channels=[channel])
        assert b.wait_channel_ready(channel, 10)
        assert a.publish_event("userCreated", channel, {"id": "1"}, "t") == 0
        frame = b.recv_blocking("s", timeout=10)
        assert frame == b'{"id":"s","type":"next","payload":{"data":{"users":{"id":"1"}}}}'
        assert b.next_event("s") is None
