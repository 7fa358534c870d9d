"""The ASGI endpoint (``subcast.asgi``) on uvicorn, as scripts/bench-e2e drives it.

``/graphql`` serves graphql-transport-ws; a subscription listens on the channel named by its
subscribe message's ``extensions.channel`` (default: the root field's, ``orders``): for
benchmarks only, since any client may then pick any channel of its tenant. ``POST
/publish`` takes a JSON array of ``{"channel", "tenant", "data"}`` and publishes each event.

Run: ``python bench/e2e/asgi_app.py --port 4003``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute

from subcast import SubscriptionExecutor
from subcast.asgi import ConnectionRefused, GraphQLTransportWS, SecurityContext, SubscribeRequest

executor = SubscriptionExecutor()


async def on_connect(params: dict[str, Any], scope: Any) -> SecurityContext:
    tenant, user = params.get("tenant"), params.get("user")
    if not isinstance(tenant, str) or not isinstance(user, str):
        raise ConnectionRefused("Forbidden: connectionParams need a tenant and a user")
    return SecurityContext(user_id=user, tenant_id=tenant)


def on_subscribe(request: SubscribeRequest) -> dict[str, Any]:
    channel = (request.extensions or {}).get("channel")
    return {"channels": [channel]} if isinstance(channel, str) else {}


ws = GraphQLTransportWS(executor, on_connect=on_connect, on_subscribe=on_subscribe, config={"keep_alive": None})


async def publish(request: Request) -> JSONResponse | PlainTextResponse:
    try:
        events = json.loads(await request.body())
        parsed = [(e["channel"], e["data"], e.get("tenant")) for e in events]
    except (ValueError, KeyError, TypeError) as error:
        return PlainTextResponse(f"need an array of {{channel, data}}: {error}", status_code=400)
    delivered = 0
    for channel, data, tenant in parsed:
        delivered += executor.publish_event("published", channel, data, tenant_id=tenant)
    return JSONResponse({"delivered": delivered})


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    yield
    executor.close()


app = Starlette(
    routes=[WebSocketRoute("/graphql", ws), Route("/publish", publish, methods=["POST"])],
    lifespan=lifespan,
)

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=4003)
    port = parser.parse_args().port
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", ws="websockets", backlog=2048)
