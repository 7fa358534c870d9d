"""Helpers shared by the tests."""

from __future__ import annotations

from subcast import SubscriptionExecutor

USERS = "subscription { users { id name } }"


def subscribe(ex: SubscriptionExecutor, sid: str | int = "s1", conn: str | int = "c1", **kwargs: object) -> None:
    options: dict[str, object] = {"query": USERS, "user_id": "u1", "tenant_id": "t1"}
    options.update(kwargs)
    ex.register_subscription(connection_id=conn, subscription_id=sid, **options)
