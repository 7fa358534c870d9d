"""The seed-compatible API: register, publish, take frames, complete, metrics, close."""

from __future__ import annotations

import json
import threading

import pytest

import subcast
from subcast import EventBusConfig, SubscriptionExecutor
from subcast.errors import (
    AmbiguousSubscriptionError,
    DuplicateSubscriptionError,
    ExecutorClosedError,
    InvalidDocumentError,
    InvalidFilterError,
    SubcastError,
    SubscriptionRefusedError,
    SubscriptionTimeoutError,
    UnknownConnectionError,
    UnknownSubscriptionError,
)

from support import subscribe


def test_published_event_becomes_a_projected_next_frame(ex: SubscriptionExecutor) -> None:
    ex.register_subscription(
        connection_id="conn1", subscription_id="sub1", query="subscription { users { id } }",
        operation_name=None, variables={}, user_id="user1", tenant_id="tenant1", roles=[], scopes=[],
        channels=None, resolver=None, filter=None,
    )
    n = ex.publish_event(event_type="userCreated", channel="users", data={"id": "123", "name": "Alice"},
                         tenant_id="tenant1")
    assert n == 1
    assert ex.next_event("sub1") == b'{"id":"sub1","type":"next","payload":{"data":{"users":{"id":"123"}}}}'
    assert ex.next_event("sub1") is None


def test_integer_ids_are_taken_as_their_decimal_string(ex: SubscriptionExecutor) -> None:
    subscribe(ex, sid=7, conn=3)
    ex.publish_event("userCreated", "users", {"id": "1"}, "t1")
    assert json.loads(ex.next_event(7) or b"")["id"] == "7"
    assert ex.complete_connection(3) == 1


def test_event_of_another_tenant_is_not_delivered(ex: SubscriptionExecutor) -> None:
    subscribe(ex)
    assert ex.publish_event("userCreated", "users", {"id": "1"}, tenant_id="t2") == 0
    assert ex.next_event("s1") is None


def test_subscription_without_user_is_refused_unless_anonymous_is_allowed() -> None:
    with SubscriptionExecutor() as strict:
        with pytest.raises(SubscriptionRefusedError) as refused:
            strict.register_subscription("c1", "s1", "subscription { users { id } }")
        assert refused.value.code == "UNAUTHENTICATED"
    with SubscriptionExecutor(allow_anonymous=True) as open_executor:
        open_executor.register_subscription("c1", "s1", "subscription { users { id } }")
        assert open_executor.publish_event("userCreated", "users", {"id": "1"}) == 1


def test_event_filter_in_json_form_selects_events(ex: SubscriptionExecutor) -> None:
    subscribe(ex, filter=[{"path": "name", "op": "eq", "value": "Alice"}])
    ex.publish_event("userCreated", "users", {"id": "1", "name": "Bob"}, "t1")
    ex.publish_event("userCreated", "users", {"id": "2", "name": "Alice"}, "t1")
    frame = json.loads(ex.next_event("s1") or b"")
    assert frame["payload"]["data"]["users"]["id"] == "2"


def test_invalid_event_filter_raises_invalid_filter_error(ex: SubscriptionExecutor) -> None:
    with pytest.raises(InvalidFilterError):
        subscribe(ex, filter=[{"path": "name", "op": "resembles", "value": 1}])


def test_invalid_document_raises_with_its_position(ex: SubscriptionExecutor) -> None:
    with pytest.raises(InvalidDocumentError) as error:
        subscribe(ex, query="subscription { users { id }")
    assert error.value.code == "GRAPHQL_VALIDATION_FAILED"
    with pytest.raises(InvalidDocumentError):
        subscribe(ex, query="query { users { id } }")


def test_duplicate_subscription_id_on_a_connection_is_refused(ex: SubscriptionExecutor) -> None:
    subscribe(ex)
    with pytest.raises(DuplicateSubscriptionError):
        subscribe(ex)


def test_unknown_subscription_raises_a_lookup_error(ex: SubscriptionExecutor) -> None:
    with pytest.raises(UnknownSubscriptionError):
        ex.next_event("nope")
    with pytest.raises(LookupError):
        ex.complete_subscription("nope")
    with pytest.raises(UnknownConnectionError):
        ex.complete_connection("nope")


def test_same_id_on_two_connections_needs_the_connection(ex: SubscriptionExecutor) -> None:
    subscribe(ex, sid="1", conn="a")
    subscribe(ex, sid="1", conn="b")
    ex.publish_event("userCreated", "users", {"id": "9"}, "t1")
    with pytest.raises(AmbiguousSubscriptionError):
        ex.next_event("1")
    assert ex.next_event("1", connection_id="a") is not None
    ex.complete_subscription("1", connection_id="a")
    assert ex.next_event("1") is not None


