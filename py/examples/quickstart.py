"""subcast quickstart: register subscriptions, publish events, read frames (sync and asyncio).

Run after `pip install ./py`:  python py/examples/quickstart.py
"""

from __future__ import annotations

import asyncio
from typing import Any

import subcast
from subcast import RateLimits, SecurityPolicies, SubscriptionExecutor


def greeting(event: dict[str, Any], variables: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """A Python resolver: the returned dict is the frame's `data`."""
    return {"users": {"id": event["data"]["id"], "greeting": f"hello {context['user_id']}"}}


async def main() -> None:
    print(f"subcast {subcast.__version__} on the {subcast.runtime()} runtime")
    with SubscriptionExecutor() as ex:
        # The built-in projection: only the selected fields reach the client.
        ex.register_subscription(connection_id="conn1", subscription_id="sub1",
                                 query="subscription { users { id name } }",
                                 user_id="alice", tenant_id="acme")
        # A Python resolver, called once per event with every cohort that uses it.
        ex.register_subscription(connection_id="conn2", subscription_id="sub2",
                                 query="subscription { users { id } }",
                                 user_id="bob", tenant_id="acme", resolver=greeting)

        n = ex.publish_event(event_type="userCreated", channel="users",
                             data={"id": "123", "name": "Alice", "password": "x"}, tenant_id="acme")
        print(f"published: {n} frames queued")
        print("sub1:", ex.next_event("sub1"))

        # asyncio: the frame is already queued; later ones would wake the loop, no polling.
        print("sub2:", await ex.recv("sub2"))

        # Another tenant's event never reaches acme's subscribers.
        print("other tenant:", ex.publish_event("userCreated", "users", {"id": "9"}, tenant_id="globex"))

        ex.complete_connection("conn1")
        ex.complete_subscription("sub2")
        print("metrics:", {k: v for k, v in ex.get_metrics().items() if k.startswith("frames_delivered")})

    # Every policy and limit is a keyword argument; bad values raise InvalidConfigError.
    security = SecurityPolicies(rbac={"users.ssn": ["admin"]}, owner_path="owner.id")
    with SubscriptionExecutor(security=security, rate_limits=RateLimits(max_subscriptions_per_connection=1)) as ex:
        try:
            ex.register_subscription("conn1", "sub1", "subscription { users { id ssn } }", user_id="alice")
        except subcast.SubscriptionRefusedError as refused:
            print("refused:", refused)


if __name__ == "__main__":
    asyncio.run(main())
