"""Every policy and limit is configurable from Python, takes effect, and refuses bad values."""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from subcast import (
    DocumentLimits,
    EventBusConfig,
    PumpConfig,
    RateLimits,
    SecurityPolicies,
    SubscriptionExecutor,
)
from subcast.errors import (
    ConversionError,
    InvalidConfigError,
    InvalidDocumentError,
    InvalidRequestError,
    RateLimitedError,
    SubcastError,
    SubscriptionRefusedError,
)


def frame_data(frame: bytes | None) -> Any:
    assert frame is not None
    return json.loads(frame)["payload"]


def test_the_issue_example_configures_rbac_scopes_owner_and_rate_limits() -> None:
    bus = EventBusConfig.memory()
    with SubscriptionExecutor(
        bus,
        security=SecurityPolicies(rbac={"users.ssn": ["admin"]}, required_scopes={"orders": ["orders:read"]},
                                  owner_path="owner.id"),
        rate_limits=RateLimits(deliveries_per_second=100, burst=200, max_subscriptions_per_connection=100),
    ) as ex:
        with pytest.raises(SubscriptionRefusedError):
            ex.register_subscription("c", "s", "subscription { users { id ssn } }", user_id="u", tenant_id="t")
        with pytest.raises(SubscriptionRefusedError):
            ex.register_subscription("c", "o", "subscription { orders { id } }", user_id="u", tenant_id="t")
        ex.register_subscription("c", "a", "subscription { users { id ssn } }", user_id="u", tenant_id="t",
                                 roles=["admin"])
        assert ex.publish_event("userCreated", "users", {"id": "1", "ssn": "x", "owner": {"id": "u"}}, "t") == 1


# --- security ---------------------------------------------------------------------------------

def test_rbac_rule_refuses_a_subscription_to_a_field_without_the_role() -> None:
    with SubscriptionExecutor(security=SecurityPolicies(rbac={"users.ssn": ["admin"]})) as ex:
        with pytest.raises(SubscriptionRefusedError) as refused:
            ex.register_subscription("c", "s", "subscription { users { id ssn } }", user_id="u", roles=["viewer"])
        assert "users.ssn" in str(refused.value)
        ex.register_subscription("c", "s", "subscription { users { id ssn } }", user_id="u", roles=["admin"])


def test_rbac_deny_unlisted_refuses_fields_without_a_rule() -> None:
    # The row and federation filters read `user_id` and `federation_id`, so RBAC needs a rule for it too.
    rules = {"users": ["viewer"], "users.id": ["viewer"], "users.user_id": ["viewer"],
             "users.federation_id": ["viewer"]}
    policies = SecurityPolicies(rbac=rules, rbac_deny_unlisted=True)
    with SubscriptionExecutor(security=policies) as ex:
        ex.register_subscription("c", "s1", "subscription { users { id } }", user_id="u", roles=["viewer"])
        with pytest.raises(SubscriptionRefusedError):
            ex.register_subscription("c", "s2", "subscription { users { id name } }", user_id="u", roles=["viewer"])


def test_required_scope_refuses_a_subscriber_without_it() -> None:
    with SubscriptionExecutor(security={"required_scopes": {"orders": ["orders:read"]}}) as ex:
        with pytest.raises(SubscriptionRefusedError) as refused:
            ex.register_subscription("c", "s", "subscription { orders { id } }", user_id="u")
        assert refused.value.code == "INSUFFICIENT_SCOPE"
        ex.register_subscription("c", "s", "subscription { orders { id } }", user_id="u", scopes=["orders:read"])


def test_user_variables_name_the_variables_that_must_match_the_subscriber() -> None:
    query = "subscription ($owner: ID) { users(owner: $owner) { id } }"
    with SubscriptionExecutor(security=SecurityPolicies(user_variables=["owner"])) as ex:
        with pytest.raises(SubscriptionRefusedError):
            ex.register_subscription("c", "s", query, variables={"owner": "someone-else"}, user_id="u")
        ex.register_subscription("c", "s", query, variables={"owner": "u"}, user_id="u")