def test_completed_subscription_is_unknown_afterwards(ex: SubscriptionExecutor) -> None:
    subscribe(ex)
    ex.complete_subscription("s1")
    with pytest.raises(UnknownSubscriptionError):
        ex.next_event("s1")
    assert ex.publish_event("userCreated", "users", {"id": "1"}, "t1") == 0


def test_complete_connection_ends_all_its_subscriptions(ex: SubscriptionExecutor) -> None:
    subscribe(ex, sid="1")
    subscribe(ex, sid="2")
    assert ex.complete_connection("c1") == 2
    assert ex.get_metrics()["active_subscriptions"] == 0


def test_metrics_count_deliveries_and_export_prometheus_text(ex: SubscriptionExecutor) -> None:
    subscribe(ex)
    ex.publish_event("userCreated", "users", {"id": "1"}, "t1")
    metrics = ex.get_metrics()
    assert metrics["frames_delivered"] == 1
    assert metrics["active_subscriptions"] == 1
    text = ex.metrics_prometheus()
    assert "# TYPE subcast_frames_delivered_total counter" in text
    assert "subcast_bus_published_total 1" in text


def test_closed_executor_raises_executor_closed_error() -> None:
    ex = SubscriptionExecutor()
    subscribe(ex)
    ex.close()
    ex.close()
    assert ex.closed
    with pytest.raises(ExecutorClosedError):
        ex.publish_event("userCreated", "users", {"id": "1"})
    with pytest.raises(SubcastError):
        ex.next_event("s1")


def test_context_manager_closes_the_executor() -> None:
    with SubscriptionExecutor() as ex:
        assert isinstance(ex, SubscriptionExecutor)
    assert ex.closed


def test_recv_blocking_returns_a_frame_published_from_another_thread(ex: SubscriptionExecutor) -> None:
    subscribe(ex)
    publisher = threading.Thread(target=ex.publish_event, args=("userCreated", "users", {"id": "5"}, "t1"))
    publisher.start()
    frame = ex.recv_blocking("s1", timeout=10)
    publisher.join()
    assert frame is not None and b'"id":"5"' in frame


def test_recv_blocking_times_out_with_a_timeout_error(ex: SubscriptionExecutor) -> None:
    subscribe(ex)
    with pytest.raises(SubscriptionTimeoutError):
        ex.recv_blocking("s1", timeout=0)
    with pytest.raises(TimeoutError):
        ex.recv_blocking("s1", timeout=0.01)


def test_close_ends_a_blocking_receiver_instead_of_leaving_it_waiting(ex: SubscriptionExecutor) -> None:
    subscribe(ex)
    outcomes: list[object] = []

    def wait() -> None:
        try:
            outcomes.append(ex.recv_blocking("s1", timeout=30))
        except ExecutorClosedError as error:
            outcomes.append(error)

    waiter = threading.Thread(target=wait)
    waiter.start()
    ex.close()
    waiter.join(timeout=30)
    assert not waiter.is_alive()
    # Waiting when close() ran: woken with None. Called after it: refused with a clear error.
    assert len(outcomes) == 1
    assert outcomes[0] is None or isinstance(outcomes[0], ExecutorClosedError)


def test_bus_configs_describe_their_bus() -> None:
    assert EventBusConfig.memory().kind == "memory"
    assert EventBusConfig.redis("redis://127.0.0.1:6379").url == "redis://127.0.0.1:6379"
    assert repr(EventBusConfig.postgresql("postgresql://x@y/z")) == "EventBusConfig.postgresql(\"postgresql://x@y/z\")"
    with SubscriptionExecutor(bus=EventBusConfig.memory()) as ex:
        assert ex.wait_channel_ready("users")


def test_runtime_names_the_adapter_of_this_build() -> None:
    assert subcast.runtime() in ("smol", "tokio")


def test_unreachable_bus_raises_a_bus_error() -> None:
    with pytest.raises(subcast.BusError):
        SubscriptionExecutor(bus=EventBusConfig.redis("redis://127.0.0.1:1"))


def test_wrong_bus_argument_raises_type_error() -> None:
    with pytest.raises(TypeError):
        SubscriptionExecutor(bus="redis://127.0.0.1")  # type: ignore[arg-type]


