"""Network buses: an event published on one executor reaches another executor's subscribers.

These tests need Redis and PostgreSQL on 127.0.0.1 (``scripts/services`` starts both); they
fail, never skip, when a server is missing.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest

from subcast import EventBusConfig, SubscriptionExecutor
from subcast.errors import BusError

BUSES = {
    "redis": (EventBusConfig.redis, os.environ.get("SUBCAST_REDIS_URL", "redis://127.0.0.1:6379"), 6379),
    "postgresql": (EventBusConfig.postgresql,
                   os.environ.get("SUBCAST_POSTGRES_URL", "postgresql://postgres@127.0.0.1/postgres"), 5432),
}


def assert_next(frame: bytes | None, data: dict[str, object], *, cursor: bool) -> None:
    """``frame`` is the ``next`` frame of ``s`` with ``data``; a bus with history adds the
    event's resume cursor as ``payload.extensions.cursor``."""
    assert frame is not None
    parsed = json.loads(frame)
    assert (parsed["id"], parsed["type"], parsed["payload"]["data"]) == ("s", "next", data)
    extensions = parsed["payload"].get("extensions", {})
    assert isinstance(extensions.get("cursor"), str) == cursor, parsed


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
        # The PostgreSQL outbox is a history: its frames carry a cursor.
        assert_next(frame, {"users": {"id": "1"}}, cursor=kind == "postgresql")
        assert b.next_event("s") is None


def server_of(kind: str) -> tuple[str, int]:
    make, url, default_port = BUSES[kind]
    address = urlsplit(url)
    host, port = address.hostname or "127.0.0.1", address.port or default_port
    if not reachable(host, port):
        pytest.fail(f"{kind} is not running on {host}:{port}: start it with scripts/services", pytrace=False)
    return host, port