def test_owner_path_routes_an_event_to_its_owner_only() -> None:
    with SubscriptionExecutor(security=SecurityPolicies(owner_path="owner.id")) as ex:
        ex.register_subscription("c1", "alice", "subscription { orders { id } }", user_id="alice", tenant_id="t")
        ex.register_subscription("c2", "bob", "subscription { orders { id } }", user_id="bob", tenant_id="t")
        assert ex.publish_event("orderPaid", "orders", {"id": "1", "owner": {"id": "bob"}}, "t") == 1
        assert ex.next_event("alice") is None
        assert frame_data(ex.next_event("bob")) == {"data": {"orders": {"id": "1"}}}


def test_owner_path_none_switches_the_row_filter_off() -> None:
    with SubscriptionExecutor(security=SecurityPolicies(owner_path=None)) as ex:
        ex.register_subscription("c1", "alice", "subscription { orders { id } }", user_id="alice", tenant_id="t")
        assert ex.publish_event("orderPaid", "orders", {"id": "1", "user_id": "bob"}, "t") == 1


def test_federation_path_routes_an_event_to_its_federation_only() -> None:
    with SubscriptionExecutor(security=SecurityPolicies(federation_path="org.region")) as ex:
        ex.register_subscription("c1", "eu", "subscription { orders { id } }", user_id="a", federation_id="eu")
        ex.register_subscription("c2", "us", "subscription { orders { id } }", user_id="b", federation_id="us")
        assert ex.publish_event("orderPaid", "orders", {"id": "1", "org": {"region": "us"}}) == 1
        assert ex.next_event("eu") is None
        assert ex.next_event("us") is not None


def test_tenant_false_delivers_events_across_tenants() -> None:
    with SubscriptionExecutor(security=SecurityPolicies(tenant=False)) as ex:
        ex.register_subscription("c", "s", "subscription { users { id } }", user_id="u", tenant_id="t1")
        assert ex.publish_event("userCreated", "users", {"id": "1"}, tenant_id="t2") == 1


def test_disabled_security_switches_every_policy_off() -> None:
    with SubscriptionExecutor(security=SecurityPolicies.disabled()) as ex:
        ex.register_subscription("c", "s", "subscription { users { id } }", user_id="u", tenant_id="t1")
        assert ex.publish_event("userCreated", "users", {"id": "1", "user_id": "other"}, tenant_id="t2") == 1


# --- rate limits --------------------------------------------------------------------------------

def test_delivery_rate_limit_announces_the_frames_it_held_back_with_rate_limited() -> None:
    with SubscriptionExecutor(rate_limits=RateLimits(deliveries_per_second=50, burst=1)) as ex:
        ex.register_subscription("c", "s", "subscription { users { id } }", user_id="u")
        notice = None
        deadline = time.monotonic() + 20
        # Publishing faster than 50/s holds frames back; the next frame let through after
        # that is preceded by the notice. Waits on the notice itself, bounded by the deadline.
        while notice is None and time.monotonic() < deadline:
            ex.publish_event("userCreated", "users", {"id": "1"})
            while (frame := ex.next_event("s")) is not None:
                payload = frame_data(frame)
                if "errors" in payload:
                    notice = payload["errors"][0]
        assert notice is not None
        assert notice["extensions"]["code"] == "RATE_LIMITED"
        assert notice["extensions"]["count"] >= 1
        assert ex.get_metrics()["rate_limited_delivery"] >= notice["extensions"]["count"]


def test_subscription_rate_limit_refuses_creations_past_the_burst() -> None:
    limits = RateLimits(subscriptions_per_second=0.001, subscription_burst=2)
    with SubscriptionExecutor(rate_limits=limits) as ex:
        ex.register_subscription("c", "s1", "subscription { users { id } }", user_id="u")
        ex.register_subscription("c", "s2", "subscription { users { id } }", user_id="u")
        with pytest.raises(RateLimitedError):
            ex.register_subscription("c", "s3", "subscription { users { id } }", user_id="u")


