"""Network buses: an event published on one executor reaches another executor's subscribers.

These tests need Redis and PostgreSQL on 127.0.0.1 (``scripts/services`` starts both); they
fail, never skip, when a server is missing.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest

from subcast import EventBusConfig, SubscriptionExecutor

BUSES = {
    "redis": (EventBusConfig.redis, os.environ.get("SUBCAST_REDIS_URL", "redis://127.0.0.1:6379"), 6379),
    "postgresql": (EventBusConfig.postgresql,
                   os.environ.get("SUBCAST_POSTGRES_URL", "postgresql://postgres@127.0.0.1/postgres"), 5432),
}


def reachable(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.mark.parametrize("kind", sorted(BUSES))
def test_event_published_on_one_node_reaches_another_node_once(kind: str) -> None:
    make, url, default_port = BUSES[kind]
    address = urlsplit(url)
    host, port = address.hostname or "127.0.0.1", address.port or default_port
    if not reachable(host, port):
        # CI starts both servers, so an unreachable one is a broken setup, never a pass.
        pytest.fail(f"{kind} is not running on {host}:{port}: start it with scripts/services", pytrace=False)
    with SubscriptionExecutor(bus=make(url)) as a, SubscriptionExecutor(bus=make(url)) as b:
        channel = f"py_{kind}_{os.getpid()}"
        b.register_subscription("c", "s", "subscription { users { id } }", user_id="u", tenant_id="t",
                                channels=[channel])
        assert b.wait_channel_ready(channel, 10)
        assert a.publish_event("userCreated", channel, {"id": "1"}, "t") == 0
        frame = b.recv_blocking("s", timeout=10)
        assert frame == b'{"id":"s","type":"next","payload":{"data":{"users":{"id":"1"}}}}'
        assert b.next_event("s") is None
