"""Ariadne serves queries and mutations over HTTP, subcast serves subscriptions, both on
/graphql: Starlette routes the HTTP requests to Ariadne and the WebSocket to subcast.

A ``placeOrder`` mutation publishes an ``orders`` event for the caller's tenant (header
``x-tenant`` here, for brevity); every subscriber of that tenant receives it:

    subscription { orders { id total } }      # graphql-ws, connectionParams {"user", "tenant"}
    mutation { placeOrder(id: "o-1", total: 5) { id } }     # POST /graphql, x-tenant: acme

Run: ``python py/examples/ariadne_server.py`` (port 8000).
"""

from __future__ import annotations

from typing import Any

import uvicorn
from ariadne import MutationType, QueryType, make_executable_schema
from ariadne.asgi import GraphQL
from starlette.applications import Starlette
from starlette.routing import Route, WebSocketRoute

from subcast import SubscriptionExecutor
from subcast.asgi import GraphQLTransportWS, SecurityContext

TYPE_DEFS = """
type Order { id: ID! total: Int! }
type Query { ping: String! }
type Mutation { placeOrder(id: ID!, total: Int!): Order! }
type Subscription { orders: Order! }
"""


async def on_connect(params: dict[str, Any], scope: Any) -> SecurityContext:
    return SecurityContext(user_id=params["user"], tenant_id=params["tenant"])


def create_app(executor: SubscriptionExecutor) -> Starlette:
    query, mutation = QueryType(), MutationType()
    query.set_field("ping", lambda *_: "pong")

    @mutation.field("placeOrder")
    def place_order(_: Any, info: Any, id: str, total: int) -> dict[str, Any]:
        order = {"id": id, "total": total}
        tenant = info.context["request"].headers.get("x-tenant", "acme")
        executor.publish_event("orderPlaced", "orders", order, tenant_id=tenant)
        return order

    schema = make_executable_schema(TYPE_DEFS, query, mutation)
    return Starlette(
        routes=[
            Route("/graphql", GraphQL(schema), methods=["GET", "POST"]),
            WebSocketRoute("/graphql", GraphQLTransportWS(executor, on_connect=on_connect)),
        ]
    )


if __name__ == "__main__":
    uvicorn.run(create_app(SubscriptionExecutor()), host="127.0.0.1", port=8000)