def test_max_subscriptions_per_connection_refuses_the_next_one() -> None:
    with SubscriptionExecutor(rate_limits={"max_subscriptions_per_connection": 2}) as ex:
        ex.register_subscription("c1", "s1", "subscription { users { id } }", user_id="u")
        ex.register_subscription("c1", "s2", "subscription { users { id } }", user_id="u")
        with pytest.raises(RateLimitedError):
            ex.register_subscription("c1", "s3", "subscription { users { id } }", user_id="u")
        ex.register_subscription("c2", "s3", "subscription { users { id } }", user_id="u")


def test_max_subscriptions_per_user_counts_every_connection() -> None:
    with SubscriptionExecutor(rate_limits=RateLimits(max_subscriptions_per_user=2)) as ex:
        ex.register_subscription("c1", "s1", "subscription { users { id } }", user_id="u")
        ex.register_subscription("c2", "s2", "subscription { users { id } }", user_id="u")
        with pytest.raises(RateLimitedError):
            ex.register_subscription("c3", "s3", "subscription { users { id } }", user_id="u")
        ex.register_subscription("c3", "s3", "subscription { users { id } }", user_id="someone-else")


# --- documents, events, queues ------------------------------------------------------------------

def test_document_max_bytes_refuses_a_big_document() -> None:
    with SubscriptionExecutor(document_limits=DocumentLimits(max_bytes=64)) as ex:
        ex.register_subscription("c", "small", "subscription { users { id } }", user_id="u")
        big = "subscription { users { " + " ".join(f"f{i}" for i in range(40)) + " } }"
        with pytest.raises(InvalidDocumentError):
            ex.register_subscription("c", "big", big, user_id="u")


def test_document_max_depth_refuses_a_deep_document() -> None:
    with SubscriptionExecutor(document_limits={"max_depth": 2}) as ex:
        ex.register_subscription("c", "flat", "subscription { users { id } }", user_id="u")
        with pytest.raises(InvalidDocumentError):
            ex.register_subscription("c", "deep", "subscription { users { profile { city } } }", user_id="u")


def test_document_max_tokens_refuses_a_long_document() -> None:
    with SubscriptionExecutor(document_limits=DocumentLimits(max_tokens=20)) as ex:
        long = "subscription { users { " + " ".join(f"f{i}" for i in range(30)) + " } }"
        with pytest.raises(InvalidDocumentError):
            ex.register_subscription("c", "long", long, user_id="u")


def test_max_event_bytes_refuses_a_big_event() -> None:
    with SubscriptionExecutor(max_event_bytes=100) as ex:
        ex.register_subscription("c", "s", "subscription { users { id } }", user_id="u")
        assert ex.publish_event("userCreated", "users", {"id": "1"}) == 1
        with pytest.raises(InvalidRequestError):
            ex.publish_event("userCreated", "users", {"id": "x" * 200})


def test_queue_capacity_with_drop_newest_keeps_the_first_frames() -> None:
    with SubscriptionExecutor(queue_capacity=1, overflow="drop_newest") as ex:
        ex.register_subscription("c", "s", "subscription { users { id } }", user_id="u")
        ex.publish_event("userCreated", "users", {"id": "1"})
        ex.publish_event("userCreated", "users", {"id": "2"})
        assert frame_data(ex.next_event("s")) == {"data": {"users": {"id": "1"}}}
        assert ex.get_metrics()["frames_dropped_queue_full"] >= 1


def test_loopback_window_is_accepted_and_checked() -> None:
    with SubscriptionExecutor(loopback_window=16) as ex:
        assert not ex.closed
    with pytest.raises(InvalidConfigError, match="loopback_window"):
        SubscriptionExecutor(loopback_window=0)


# --- refused values -------------------------------------------------------------------------------

