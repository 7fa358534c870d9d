"""subcast.asgi under a real ASGI server: uvicorn on loopback, the `websockets` client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

uvicorn = pytest.importorskip("uvicorn")
websockets = pytest.importorskip("websockets")
from websockets.exceptions import ConnectionClosed  # noqa: E402

from subcast import SubscriptionExecutor  # noqa: E402
from subcast.asgi import ConnectionRefused, GraphQLTransportWS, SecurityContext  # noqa: E402

ORDERS = "subscription { orders { id total } }"
WAIT = 10.0


async def on_connect(params: dict[str, Any], scope: Any) -> SecurityContext:
    if not isinstance(params.get("user"), str):
        raise ConnectionRefused("Forbidden: no user")
    return SecurityContext(user_id=params["user"], tenant_id=params.get("tenant"))


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """Serve ASGI `app` with uvicorn on a free loopback port; yields its /graphql URL."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    # Listening before the server runs: a client connecting at once waits in the backlog.
    listener.listen(128)
    port = listener.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", ws="websockets", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        yield f"ws://127.0.0.1:{port}/graphql"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, WAIT)


def run(test: Callable[[SubscriptionExecutor], Awaitable[None]]) -> None:
    executor = SubscriptionExecutor()
    try:
        asyncio.run(test(executor))
    finally:
        executor.close()


async def connect(url: str, subprotocols: list[str] | None = None) -> Any:
    offered = ["graphql-transport-ws"] if subprotocols is None else subprotocols
    return await websockets.connect(url, subprotocols=offered)


async def recv_json(client: Any) -> dict[str, Any]:
    message = await asyncio.wait_for(client.recv(), WAIT)
    assert isinstance(message, str), f"a binary message: {message!r}"
    return json.loads(message)


async def close_code(client: Any) -> int:
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(client.recv(), WAIT)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


async def acknowledged(url: str, params: dict[str, Any] | None = None) -> Any:
    client = await connect(url)
    await client.send(json.dumps({"type": "connection_init", "payload": params or {"user": "alice", "tenant": "acme"}}))
    assert await recv_json(client) == {"type": "connection_ack"}
    return client


async def active_subscriptions_become(executor: SubscriptionExecutor, count: int) -> None:
    async def reached() -> None:
        while executor.get_metrics()["active_subscriptions"] != count:
            # A poll interval, not a synchronisation: the gauge itself is awaited.
            await asyncio.sleep(0.005)

    await asyncio.wait_for(reached(), WAIT)


def subscribe(id: str, query: str = ORDERS) -> str:
    return json.dumps({"id": id, "type": "subscribe", "payload": {"query": query}})


def test_connection_init_is_answered_by_connection_ack() -> None:
    async def test(executor: SubscriptionExecutor) -> None:
        async with serving(GraphQLTransportWS(executor, on_connect=on_connect)) as url:
            client = await acknowledged(url)
            await client.close()

    run(test)


def test_published_event_arrives_as_a_text_next_message() -> None:
    async def test(executor: SubscriptionExecutor) -> None:
        async with serving(GraphQLTransportWS(executor, on_connect=on_connect)) as url:
            client = await acknowledged(url)
            await client.send(subscribe("s1"))
            await active_subscriptions_become(executor, 1)
            executor.publish_event("orderPlaced", "orders", {"id": "o-1", "total": 5}, tenant_id="acme")
            assert await recv_json(client) == {
                "id": "s1",
                "type": "next",
                "payload": {"data": {"orders": {"id": "o-1", "total": 5}}},
            }
            await client.close()

    run(test)


def test_refused_connection_init_closes_with_4403() -> None:
    async def test(executor: SubscriptionExecutor) -> None:
        async with serving(GraphQLTransportWS(executor, on_connect=on_connect)) as url:
            client = await connect(url)
            await client.send(json.dumps({"type": "connection_init", "payload": {"tenant": "acme"}}))
            assert await close_code(client) == 4403

    run(test)


def test_subscribe_before_connection_ack_closes_with_4401() -> None:
    async def test(executor: SubscriptionExecutor) -> None:
        async with serving(GraphQLTransportWS(executor, on_connect=on_connect)) as url:
            client = await connect(url)
            await client.send(subscribe("s1"))
            assert await close_code(client) == 4401

    run(test)


def test_client_offering_no_subprotocol_is_closed_with_4406() -> None:
    async def test(executor: SubscriptionExecutor) -> None:
        async with serving(GraphQLTransportWS(executor)) as url:
            client = await connect(url, subprotocols=[])
            assert await close_code(client) == 4406

    run(test)


