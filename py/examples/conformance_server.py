"""The ASGI endpoint as the conformance suite drives it (tests/conformance/README.md).

Starlette on uvicorn, on 127.0.0.1: ``/graphql`` (graphql-transport-ws, ``subcast.asgi``),
``POST /publish`` and ``GET /metrics``; a demo order on channel ``orders`` every
``--publish-interval-ms``, alternating between tenants ``acme`` and ``globex``.
Clients authenticate with ``connectionParams`` ``{"tenant", "user"}``. SIGTERM or Ctrl-C
closes every connection with 1001 ``Going away``, then stops the server.

Run: ``python py/examples/conformance_server.py --port 4000``. Flags (milliseconds; 0
turns a timer off): ``--port N`` (0: any free port), ``--publish-interval-ms N`` (1000),
``--keep-alive-ms N`` (12000), ``--pong-timeout-ms N`` (12000), ``--init-timeout-ms N``
(3000), ``--auth-expiry-ms N`` (none), ``--max-subscriptions N`` (100).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import sys
from collections.abc import AsyncIterator
from types import FrameType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute

from subcast import SubscriptionExecutor
from subcast.asgi import Accept, ConnectionRefused, GraphQLTransportWS, SecurityContext

NEVER = 4_294_967_296.0
"""A timer that never fires, in seconds (the longest a ProtocolConfig takes)."""


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("port_arg", nargs="?", type=int, help="the port (as --port)")
    parser.add_argument("--port", type=int, default=4000)
    for flag, default in [
        ("--publish-interval-ms", 1000),
        ("--keep-alive-ms", 12000),
        ("--pong-timeout-ms", 12000),
        ("--init-timeout-ms", 3000),
        ("--auth-expiry-ms", 0),
    ]:
        parser.add_argument(flag, type=int, default=default)
    parser.add_argument("--max-subscriptions", type=int, default=100)
    options = parser.parse_args(argv)
    if options.port_arg is not None:
        options.port = options.port_arg
    return options


def seconds(ms: int) -> float | None:
    """Milliseconds as seconds; 0 turns the timer off (`None`)."""
    return ms / 1000 if ms > 0 else None


def build(options: argparse.Namespace) -> tuple[Starlette, GraphQLTransportWS, SubscriptionExecutor]:
    executor = SubscriptionExecutor()
    expiry = seconds(options.auth_expiry_ms)

    async def on_connect(params: dict[str, Any], scope: Any) -> Accept:
        tenant, user = params.get("tenant"), params.get("user")
        if not isinstance(tenant, str) or not isinstance(user, str):
            raise ConnectionRefused("Forbidden: connectionParams need a tenant and a user")
        return Accept(SecurityContext(user_id=user, tenant_id=tenant), valid_for=expiry)

    ws = GraphQLTransportWS(
        executor,
        on_connect=on_connect,
        config={
            "keep_alive": seconds(options.keep_alive_ms),
            "pong_timeout": seconds(options.pong_timeout_ms) or NEVER,
            "connection_init_timeout": seconds(options.init_timeout_ms) or NEVER,
            "max_subscriptions": options.max_subscriptions,
        },
    )

    async def publish(request: Request) -> JSONResponse | PlainTextResponse:
        try:
            body = json.loads(await request.body())
            channel, data = body["channel"], body["data"]
        except (ValueError, KeyError, TypeError) as error:
            return PlainTextResponse(f"need JSON with a channel and data: {error}", status_code=400)
        delivered = executor.publish_event(
            body.get("type", "published"), channel, data, tenant_id=body.get("tenant")
        )
        return JSONResponse({"matched": delivered, "delivered": delivered})

    async def metrics(request: Request) -> PlainTextResponse:
        return PlainTextResponse(executor.metrics_prometheus())

    async def demo_orders(interval: float) -> None:
        for n in range(sys.maxsize):
            tenant = "acme" if n % 2 == 0 else "globex"
            order = {"id": f"order-{n}", "tenant": tenant, "total": n % 100}
            executor.publish_event("orderPlaced", "orders", order, tenant_id=tenant)
            await asyncio.sleep(interval)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        interval = seconds(options.publish_interval_ms)
        demo = asyncio.create_task(demo_orders(interval)) if interval else None
        yield
        if demo is not None:
            demo.cancel()
        executor.close()

    app = Starlette(
        routes=[
            WebSocketRoute("/graphql", ws),
            Route("/publish", publish, methods=["POST"]),
            Route("/metrics", metrics),
        ],
        lifespan=lifespan,
    )
    return app, ws, executor


class GracefulServer(uvicorn.Server):
    """uvicorn, but a first SIGTERM or Ctrl-C closes every graphql-transport-ws connection
    with 1001 before uvicorn's own shutdown (which would close them with 1012)."""

    def __init__(self, config: uvicorn.Config, ws: GraphQLTransportWS) -> None:
        super().__init__(config)
        self.ws = ws
        self.closing: asyncio.Task[None] | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.closing is not None:
            return super().handle_exit(sig, frame)
        self.closing = asyncio.get_running_loop().create_task(self.close_then_exit(sig, frame))

    async def close_then_exit(self, sig: int, frame: FrameType | None) -> None:
        if not await self.ws.close_all(timeout=5.0):
            print("some connections did not close within 5 s", file=sys.stderr)
        super().handle_exit(sig, frame)


async def main(argv: list[str]) -> None:
    options = parse(argv)
    app, ws, _ = build(options)
    # Bound and listening before the URL is printed: a client connecting at once waits in
    # the backlog instead of being refused.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", options.port))
    listener.listen(128)
    host, port = listener.getsockname()
    config = uvicorn.Config(app, log_level="warning", ws="websockets", lifespan="on")
    server = GracefulServer(config, ws)
    print(f"graphql-transport-ws on ws://{host}:{port}/graphql, metrics on /metrics", flush=True)
    await server.serve(sockets=[listener])


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