def test_negative_burst_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidConfigError) as refused:
        SubscriptionExecutor(rate_limits=RateLimits(deliveries_per_second=100, burst=-1))
    assert str(refused.value) == "rate_limits.burst: must be a positive integer, got -1"
    assert isinstance(refused.value, SubcastError) and isinstance(refused.value, ValueError)


BAD_OPTIONS: list[tuple[type, dict[str, Any], str]] = [
    (RateLimits, {"deliveries_per_second": math.nan}, "rate_limits.deliveries_per_second"),
    (RateLimits, {"deliveries_per_second": math.inf}, "rate_limits.deliveries_per_second"),
    (RateLimits, {"deliveries_per_second": -5}, "rate_limits.deliveries_per_second"),
    (RateLimits, {"deliveries_per_second": "100"}, "rate_limits.deliveries_per_second"),
    (RateLimits, {"burst": 10}, "rate_limits.burst"),
    (RateLimits, {"deliveries_per_second": 1, "burst": 2**32}, "rate_limits.burst"),
    (RateLimits, {"deliveries_per_second": 1, "burst": 1.5}, "rate_limits.burst"),
    (RateLimits, {"deliveries_per_second": 1, "burst": True}, "rate_limits.burst"),
    (RateLimits, {"subscriptions_per_second": 0}, "rate_limits.subscriptions_per_second"),
    (RateLimits, {"max_subscriptions_per_connection": 0}, "rate_limits.max_subscriptions_per_connection"),
    (RateLimits, {"max_subscriptions_per_user": 10**30}, "rate_limits.max_subscriptions_per_user"),
    (RateLimits, {"max_subscriptions_per_user": -(10**30)}, "rate_limits.max_subscriptions_per_user"),
    (RateLimits, {"bursts": 1}, "rate_limits: unknown option"),
    (SecurityPolicies, {"owner_path": ""}, "security.owner_path"),
    (SecurityPolicies, {"owner_path": "owner..id"}, "security.owner_path"),
    (SecurityPolicies, {"owner_path": 3}, "security.owner_path"),
    (SecurityPolicies, {"federation_path": ""}, "security.federation_path"),
    (SecurityPolicies, {"tenant": "yes"}, "security.tenant"),
    (SecurityPolicies, {"rbac": {"users..ssn": ["admin"]}}, "security.rbac key"),
    (SecurityPolicies, {"rbac": {"": ["admin"]}}, "security.rbac key"),
    (SecurityPolicies, {"rbac": {"users.ssn": "admin"}}, 'security.rbac["users.ssn"]'),
    (SecurityPolicies, {"rbac": {"users.ssn": [""]}}, 'security.rbac["users.ssn"][0]'),
    (SecurityPolicies, {"rbac": {"users.ssn": [1]}}, 'security.rbac["users.ssn"][0]'),
    (SecurityPolicies, {"rbac": [("users.ssn", ["admin"])]}, "security.rbac"),
    (SecurityPolicies, {"required_scopes": {"not a field": ["x"]}}, "security.required_scopes key"),
    (SecurityPolicies, {"user_variables": "user_id"}, "security.user_variables"),
    (SecurityPolicies, {"rbac_deny_unlisted": 1}, "security.rbac_deny_unlisted"),
    (SecurityPolicies, {"row": "owner"}, "security: unknown option"),
    (DocumentLimits, {"max_bytes": 0}, "document_limits.max_bytes"),
    (DocumentLimits, {"max_depth": -1}, "document_limits.max_depth"),
    (DocumentLimits, {"max_tokens": "many"}, "document_limits.max_tokens"),
    (DocumentLimits, {"max_size": 1}, "document_limits: unknown option"),
    (DocumentLimits, {"max_output_fields": 0}, "document_limits.max_output_fields"),
    (DocumentLimits, {"max_output_fields": 1.5}, "document_limits.max_output_fields"),
    (PumpConfig, {"parallelism": -1}, "pump.parallelism"),
    (PumpConfig, {"parallelism": 10**6}, "pump.parallelism"),
    (PumpConfig, {"parallel_threshold": 0}, "pump.parallel_threshold"),
    (PumpConfig, {"backoff": 0}, "pump.backoff"),
    (PumpConfig, {"backoff": math.nan}, "pump.backoff"),
    (PumpConfig, {"max_backoff": 1e300}, "pump.max_backoff"),
    (PumpConfig, {"backoff": 2, "max_backoff": 1}, "pump.max_backoff"),
    (PumpConfig, {"max_attempts": 0}, "pump.max_attempts"),
    (PumpConfig, {"max_attempts": 2**40}, "pump.max_attempts"),
    (PumpConfig, {"inbox_capacity": 0}, "pump.inbox_capacity"),
    (PumpConfig, {"inbox_capacity": "1024"}, "pump.inbox_capacity"),
]


