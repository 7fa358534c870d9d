"""Validate subscriptions against an Ariadne schema: subcast is given the schema's SDL.

Ariadne builds its executable schema from SDL type definitions; the same text (checked by
``make_executable_schema``) is what ``SubscriptionExecutor(schema=sdl)`` parses and
validates once. ``graphql.print_schema(schema)`` gives SDL too, but graphql-core leaves
applied directives out of it, ``@channel`` included; Strawberry's ``str(schema)`` keeps
the schema directives it declares. From
then on, a subscription that typos a field gets the validation error the application's
own server would give, with its line and column; variables are coerced by their declared
types; and ``@channel`` says which channel a root field listens on.

Run: ``python py/examples/ariadne_schema.py``.
"""

from __future__ import annotations

import json

from ariadne import QueryType, SubscriptionType, make_executable_schema
from graphql import print_schema

from subcast import SubscriptionExecutor
from subcast.errors import InvalidDocumentError

TYPE_DEFS = """
directive @channel(name: String!) on FIELD_DEFINITION

enum Size { S M L }
type Order { id: ID! total: Float! size: Size }
type Query { ping: String! }
type Subscription {
  orders(size: Size): Order!
  bigOrders: Order! @channel(name: "orders")
}
"""


def main() -> None:
    query, subscription = QueryType(), SubscriptionType()
    query.set_field("ping", lambda *_: "pong")
    schema = make_executable_schema(TYPE_DEFS, query, subscription)
    # The printed schema validates documents the same way; only `@channel` needs TYPE_DEFS.
    assert "type Order" in print_schema(schema)
    sdl = TYPE_DEFS

    with SubscriptionExecutor(schema=sdl, allow_anonymous=True) as executor:
        try:
            executor.register_subscription("conn", "typo", "subscription {\n  orders { id totl }\n}")
        except InvalidDocumentError as refused:
            print("refused:", refused)

        try:
            executor.register_subscription(
                "conn", "bad-size", "subscription ($s: Size) { orders(size: $s) { id } }", variables={"s": "XL"}
            )
        except InvalidDocumentError as refused:
            print("refused:", refused)

        # `bigOrders` listens on the `orders` channel, as its @channel directive says.
        executor.register_subscription("conn", "big", "subscription { bigOrders { id total } }")
        executor.publish_event("orderPlaced", "orders", {"id": "o-1", "total": 250.0})
        frame = executor.next_event("big")
        assert frame is not None
        print("frame:", json.loads(frame)["payload"])


if __name__ == "__main__":
    main()
