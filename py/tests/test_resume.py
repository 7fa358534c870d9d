"""Resume from a client cursor: ``register_subscription(..., cursor=)`` and ``Resume``, on
real buses with history (the PostgreSQL outbox, a Redis replay stream, NATS JetStream, a
Redis Cluster's replay streams) and through ``subcast.asgi``.

These tests need PostgreSQL, Redis, NATS with JetStream and the Redis Cluster on 127.0.0.1
(``scripts/services``, ``nats-server -js``, ``scripts/cluster``); they fail, never skip,
when a server is missing.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import socket
from typing import Any

import pytest

from subcast import EventBusConfig, SubscriptionExecutor
from subcast._native import Resume
from subcast.errors import SubcastError
from test_protocol import acknowledged_with

POSTGRES_URL = os.environ.get("SUBCAST_POSTGRES_URL", "postgresql://postgres@127.0.0.1/postgres")
REDIS_URL = os.environ.get("SUBCAST_REDIS_URL", "redis://127.0.0.1:6379")
NATS_URL = os.environ.get("SUBCAST_NATS_URL", "nats://127.0.0.1:4222")
CLUSTER_SEEDS = ["redis://127.0.0.1:7001", "redis://127.0.0.1:7002", "redis://127.0.0.1:7003"]
USERS = "subscription { users { id } }"
WAIT = 10.0
_channels = itertools.count(1)


def require(port: int, name: str) -> None:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        pytest.fail(f"{name} is not running on 127.0.0.1:{port}: start it with scripts/services", pytrace=False)


def postgresql() -> EventBusConfig:
    require(5432, "PostgreSQL")
    return EventBusConfig.postgresql(POSTGRES_URL)


def redis_with_replay() -> EventBusConfig:
    require(6379, "Redis")
    return EventBusConfig.redis(REDIS_URL, replay_len=1000)


def nats_with_jetstream() -> EventBusConfig:
    require(4222, "nats-server -js")
    # A stream and subjects of these tests' own; short-lived limits so it costs the server little.
    jetstream = {"stream": f"PYRESUME_{os.getpid()}", "max_age": 60, "max_messages": 1000}
    return EventBusConfig.nats(NATS_URL, prefix=f"pyresume.js{os.getpid()}", jetstream=jetstream)


def redis_cluster_with_replay() -> EventBusConfig:
    require(7001, "scripts/cluster")
    return EventBusConfig.redis_cluster(CLUSTER_SEEDS, prefix=f"py_resume_{os.getpid()}:", replay_len=1000)


BUSES_WITH_HISTORY = {
    "postgresql": postgresql,
    "redis": redis_with_replay,
    "nats_jetstream": nats_with_jetstream,
    "redis_cluster": redis_cluster_with_replay,
}


def fresh_channel() -> str:
    return f"py_resume_{os.getpid()}_{next(_channels)}"


def subscribe(ex: SubscriptionExecutor, connection: str, channel: str, cursor: str | None = None) -> Resume | None:
    return ex.register_subscription(connection, "s", USERS, user_id="u", tenant_id="t", channels=[channel],
                                    cursor=cursor)


def publish(ex: SubscriptionExecutor, channel: str, *ids: str, tenant: str = "t") -> None:
    for id in ids:
        ex.publish_event("userCreated", channel, {"id": id}, tenant)


def cursor_of(frame: bytes | str | None) -> str:
    assert frame is not None
    cursor = json.loads(frame)["payload"]["extensions"]["cursor"]
    assert isinstance(cursor, str)
    return cursor


def event_id(frame: bytes | str) -> str:
    payload = json.loads(frame)["payload"]
    assert "data" in payload, payload
    return payload["data"]["users"]["id"]


def is_gap(frame: bytes | str) -> bool:
    errors = json.loads(frame)["payload"].get("errors", [])
    return [e["extensions"]["code"] for e in errors] == ["EVENTS_GAP"]


def replay(resume: Resume) -> list[str]:
    frames: list[str] = []
    while (page := resume.next_page()) is not None:
        frames.extend(page)
    assert resume.finished and not resume.ended
    return frames


def missed_by_a_client_that_read_the_first(ex: SubscriptionExecutor, channel: str, *ids: str,
                                           tenants: dict[str, str] | None = None) -> str:
    """Publish ``ids`` to a first connection's subscription, which reads the first then
    drops; the cursor of that first frame."""
    subscribe(ex, "gone", channel)
    assert ex.wait_channel_ready(channel, WAIT)
    for id in ids:
        publish(ex, channel, id, tenant=(tenants or {}).get(id, "t"))
    cursor = cursor_of(ex.recv_blocking("s", WAIT, connection_id="gone"))
    ex.complete_connection("gone")
    return cursor


@pytest.mark.parametrize("bus", sorted(BUSES_WITH_HISTORY))
def test_resume_replays_the_missed_events_in_order_then_live_ones_without_a_duplicate(bus: str) -> None:
    channel = fresh_channel()
    with SubscriptionExecutor(bus=BUSES_WITH_HISTORY[bus]()) as ex:
        cursor = missed_by_a_client_that_read_the_first(ex, channel, "1", "2", "3")
        resume = subscribe(ex, "back", channel, cursor)
        assert resume is not None and resume.channel == channel
        # Published once the subscription is back: both in the history read and queued live.
        publish(ex, channel, "4")
        assert [event_id(f) for f in replay(resume)] == ["2", "3", "4"]
        publish(ex, channel, "5")
        live = []
        while not live or live[-1] != "5":
            frame = ex.recv_blocking("s", WAIT, connection_id="back")
            assert frame is not None
            if not resume.is_replayed(frame):
                live.append(event_id(frame))
        assert live == ["5"]
        assert ex.next_event("s", connection_id="back") is None


def test_a_connection_inbox_gets_the_resumed_subscription_after_its_replay_without_the_seam() -> None:
    channel = fresh_channel()
    connection = acknowledged_with("s")
    with SubscriptionExecutor(bus=postgresql()) as ex:
        cursor = missed_by_a_client_that_read_the_first(ex, channel, "1", "2")
        inbox = ex.connection_inbox()
        resume = ex.register_subscription("back", "s", USERS, user_id="u", tenant_id="t", channels=[channel],
                                          inbox=inbox, cursor=cursor)
        assert resume is not None
        publish(ex, channel, "3")
        # Not attached while the replay is written: its live frames wait in its queue.
        assert len(inbox) == 0
        assert [event_id(f) for f in replay(resume)] == ["2", "3"]
        assert len(inbox) == 1
        publish(ex, channel, "4")
        frames, ended = inbox.take_frames(connection)
        assert ([event_id(f) for f in frames], ended) == (["4"], [])
        inbox.close()


@pytest.mark.parametrize("bus", sorted(BUSES_WITH_HISTORY))
def test_an_event_the_subscriber_may_not_see_is_not_replayed(bus: str) -> None:
    channel = fresh_channel()
    with SubscriptionExecutor(bus=BUSES_WITH_HISTORY[bus]()) as ex:
        cursor = missed_by_a_client_that_read_the_first(ex, channel, "1", "other tenant's", "3",
                                                        tenants={"other tenant's": "intruder"})
        resume = subscribe(ex, "back", channel, cursor)
        assert resume is not None
        assert [event_id(f) for f in replay(resume)] == ["3"]


def test_a_cursor_older_than_the_retained_history_gets_events_gap_first() -> None:
    require(6379, "Redis")
    channel = fresh_channel()
    # A stream of one entry (trimmed a node of 100 at a time): the first event is long gone.
    with SubscriptionExecutor(bus=EventBusConfig.redis(REDIS_URL, replay_len=1)) as ex:
        ids = [str(n) for n in range(1, 251)]
        cursor = missed_by_a_client_that_read_the_first(ex, channel, *ids)
        resume = subscribe(ex, "back", channel, cursor)
        assert resume is not None
        frames = replay(resume)
        assert is_gap(frames[0])
        replayed = [int(event_id(f)) for f in frames[1:]]
        assert replayed and replayed == sorted(replayed) and replayed[-1] == 250 and replayed[0] > 2


def test_a_malformed_cursor_is_refused_and_registers_nothing() -> None:
    with SubscriptionExecutor() as ex:
        for cursor in ["not a cursor", "1.zz.1-0", ""]:
            with pytest.raises(SubcastError) as refused:
                subscribe(ex, "c", "users", cursor)
            assert refused.value.code == "INVALID_CURSOR"
        assert ex.get_metrics()["active_subscriptions"] == 0


def test_a_cursor_of_a_channel_the_subscription_does_not_listen_to_is_refused() -> None:
    channel = fresh_channel()
    with SubscriptionExecutor(bus=postgresql()) as ex:
        cursor = missed_by_a_client_that_read_the_first(ex, channel, "1")
        with pytest.raises(SubcastError) as refused:
            subscribe(ex, "back", fresh_channel(), cursor)
        assert refused.value.code == "INVALID_CURSOR"
        assert ex.get_metrics()["active_subscriptions"] == 0


def test_a_cursor_on_a_bus_without_history_gets_one_gap_notice() -> None:
    with SubscriptionExecutor() as ex:
        # A well-formed cursor of channel "users" at 5-0.
        resume = subscribe(ex, "c", "users", "1.7573657273.5-0")
        assert resume is not None
        frames = replay(resume)
        assert len(frames) == 1 and is_gap(frames[0])


def test_a_subscription_without_a_cursor_has_no_resume() -> None:
    with SubscriptionExecutor() as ex:
        assert subscribe(ex, "c", "users") is None


# Through subcast.asgi, under uvicorn: a client reconnects with the cursor of the last frame it read.
uvicorn = pytest.importorskip("uvicorn")
websockets = pytest.importorskip("websockets")
from subcast.asgi import GraphQLTransportWS, SecurityContext  # noqa: E402
from test_asgi import recv_json, serving  # noqa: E402


async def on_connect(params: dict[str, Any], scope: Any) -> SecurityContext:
    return SecurityContext(user_id="u", tenant_id="t")


def subscribe_message(channel: str, cursor: str | None) -> str:
    payload: dict[str, Any] = {"query": USERS, "extensions": {"channel": channel}}
    if cursor is not None:
        payload["extensions"]["cursor"] = cursor
    return json.dumps({"id": "s", "type": "subscribe", "payload": payload})


def on_subscribe(request: Any) -> dict[str, Any]:
    return {"channels": [request.extensions["channel"]]}


async def connected(url: str) -> Any:
    client = await websockets.connect(url, subprotocols=["graphql-transport-ws"])
    await client.send(json.dumps({"type": "connection_init", "payload": {}}))
    assert await recv_json(client) == {"type": "connection_ack"}
    return client


def test_a_reconnecting_asgi_client_gets_the_missed_events_then_live_ones() -> None:
    channel = fresh_channel()

    async def test(ex: SubscriptionExecutor) -> None:
        app = GraphQLTransportWS(ex, on_connect=on_connect, on_subscribe=on_subscribe)
        async with serving(app) as url:
            first = await connected(url)
            await first.send(subscribe_message(channel, None))
            await asyncio.wait_for(asyncio.to_thread(ex.wait_channel_ready, channel, WAIT), WAIT)
            publish(ex, channel, "1")
            cursor = cursor_of(json.dumps(await recv_json(first)))
            await first.close()
            publish(ex, channel, "2", "3")
            again = await connected(url)
            await again.send(subscribe_message(channel, cursor))
            assert [event_id(json.dumps(await recv_json(again))) for _ in range(2)] == ["2", "3"]
            publish(ex, channel, "4")
            assert event_id(json.dumps(await recv_json(again))) == "4"
            await again.close()

    with SubscriptionExecutor(bus=postgresql()) as ex:
        asyncio.run(test(ex))


def failing_on_2(event: dict[str, Any], variables: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    if event["data"]["id"] == "2":
        raise ValueError("cannot resolve 2")
    return {"users": {"id": event["data"]["id"]}}


def test_a_replayed_event_whose_resolver_fails_ends_the_subscription_with_its_error_frame() -> None:
    channel = fresh_channel()
    with SubscriptionExecutor(bus=postgresql()) as ex:
        cursor = missed_by_a_client_that_read_the_first(ex, channel, "1", "2", "3")
        resume = ex.register_subscription("back", "s", USERS, user_id="u", tenant_id="t", channels=[channel],
                                          resolver=failing_on_2, cursor=cursor)
        assert resume is not None
        page = resume.next_page()
        assert page is not None and [json.loads(f)["type"] for f in page] == ["error"]
        assert resume.ended and resume.finished
        assert resume.next_page() is None


def test_an_asgi_replay_ended_by_an_error_frame_is_followed_by_nothing() -> None:
    channel = fresh_channel()

    def with_resolver(request: Any) -> dict[str, Any]:
        return {"channels": [request.extensions["channel"]], "resolver": failing_on_2}

    async def test(ex: SubscriptionExecutor) -> None:
        app = GraphQLTransportWS(ex, on_connect=on_connect, on_subscribe=with_resolver)
        async with serving(app) as url:
            client = await connected(url)
            await client.send(subscribe_message(channel, cursor))
            error = await recv_json(client)
            assert (error["id"], error["type"]) == ("s", "error")
            assert error["payload"][0]["extensions"]["code"] == "RESOLVER_ERROR"
            # The next message answers a later ping: no `complete` after the `error`.
            await client.send(json.dumps({"type": "ping"}))
            assert await recv_json(client) == {"type": "pong"}
            assert ex.get_metrics()["active_subscriptions"] == 0
            await client.close()

    with SubscriptionExecutor(bus=postgresql()) as ex:
        cursor = missed_by_a_client_that_read_the_first(ex, channel, "1", "2", "3")
        asyncio.run(test(ex))
