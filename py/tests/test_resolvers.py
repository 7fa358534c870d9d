"""Python resolvers: called with event, variables and context; failures become error frames."""

from __future__ import annotations

import json
import threading
from typing import Any

from subcast import SubscriptionExecutor

from support import subscribe


def frame_of(ex: SubscriptionExecutor, sid: str) -> dict[str, Any]:
    raw = ex.next_event(sid)
    assert raw is not None
    return json.loads(raw)


def test_resolver_result_is_the_frame_data(ex: SubscriptionExecutor) -> None:
    def resolver(event: dict[str, Any], variables: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
        return {"users": {"id": event["data"]["id"], "by": context["user_id"], "v": variables}}

    subscribe(ex, resolver=resolver, query="subscription($n: Int = 3) { users { id } }")
    ex.publish_event("userCreated", "users", {"id": "1"}, "t1")
    assert frame_of(ex, "s1")["payload"]["data"] == {"users": {"id": "1", "by": "u1", "v": {"n": 3}}}


def test_resolver_sees_the_whole_event_and_the_security_context(ex: SubscriptionExecutor) -> None:
    seen: list[tuple[dict[str, Any], dict[str, Any]]] = []

    def resolver(event: dict[str, Any], variables: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
        seen.append((event, context))
        return {}

    subscribe(ex, resolver=resolver, roles=["admin"], scopes=["read"], claims={"plan": "pro"})
    ex.publish_event("userCreated", "users", {"id": "1"}, "t1", correlation_id="c-9")
    event, context = seen[0]
    assert event["event_type"] == "userCreated" and event["channel"] == "users"
    assert event["tenant_id"] == "t1" and event["correlation_id"] == "c-9"
    assert context == {"user_id": "u1", "tenant_id": "t1", "roles": ["admin"], "scopes": ["read"],
                       "federation_id": None, "claims": {"plan": "pro"}}


def test_subscribers_with_different_contexts_are_resolved_separately(ex: SubscriptionExecutor) -> None:
    def resolver(event: dict[str, Any], variables: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
        return {"me": context["user_id"]}

    subscribe(ex, sid="a", resolver=resolver, user_id="alice")
    subscribe(ex, sid="b", resolver=resolver, user_id="bob")
    ex.publish_event("userCreated", "users", {"id": "1"}, "t1")
    assert frame_of(ex, "a")["payload"]["data"] == {"me": "alice"}
    assert frame_of(ex, "b")["payload"]["data"] == {"me": "bob"}


def test_raising_resolver_sends_an_error_frame_with_class_and_message(ex: SubscriptionExecutor) -> None:
    def resolver(event: dict[str, Any], variables: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
        raise ValueError("no such user")

    subscribe(ex, resolver=resolver)
    ex.publish_event("userCreated", "users", {"id": "1", "secret": "s3cr3t"}, "t1")
    frame = frame_of(ex, "s1")
    assert frame["type"] == "error"
    assert frame["payload"][0]["message"] == "ValueError: no such user"
    assert frame["payload"][0]["extensions"]["code"] == "RESOLVER_ERROR"
    assert b"s3cr3t" not in json.dumps(frame).encode() and "Traceback" not in json.dumps(frame)


def test_non_json_resolver_result_becomes_an_error_frame(ex: SubscriptionExecutor) -> None:
    subscribe(ex, sid="set", resolver=lambda e, v, c: {"x": {1, 2}})
    subscribe(ex, sid="list", resolver=lambda e, v, c: [1])
    ex.publish_event("userCreated", "users", {"id": "1"}, "t1")
    assert "set" in frame_of(ex, "set")["payload"][0]["message"]
    assert "must return a dict" in frame_of(ex, "list")["payload"][0]["message"]


def test_failing_resolver_never_stops_delivery_to_others(ex: SubscriptionExecutor) -> None:
    def broken(event: dict[str, Any], variables: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("always")

    for n in range(5):
        subscribe(ex, sid=f"bad{n}", conn=f"bad{n}", resolver=broken, user_id=f"u{n}")
    subscribe(ex, sid="good", resolver=lambda e, v, c: {"ok": True})
    subscribe(ex, sid="plain")
    for n in range(3):
        ex.publish_event("userCreated", "users", {"id": str(n)}, "t1")
    assert [frame_of(ex, "good")["type"] for _ in range(3)] == ["next"] * 3
    assert [frame_of(ex, "plain")["type"] for _ in range(3)] == ["next"] * 3


def test_resolver_runs_on_the_publishing_thread_not_an_async_worker(ex: SubscriptionExecutor) -> None:
    threads: list[str] = []
    subscribe(ex, resolver=lambda e, v, c: threads.append(threading.current_thread().name) or {})
    publisher = threading.Thread(target=ex.publish_event, args=("userCreated", "users", {}, "t1"), name="pub")
    publisher.start()
    publisher.join()
    assert threads == ["pub"]
