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


def test_different_callables_never_share_a_frame(ex: SubscriptionExecutor) -> None:
    subscribe(ex, sid="a", conn="ca", resolver=lambda e, v, c: {"by": "a"})
    subscribe(ex, sid="b", conn="cb", resolver=lambda e, v, c: {"by": "b"})
    ex.publish_event("userCreated", "users", {"id": "1"}, "t1")
    assert frame_of(ex, "a")["payload"]["data"] == {"by": "a"}
    assert frame_of(ex, "b")["payload"]["data"] == {"by": "b"}


def test_subscribers_whose_claims_differ_are_resolved_separately(ex: SubscriptionExecutor) -> None:
    def resolver(event: dict[str, Any], variables: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
        return {"plan": context["claims"]["plan"]}

    subscribe(ex, sid="free", conn="c1", resolver=resolver, claims={"plan": "free"})
    subscribe(ex, sid="pro", conn="c2", resolver=resolver, claims={"plan": "pro"})
    ex.publish_event("userCreated", "users", {"id": "1"}, "t1")
    assert frame_of(ex, "free")["payload"]["data"] == {"plan": "free"}
    assert frame_of(ex, "pro")["payload"]["data"] == {"plan": "pro"}


def test_subscribers_with_one_context_share_one_resolver_call(ex: SubscriptionExecutor) -> None:
    calls: list[str] = []

    def resolver(event: dict[str, Any], variables: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
        calls.append(context["user_id"])
        return {"ok": True}

    for n in range(3):
        subscribe(ex, sid=f"s{n}", conn=f"c{n}", resolver=resolver)
    assert ex.publish_event("userCreated", "users", {"id": "1"}, "t1") == 3
    assert calls == ["u1"]


def test_one_interpreter_attach_resolves_every_context_of_a_callable(ex: SubscriptionExecutor) -> None:
    def resolver(event: dict[str, Any], variables: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
        return {"me": context["user_id"]}

    for n in range(5):
        subscribe(ex, sid=f"s{n}", conn=f"c{n}", resolver=resolver, user_id=f"u{n}")
    ex.publish_event("userCreated", "users", {"id": "1"}, "t1")
    metrics = ex.get_metrics()
    assert (metrics["python_resolver_batches"], metrics["python_resolver_calls"]) == (1, 5)
    assert [frame_of(ex, f"s{n}")["payload"]["data"]["me"] for n in range(5)] == [f"u{n}" for n in range(5)]


def test_an_event_attaches_once_per_distinct_callable(ex: SubscriptionExecutor) -> None:
    callables = [lambda e, v, c: {"by": "first"}, lambda e, v, c: {"by": "second"}]
    for n in range(4):
        subscribe(ex, sid=f"s{n}", conn=f"c{n}", resolver=callables[n % 2], user_id=f"u{n}")
    ex.publish_event("userCreated", "users", {"id": "1"}, "t1")
    metrics = ex.get_metrics()
    assert (metrics["python_resolver_batches"], metrics["python_resolver_calls"]) == (2, 4)
    assert "subcast_python_resolver_batches_total 2" in ex.metrics_prometheus()


def test_anonymous_subscriber_gets_an_empty_context() -> None:
    seen: list[dict[str, Any]] = []
    with SubscriptionExecutor(allow_anonymous=True) as ex:
        ex.register_subscription("c1", "s1", "subscription { users { id } }",
                                 resolver=lambda e, v, c: seen.append(c) or {})
        ex.publish_event("userCreated", "users", {"id": "1"})
    assert seen == [{"user_id": None, "tenant_id": None, "roles": [], "scopes": [],
                     "federation_id": None, "claims": {}}]


def test_completing_a_resolver_subscription_keeps_its_callables_other_subscribers(
    ex: SubscriptionExecutor,
) -> None:
    def resolver(event: dict[str, Any], variables: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
        return {"me": context["user_id"]}

    subscribe(ex, sid="a", conn="ca", resolver=resolver, user_id="ann")
    subscribe(ex, sid="b", conn="cb", resolver=resolver, user_id="bob")
    ex.complete_subscription("a")
    ex.publish_event("userCreated", "users", {"id": "1"}, "t1")
    assert frame_of(ex, "b")["payload"]["data"] == {"me": "bob"}