@pytest.mark.parametrize(("cls", "options", "field"), BAD_OPTIONS, ids=lambda v: repr(v)[:40])
def test_bad_option_raises_invalid_config_error_naming_the_field(cls: type, options: dict[str, Any],
                                                                  field: str) -> None:
    with pytest.raises(InvalidConfigError) as refused:
        cls(**options)
    assert str(refused.value).startswith(field)


@pytest.mark.parametrize(("cls", "options", "field"), BAD_OPTIONS, ids=lambda v: repr(v)[:40])
def test_bad_option_in_a_dict_is_refused_by_the_executor(cls: type, options: dict[str, Any], field: str) -> None:
    keyword = {RateLimits: "rate_limits", SecurityPolicies: "security", DocumentLimits: "document_limits",
               PumpConfig: "pump"}[cls]
    with pytest.raises(InvalidConfigError) as refused:
        SubscriptionExecutor(**{keyword: options})
    assert str(refused.value).startswith(field)


@pytest.mark.parametrize(("options", "field"), [
    ({"queue_capacity": 0}, "queue_capacity"),
    ({"queue_capacity": -1}, "queue_capacity"),
    ({"queue_capacity": 2**64}, "queue_capacity"),
    ({"queue_capacity": "10"}, "queue_capacity"),
    ({"overflow": "drop_everything"}, "overflow"),
    ({"overflow": 1}, "overflow"),
    ({"allow_anonymous": 1}, "allow_anonymous"),
    ({"max_event_bytes": 0}, "max_event_bytes"),
    ({"max_frame_bytes": 0}, "max_frame_bytes"),
    ({"max_frame_bytes": 2**64}, "max_frame_bytes"),
    ({"queue_max_bytes": 0}, "queue_max_bytes"),
    ({"queue_max_bytes": -1}, "queue_max_bytes"),
    ({"security": "strict"}, "security"),
    ({"rate_limits": 100}, "rate_limits"),
    ({"document_limits": [1, 2]}, "document_limits"),
    ({"pump": True}, "pump"),
    ({"bus": "redis://127.0.0.1"}, "bus"),
], ids=lambda v: repr(v)[:40])
def test_bad_executor_argument_raises_invalid_config_error_naming_it(options: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidConfigError) as refused:
        SubscriptionExecutor(**options)
    assert str(refused.value).startswith(f"{field}:")


@pytest.mark.parametrize(("make", "options", "field"), [
    (EventBusConfig.redis, {"timeout": 0}, "bus.timeout"),
    (EventBusConfig.redis, {"timeout": math.inf}, "bus.timeout"),
    (EventBusConfig.redis, {"replay_len": 0}, "bus.replay_len"),
    (EventBusConfig.redis, {"prefix": None, "reconnect_min": -1}, "bus.reconnect_min"),
    (EventBusConfig.redis, {"reconnect_min": 2, "reconnect_max": 1}, "bus.reconnect_max"),
    (EventBusConfig.redis, {"tls": True}, "bus: unknown option"),
    (EventBusConfig.postgresql, {"table": ""}, "bus.table"),
    (EventBusConfig.postgresql, {"schema": 1}, "bus.schema"),
    (EventBusConfig.postgresql, {"retention": -1}, "bus.retention"),
    (EventBusConfig.postgresql, {"cleanup_interval": math.nan}, "bus.cleanup_interval"),
    (EventBusConfig.postgresql, {"synchronous_commit": "on"}, "bus.synchronous_commit"),
    (EventBusConfig.redis, {"received_capacity": 0}, "bus.received_capacity"),
    (EventBusConfig.redis, {"stream_capacity": -1}, "bus.stream_capacity"),
    (EventBusConfig.postgresql, {"received_capacity": True}, "bus.received_capacity"),
    (EventBusConfig.postgresql, {"stream_capacity": 0}, "bus.stream_capacity"),
], ids=lambda v: repr(v)[:40])
def test_bad_bus_option_raises_invalid_config_error_naming_it(make: Any, options: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidConfigError) as refused:
        make("redis://127.0.0.1", **options)
    assert str(refused.value).startswith(field)