def test_next_events_takes_the_queued_frames_of_many_subscriptions_in_order(ex: SubscriptionExecutor) -> None:
    for sid in ("a", "b", "c"):
        subscribe(ex, sid=sid, conn=f"conn-{sid}")
    ex.publish_event("userCreated", "users", {"id": "1"}, "t1")
    ex.publish_event("userCreated", "users", {"id": "2"}, "t1")
    frames = ex.next_events(["c", "a"])
    assert [(sid, json.loads(frame)["payload"]["data"]["users"]["id"]) for sid, frame in frames] == [
        ("c", "1"), ("c", "2"), ("a", "1"), ("a", "2"),
    ]
    assert ex.next_events(["a", "c"]) == []
    assert [sid for sid, _ in ex.next_events(["b"])] == ["b", "b"]


def test_next_events_gives_each_id_back_as_it_was_passed(ex: SubscriptionExecutor) -> None:
    subscribe(ex, sid=7, conn=3)
    ex.publish_event("userCreated", "users", {"id": "1"}, "t1")
    [(sid, frame)] = ex.next_events(iter([7]))
    assert sid == 7 and json.loads(frame)["id"] == "7"


class OddlyHashedId(str):
    def __hash__(self) -> int:
        return 1


def test_a_str_subclass_with_its_own_hash_finds_the_subscription_of_its_text(ex: SubscriptionExecutor) -> None:
    subscribe(ex, sid="a", conn=OddlyHashedId("ca"))
    ex.publish_event("userCreated", "users", {"id": "1"}, "t1")
    ex.publish_event("userCreated", "users", {"id": "2"}, "t1")
    assert json.loads(ex.next_event(OddlyHashedId("a")) or b"")["id"] == "a"
    assert [sid for sid, _ in ex.next_events([OddlyHashedId("a")])] == ["a"]
    assert ex.complete_connection(OddlyHashedId("ca")) == 1


def test_next_events_takes_at_most_max_per_subscription_frames_each(ex: SubscriptionExecutor) -> None:
    subscribe(ex, sid="a", conn="ca")
    subscribe(ex, sid="b", conn="cb")
    for n in range(3):
        ex.publish_event("userCreated", "users", {"id": str(n)}, "t1")
    assert [sid for sid, _ in ex.next_events(["a", "b"], max_per_subscription=2)] == ["a", "a", "b", "b"]
    assert [sid for sid, _ in ex.next_events(["a", "b"], max_per_subscription=2)] == ["a", "b"]


def test_next_events_rejects_a_limit_below_one(ex: SubscriptionExecutor) -> None:
    subscribe(ex)
    with pytest.raises(subcast.InvalidRequestError):
        ex.next_events(["s1"], max_per_subscription=0)


def test_next_events_with_an_unknown_id_takes_no_frame_of_the_known_ones(ex: SubscriptionExecutor) -> None:
    subscribe(ex, sid="a", conn="ca")
    ex.publish_event("userCreated", "users", {"id": "1"}, "t1")
    with pytest.raises(UnknownSubscriptionError):
        ex.next_events(["a", "nope"])
    assert [sid for sid, _ in ex.next_events(["a"])] == ["a"]


def test_next_events_raises_for_an_unknown_or_ambiguous_id(ex: SubscriptionExecutor) -> None:
    subscribe(ex, sid="1", conn="a")
    subscribe(ex, sid="1", conn="b")
    subscribe(ex, sid="2", conn="a")
    with pytest.raises(UnknownSubscriptionError):
        ex.next_events(["2", "nope"])
    with pytest.raises(AmbiguousSubscriptionError):
        ex.next_events(["1"])


def test_drain_connection_takes_every_frame_of_its_subscriptions_only(ex: SubscriptionExecutor) -> None:
    subscribe(ex, sid="a", conn="mine", query="subscription { users { id } }")
    subscribe(ex, sid="b", conn="mine", query="subscription { users { name } }")
    subscribe(ex, sid="a", conn="theirs")
    ex.publish_event("userCreated", "users", {"id": "1", "name": "Ann"}, "t1")
    ex.publish_event("userCreated", "users", {"id": "2", "name": "Bob"}, "t1")
    frames = [(sid, json.loads(frame)["payload"]["data"]["users"]) for sid, frame in ex.drain_connection("mine")]
    assert frames == [("a", {"id": "1"}), ("a", {"id": "2"}), ("b", {"name": "Ann"}), ("b", {"name": "Bob"})]
    assert ex.drain_connection("mine") == []
    assert len(ex.drain_connection("theirs")) == 2


def test_drain_connection_of_a_connection_without_subscriptions_is_empty(ex: SubscriptionExecutor) -> None:
    assert ex.drain_connection("nobody") == []
    subscribe(ex, sid=1, conn=9)
    ex.publish_event("userCreated", "users", {"id": "1"}, "t1")
    assert [sid for sid, _ in ex.drain_connection(9, max_per_subscription=1)] == ["1"]
