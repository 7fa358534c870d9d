"""Strawberry + broadcaster (memory backend) on uvicorn: the Python peer of scripts/bench-e2e.

``/graphql`` serves graphql-transport-ws with an ``orders`` subscription on the broadcaster
channel named by ``connectionParams.channel`` (default ``orders``); ``POST /publish``
takes a JSON array of ``{"channel", "data"}`` and publishes each event.

Run: ``python peers/strawberry/app.py --port 4002``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator

import strawberry
import uvicorn
from broadcaster import Broadcast
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

broadcast = Broadcast("memory://")


@strawberry.type
class Order:
    id: str
    tenant: str
    total: int


@strawberry.type
class Query:
    ready: bool = True


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def orders(self, info: strawberry.Info) -> AsyncGenerator[Order, None]:
        params = info.context.get("connection_params") or {}
        channel = params.get("channel", "orders")
        async with broadcast.subscribe(channel=channel) as subscriber:
            async for event in subscriber:
                yield event.message


schema = strawberry.Schema(query=Query, subscription=Subscription)


async def publish(request: Request) -> JSONResponse | PlainTextResponse:
    try:
        events = json.loads(await request.body())
        parsed = [(e["channel"], Order(**e["data"])) for e in events]
    except (ValueError, KeyError, TypeError) as error:
        return PlainTextResponse(f"need an array of {{channel, data}}: {error}", status_code=400)
    for channel, order in parsed:
        await broadcast.publish(channel=channel, message=order)
    return JSONResponse({"published": len(parsed)})


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    await broadcast.connect()
    yield
    await broadcast.disconnect()


graphql = GraphQL(schema, subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL])
app = Starlette(
    routes=[WebSocketRoute("/graphql", graphql), Route("/publish", publish, methods=["POST"])],
    lifespan=lifespan,
)

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=4002)
    port = parser.parse_args().port
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", ws="websockets", backlog=2048)