def open_connections_to(port: int) -> int:
    """This process's established TCP connections to `port` (Linux /proc)."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                remote_port = int(fields[2].rsplit(":", 1)[1], 16)
                if remote_port == port and fields[3] == "01" and fields[9] in inodes:
                    count += 1
    return count


@pytest.mark.parametrize("kind", sorted(BUSES))
def test_get_metrics_from_another_thread_during_a_publish_does_not_deadlock(kind: str) -> None:
    server_of(kind)
    make, url, _ = BUSES[kind]
    metrics: list[dict[str, object]] = []
    with SubscriptionExecutor(bus=make(url)) as ex:
        def read_metrics() -> None:
            metrics.append(ex.get_metrics())

        def resolver(event: dict[str, object], variables: dict[str, object], context: dict[str, object]) -> dict:
            # Runs on the publishing thread, inside `publish_event`.
            reader = threading.Thread(target=read_metrics)
            reader.start()
            reader.join(10)
            return {"users": {"id": "1"}}

        ex.register_subscription("c", "s", "subscription { users { id } }", user_id="u", tenant_id="t",
                                 channels=[f"py_metrics_{kind}_{os.getpid()}"], resolver=resolver)
        ex.publish_event("userCreated", f"py_metrics_{kind}_{os.getpid()}", {"id": "1"}, "t")
    assert len(metrics) == 1


# Redis only: PostgreSQL sessions end asynchronously after close() (the connection task is
# dropped with the stopped runtime), so counting them right after close() would race.
@pytest.mark.parametrize("kind", ["redis"])
def test_close_closes_the_bus_connections(kind: str) -> None:
    _, port = server_of(kind)
    make, url, _ = BUSES[kind]
    before = open_connections_to(port)
    ex = SubscriptionExecutor(bus=make(url))
    assert open_connections_to(port) > before
    ex.close()
    assert open_connections_to(port) == before


def test_redis_prefix_separates_the_nodes_that_share_events() -> None:
    server_of("redis")
    make, url, _ = BUSES["redis"]
    ours, theirs = f"py_a_{os.getpid()}:", f"py_b_{os.getpid()}:"
    channel = f"py_prefix_{os.getpid()}"
    with SubscriptionExecutor(bus=make(url, prefix=ours)) as subscriber, \
            SubscriptionExecutor(bus=make(url, prefix=theirs)) as other_prefix, \
            SubscriptionExecutor(bus=make(url, prefix=ours)) as same_prefix:
        subscriber.register_subscription("c", "s", "subscription { users { id } }", user_id="u",
                                         channels=[channel])
        assert subscriber.wait_channel_ready(channel, 10)
        other_prefix.publish_event("userCreated", channel, {"id": "other"})
        same_prefix.publish_event("userCreated", channel, {"id": "same"})
        # Redis delivers in publish order: had the first event crossed prefixes, it would come first.
        frame = subscriber.recv_blocking("s", timeout=10)
        assert frame == b'{"id":"s","type":"next","payload":{"data":{"users":{"id":"same"}}}}'


def test_postgresql_outbox_table_separates_the_nodes_that_share_events() -> None:
    server_of("postgresql")
    make, url, _ = BUSES["postgresql"]
    # The outbox is where nodes read events from; a NOTIFY only says that rows arrived.
    ours = {"table": "subcast_outbox_py_ours", "channel_prefix": "py_ours:"}
    theirs = {"table": "subcast_outbox_py_theirs", "channel_prefix": "py_theirs:"}
    channel = f"py_prefix_{os.getpid()}"
    with SubscriptionExecutor(bus=make(url, **ours)) as subscriber, \
            SubscriptionExecutor(bus=make(url, **theirs)) as other_outbox, \
            SubscriptionExecutor(bus=make(url, **ours)) as same_outbox:
        subscriber.register_subscription("c", "s", "subscription { users { id } }", user_id="u",
                                         channels=[channel])
        assert subscriber.wait_channel_ready(channel, 10)
        other_outbox.publish_event("userCreated", channel, {"id": "other"})
        same_outbox.publish_event("userCreated", channel, {"id": "same"})
        frame = subscriber.recv_blocking("s", timeout=10)
        assert_next(frame, {"users": {"id": "same"}}, cursor=True)


@pytest.mark.parametrize("threshold", [2, None])
def test_pump_parallel_threshold_splits_large_fan_outs(threshold: int | None) -> None:
    server_of("redis")
    make, url, _ = BUSES["redis"]
    channel = f"py_parallel_{os.getpid()}_{threshold}"
    pump = {"parallel_threshold": threshold, "parallelism": 2} if threshold else None
    subscribers = 1100
    with SubscriptionExecutor(bus=make(url)) as publisher, SubscriptionExecutor(bus=make(url), pump=pump) as node:
        for n in range(subscribers):
            node.register_subscription("c", n, "subscription { users { id } }", user_id="u", channels=[channel])
        assert node.wait_channel_ready(channel, 10)
        publisher.publish_event("userCreated", channel, {"id": "1"})
        assert node.recv_blocking(subscribers - 1, timeout=10) is not None
        assert node.recv_blocking(0, timeout=10) is not None
        split = node.get_metrics()["pump_parallel_dispatches"]
        assert split == (1 if threshold else 0)


NATS_URL = os.environ.get("SUBCAST_NATS_URL", "nats://127.0.0.1:4222")
CLUSTER_SEEDS = ["redis://127.0.0.1:7001", "redis://127.0.0.1:7002", "redis://127.0.0.1:7003"]


def require(host: str, port: int, start_with: str) -> None:
    if not reachable(host, port):
        pytest.fail(f"nothing is running on {host}:{port}: start it with {start_with}", pytrace=False)


def assert_event_crosses(make: Callable[[], EventBusConfig], channel: str, *, history: bool = False) -> None:
    with SubscriptionExecutor(bus=make()) as a, SubscriptionExecutor(bus=make()) as b:
        b.register_subscription("c", "s", "subscription { users { id } }", user_id="u", tenant_id="t",
                                channels=[channel])
        assert b.wait_channel_ready(channel, 10)
        assert a.publish_event("userCreated", channel, {"id": "1"}, "t") == 0
        frame = b.recv_blocking("s", timeout=10)
        assert_next(frame, {"users": {"id": "1"}}, cursor=history)
        assert b.next_event("s") is None


def test_event_published_on_one_node_reaches_another_node_over_core_nats() -> None:
    require("127.0.0.1", 4222, "nats-server")
    prefix = f"pytest.core{os.getpid()}"
    assert_event_crosses(lambda: EventBusConfig.nats(NATS_URL, prefix=prefix), f"py_nats_{os.getpid()}")


def test_event_published_on_one_node_reaches_another_node_over_nats_jetstream() -> None:
    require("127.0.0.1", 4222, "nats-server -js")
    # A stream and subjects of this test's own; short-lived limits so it costs the server little.
    prefix, stream = f"pytest.js{os.getpid()}", f"PYTEST_{os.getpid()}"
    jetstream = {"stream": stream, "max_age": 60, "max_messages": 1000}
    assert_event_crosses(lambda: EventBusConfig.nats(NATS_URL, prefix=prefix, jetstream=jetstream),
                         f"py_js_{os.getpid()}", history=True)


def test_event_published_on_one_node_reaches_another_node_over_redis_cluster() -> None:
    require("127.0.0.1", 7001, "scripts/cluster")
    prefix = f"py_cluster_{os.getpid()}:"
    assert_event_crosses(lambda: EventBusConfig.redis_cluster(CLUSTER_SEEDS, prefix=prefix),
                         f"py_cluster_{os.getpid()}")


def test_redis_cluster_accepts_one_cluster_url() -> None:
    require("127.0.0.1", 7001, "scripts/cluster")
    url = "redis+cluster://127.0.0.1:7001,127.0.0.1:7002"
    prefix = f"py_cluster_url_{os.getpid()}:"
    assert_event_crosses(lambda: EventBusConfig.redis_cluster(url, prefix=prefix), f"py_cluster_url_{os.getpid()}")


def test_nats_bus_with_a_url_of_another_scheme_is_refused_when_connecting() -> None:
    with pytest.raises(BusError, match="nats"):
        SubscriptionExecutor(bus=EventBusConfig.nats("http://127.0.0.1:4222"))


def test_redis_cluster_bus_with_a_url_of_another_scheme_is_refused_when_connecting() -> None:
    with pytest.raises(BusError, match="redis"):
        SubscriptionExecutor(bus=EventBusConfig.redis_cluster(["postgresql://127.0.0.1:7001"]))