def test_bus_url_must_be_a_str() -> None:
    with pytest.raises(InvalidConfigError, match="bus.url"):
        EventBusConfig.redis(6379)  # type: ignore[arg-type]


@pytest.mark.parametrize(("options", "field"), [
    ({"prefix": "a.*"}, "bus.prefix"),
    ({"token": "t", "credentials_file": "/x.creds"}, "bus.token"),
    ({"timeout": 0}, "bus.timeout"),
    ({"jetstream": "yes"}, "bus.jetstream"),
    ({"jetstream": {"stream": "a b"}}, "bus.jetstream.stream"),
    ({"jetstream": {"max_age": -1}}, "bus.jetstream.max_age"),
    ({"jetstream": {"max_messages": 0}}, "bus.jetstream.max_messages"),
    ({"jetstream": {"replicas": 3}}, "bus.jetstream"),
    ({"colour": "red"}, "bus"),
])
def test_nats_bus_option_out_of_range_is_refused_naming_it(options: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidConfigError) as refused:
        EventBusConfig.nats("nats://127.0.0.1:4222", **options)
    assert str(refused.value).startswith(f"{field}:")


@pytest.mark.parametrize(("urls", "field"), [
    ([], "bus.urls"),
    ([7001], "bus.urls"),
    (7001, "bus.urls"),
])
def test_redis_cluster_seeds_must_be_a_str_or_a_list_of_str(urls: Any, field: str) -> None:
    with pytest.raises(InvalidConfigError) as refused:
        EventBusConfig.redis_cluster(urls)
    assert str(refused.value).startswith(f"{field}:")


def test_redis_cluster_bus_option_out_of_range_is_refused_naming_it() -> None:
    with pytest.raises(InvalidConfigError, match="^bus.replay_len:"):
        EventBusConfig.redis_cluster(["redis://127.0.0.1:7001"], replay_len=0)


def test_nats_and_redis_cluster_buses_show_their_options() -> None:
    assert repr(EventBusConfig.nats("nats://h", prefix="a")) == "EventBusConfig.nats(\"nats://h\", prefix='a')"
    cluster = EventBusConfig.redis_cluster(["redis://a:1", "redis://b:2"])
    assert repr(cluster) == "EventBusConfig.redis_cluster([\"redis://a:1\", \"redis://b:2\"])"
    assert (cluster.kind, cluster.url) == ("redis_cluster", "redis://a:1,redis://b:2")
    assert EventBusConfig.nats("nats://h").kind == "nats"


def test_options_are_read_from_a_snapshot_of_the_dict() -> None:
    rbac: dict[str, Any] = {}

    class Roles(list):  # type: ignore[type-arg]
        def __iter__(self):  # type: ignore[no-untyped-def]
            rbac.clear()
            rbac.update({f"k{i}": ["x"] for i in range(100)})
            return super().__iter__()

    rbac["users.ssn"] = Roles(["admin"])
    policies = SecurityPolicies(rbac=rbac)
    assert "users.ssn" in repr(policies)