def test_invalid_document_gets_one_error_and_the_socket_stays_open() -> None:
    async def test(executor: SubscriptionExecutor) -> None:
        async with serving(GraphQLTransportWS(executor, on_connect=on_connect)) as url:
            client = await acknowledged(url)
            await client.send(subscribe("s1", "subscription { orders { id "))
            error = await recv_json(client)
            assert (error["id"], error["type"]) == ("s1", "error")
            assert error["payload"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
            await client.send(json.dumps({"type": "ping", "payload": {"n": 1}}))
            assert await recv_json(client) == {"type": "pong", "payload": {"n": 1}}
            await client.close()

    run(test)


def subscribe_with_cursor(id: str, cursor: Any) -> str:
    payload = {"query": ORDERS, "extensions": {"cursor": cursor}}
    return json.dumps({"id": id, "type": "subscribe", "payload": payload})


def test_a_cursor_is_answered_with_a_gap_notice_before_live_events() -> None:
    async def test(executor: SubscriptionExecutor) -> None:
        async with serving(GraphQLTransportWS(executor, on_connect=on_connect)) as url:
            client = await acknowledged(url)
            await client.send(subscribe_with_cursor("s1", "1.6f7264657273.5-0"))
            notice = await recv_json(client)
            assert (notice["id"], notice["type"]) == ("s1", "next")
            assert notice["payload"]["errors"][0]["extensions"] == {"code": "EVENTS_GAP"}
            await active_subscriptions_become(executor, 1)
            executor.publish_event("orderPlaced", "orders", {"id": "o-1", "total": 5}, tenant_id="acme")
            assert (await recv_json(client))["payload"] == {"data": {"orders": {"id": "o-1", "total": 5}}}
            await client.close()

    run(test)


def test_a_cursor_that_is_not_a_string_gets_an_invalid_cursor_error() -> None:
    async def test(executor: SubscriptionExecutor) -> None:
        async with serving(GraphQLTransportWS(executor, on_connect=on_connect)) as url:
            client = await acknowledged(url)
            await client.send(subscribe_with_cursor("s1", 42))
            error = await recv_json(client)
            assert (error["id"], error["type"]) == ("s1", "error")
            assert error["payload"][0]["extensions"]["code"] == "INVALID_CURSOR"
            assert executor.get_metrics()["active_subscriptions"] == 0
            await client.close()

    run(test)


@pytest.mark.timeout(120)
def test_a_thousand_abruptly_closed_connections_leave_no_subscription() -> None:
    async def test(executor: SubscriptionExecutor) -> None:
        # A thousand handshakes at once can take longer than the default 3 s on a busy machine.
        ws = GraphQLTransportWS(executor, on_connect=on_connect, config={"connection_init_timeout": 60})
        async with serving(ws) as url:
            clients = []
            # In batches: client and server share this event loop.
            for _ in range(10):
                clients += await asyncio.gather(*(acknowledged(url) for _ in range(100)))
            for client in clients:
                await client.send(subscribe("a"))
                await client.send(subscribe("b"))
            await active_subscriptions_become(executor, 2000)
            for client in clients:
                # No close frame: the TCP connection just ends.
                client.transport.abort()
            await active_subscriptions_become(executor, 0)

    run(test)


def test_close_all_closes_every_connection_with_1001() -> None:
    async def test(executor: SubscriptionExecutor) -> None:
        ws = GraphQLTransportWS(executor, on_connect=on_connect)
        async with serving(ws) as url:
            subscribed = await acknowledged(url)
            await subscribed.send(subscribe("s1"))
            idle = await connect(url)
            await active_subscriptions_become(executor, 1)
            assert await ws.close_all()
            for client in (subscribed, idle):
                assert await close_code(client) == 1001
            await active_subscriptions_become(executor, 0)

    run(test)


def test_ariadne_mutation_over_http_reaches_the_subcast_subscription_on_the_same_path() -> None:
    pytest.importorskip("ariadne")
    import importlib.util
    import pathlib
    import urllib.request

    path = pathlib.Path(__file__).parents[1] / "examples" / "ariadne_server.py"
    spec = importlib.util.spec_from_file_location("ariadne_server", path)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)

    def post(url: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            url,
            data=json.dumps(body).encode(),
            headers={"content-type": "application/json", "x-tenant": "acme"},
        )
        with urllib.request.urlopen(request, timeout=WAIT) as response:
            return json.loads(response.read())

    async def test(executor: SubscriptionExecutor) -> None:
        async with serving(example.create_app(executor)) as url:
            client = await acknowledged(url)
            await client.send(subscribe("s1"))
            await active_subscriptions_become(executor, 1)
            mutation = 'mutation { placeOrder(id: "o-7", total: 7) { id } }'
            http_url = url.replace("ws://", "http://")
            answer = await asyncio.to_thread(post, http_url, {"query": mutation})
            assert answer == {"data": {"placeOrder": {"id": "o-7"}}}
            assert (await recv_json(client))["payload"] == {"data": {"orders": {"id": "o-7", "total": 7}}}
            await client.close()

    run(test)
