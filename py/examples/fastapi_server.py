"""FastAPI with subcast serving graphql-transport-ws subscriptions on /graphql.

Run: ``python py/examples/fastapi_server.py``, subscribe with any graphql-ws client
(``connectionParams: {"user": "alice", "tenant": "acme"}``,
``subscription { orders { id total } }``), then place an order:
``curl -H 'content-type: application/json' -d '{"id": "o-1", "total": 5}' 'localhost:8000/orders?tenant=acme'``.
"""

import uvicorn
from fastapi import FastAPI

from subcast import SubscriptionExecutor
from subcast.asgi import GraphQLTransportWS, SecurityContext

executor = SubscriptionExecutor()


async def on_connect(params: dict, scope: dict) -> SecurityContext:
    return SecurityContext(user_id=params["user"], tenant_id=params["tenant"])


app = FastAPI()
app.add_websocket_route("/graphql", GraphQLTransportWS(executor, on_connect=on_connect))


@app.post("/orders")
def place_order(order: dict, tenant: str) -> dict:
    return {"delivered": executor.publish_event("orderPlaced", "orders", order, tenant_id=tenant)}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=8000)