def test_configuration_objects_show_their_options() -> None:
    assert repr(RateLimits(deliveries_per_second=10)) == "RateLimits(deliveries_per_second=10)"
    assert repr(SecurityPolicies.disabled()) == "SecurityPolicies.disabled()"
    assert repr(EventBusConfig.redis("redis://h", prefix="a:")) == "EventBusConfig.redis(\"redis://h\", prefix='a:')"


# --- limits added with the bounded buffers ----------------------------------------------------

REDIS_URL = os.environ.get("SUBCAST_REDIS_URL", "redis://127.0.0.1:6379")


def until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Whether `condition` holds within `timeout` seconds (checked every 10 ms)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def nested_list(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


def test_result_over_max_frame_bytes_ends_the_subscription_with_frame_too_large() -> None:
    with SubscriptionExecutor(max_frame_bytes=200) as ex:
        ex.register_subscription("c", "s", "subscription { users { id name } }", user_id="u", tenant_id="t")
        ex.publish_event("userCreated", "users", {"id": "1", "name": "x" * 300}, "t")
        frame = json.loads(ex.next_event("s") or b"null")
        assert frame["type"] == "error"
        assert frame["payload"][0]["extensions"]["code"] == "FRAME_TOO_LARGE"
        assert ex.publish_event("userCreated", "users", {"id": "2", "name": "y"}, "t") == 0


def test_result_under_max_frame_bytes_is_delivered() -> None:
    with SubscriptionExecutor(max_frame_bytes=200) as ex:
        ex.register_subscription("c", "s", "subscription { users { id name } }", user_id="u", tenant_id="t")
        ex.publish_event("userCreated", "users", {"id": "1", "name": "x" * 50}, "t")
        assert frame_data(ex.next_event("s")) == {"data": {"users": {"id": "1", "name": "x" * 50}}}


def test_queue_max_bytes_bounds_the_bytes_waiting_in_a_subscription_queue() -> None:
    with SubscriptionExecutor(queue_max_bytes=300, queue_capacity=1000, overflow="drop_newest") as ex:
        ex.register_subscription("c", "s", "subscription { users { id name } }", user_id="u", tenant_id="t")
        for i in range(10):
            ex.publish_event("userCreated", "users", {"id": str(i), "name": "n" * 40}, "t")
        queued = [json.loads(frame)["payload"] for _, frame in ex.next_events(["s"])]
        delivered = [payload for payload in queued if "data" in payload]
        dropped = ex.get_metrics()["frames_dropped_queue_full"]
        assert 0 < len(delivered) < 10 and len(delivered) + dropped == 10
        assert queued[-1]["errors"][0]["extensions"] == {"code": "EVENTS_LAGGED", "count": dropped}


def test_document_over_max_output_fields_is_refused() -> None:
    with SubscriptionExecutor(document_limits=DocumentLimits(max_output_fields=2)) as ex:
        with pytest.raises(InvalidDocumentError, match="max_output_fields"):
            ex.register_subscription("c", "s", "subscription { users { id name } }", user_id="u")
        ex.register_subscription("c", "s", "subscription { users { id } }", user_id="u")


def test_event_data_nested_65_deep_is_refused_at_publish_naming_the_path() -> None:
    with SubscriptionExecutor() as ex:
        ex.register_subscription("c", "s", "subscription { users { id } }", user_id="u", tenant_id="t")
        with pytest.raises(ConversionError) as refused:
            ex.publish_event("userCreated", "users", {"id": "1", "deep": nested_list(64)}, "t")
        assert str(refused.value).startswith('data["deep"]' + "[0]" * 63 + " is nested more than 64 levels")
        assert ex.next_event("s") is None


def test_event_data_nested_64_deep_is_published() -> None:
    with SubscriptionExecutor() as ex:
        ex.register_subscription("c", "s", "subscription { users { id } }", user_id="u", tenant_id="t")
        assert ex.publish_event("userCreated", "users", {"id": "1", "deep": nested_list(63)}, "t") == 1


def test_event_with_an_unreadable_owner_is_counted_under_its_drop_reason() -> None:
    with SubscriptionExecutor(security=SecurityPolicies(owner_path="owner.id")) as ex:
        ex.register_subscription("c", "s", "subscription { users { id } }", user_id="u", tenant_id="t")
        ex.publish_event("userCreated", "users", {"id": "1", "owner": [{"id": "u"}, {"id": "v"}]}, "t")
        metrics = ex.get_metrics()
        assert ex.next_event("s") is None
        assert metrics["frames_dropped_unreadable_owner"] == 1
        assert metrics["frames_dropped_unreadable_federation"] == 0


def test_metrics_list_the_bus_buffer_stats() -> None:
    with SubscriptionExecutor() as ex:
        metrics = ex.get_metrics()
        assert {"bus_events_dropped", "bus_stream_peak", "bus_received_peak"} <= metrics.keys()


class BlockedDispatcher:
    """Node `b` subscribed with a resolver that holds its pump's dispatcher until released;
    node `a` publishes."""

    def __init__(self, b: SubscriptionExecutor, a: SubscriptionExecutor) -> None:
        self.a, self.b = a, b
        self.entered, self.release = threading.Event(), threading.Event()
        self.channel = f"py_blocked_{os.getpid()}_{id(self)}"

        def resolver(event: dict[str, Any], variables: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
            self.entered.set()
            self.release.wait(10)
            return {"users": {"id": event["data"]["id"]}}

        b.register_subscription("c", "s", "subscription { users { id } }", user_id="u", tenant_id="t",
                                channels=[self.channel], resolver=resolver)
        assert b.wait_channel_ready(self.channel, 10)
        a.publish_event("userCreated", self.channel, {"id": "0"}, "t")
        assert self.entered.wait(10)

    def publish(self, count: int) -> None:
        for i in range(1, count + 1):
            self.a.publish_event("userCreated", self.channel, {"id": str(i)}, "t")

    def frames(self, done: Callable[[list[dict[str, Any]]], bool]) -> list[dict[str, Any]]:
        """Release the dispatcher and take frames until `done` says they are all there."""
        self.release.set()
        frames: list[dict[str, Any]] = []
        while not done(frames):
            frames.append(json.loads(self.b.recv_blocking("s", timeout=10) or b"null"))
        return frames


def gaps(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [error["extensions"] for frame in frames for error in frame["payload"].get("errors", [])
            if error["extensions"]["code"] == "EVENTS_GAP"]


def test_pump_inbox_capacity_bounds_the_bus_messages_waiting_for_the_dispatcher() -> None:
    with SubscriptionExecutor(bus=EventBusConfig.redis(REDIS_URL), pump=PumpConfig(inbox_capacity=2)) as b, \
            SubscriptionExecutor(bus=EventBusConfig.redis(REDIS_URL)) as a:
        blocked = BlockedDispatcher(b, a)
        blocked.publish(20)
        assert until(lambda: b.get_metrics()["pump_pending_messages"] == 2)
        frames = blocked.frames(lambda frames: len(frames) == 21)
        assert [frame["payload"]["data"]["users"]["id"] for frame in frames] == [str(i) for i in range(21)]
        assert b.get_metrics()["pump_peak_pending_messages"] == 2


def test_bus_stream_capacity_drops_what_it_cannot_hold_and_announces_the_gap() -> None:
    bus = EventBusConfig.redis(REDIS_URL, stream_capacity=1, received_capacity=1)
    with SubscriptionExecutor(bus=bus, pump=PumpConfig(inbox_capacity=1)) as b, \
            SubscriptionExecutor(bus=EventBusConfig.redis(REDIS_URL)) as a:
        blocked = BlockedDispatcher(b, a)
        blocked.publish(20)
        assert until(lambda: b.get_metrics()["bus_events_dropped"] > 0)
        frames = blocked.frames(lambda frames: bool(gaps(frames)))
        assert gaps(frames)[0]["count"] >= 1
        assert b.get_metrics()["bus_stream_peak"] == 1
