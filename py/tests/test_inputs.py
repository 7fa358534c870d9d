"""No value reachable from Python panics: odd inputs raise subcast's errors (or the user's own).

Each case asserts the error class, and that the executor still works afterwards. A panic
would surface as ``pyo3_runtime.PanicException``, a ``BaseException`` that none of the
``pytest.raises`` below would catch.
"""

from __future__ import annotations

import itertools
import json
import math
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from subcast import SubscriptionExecutor
from subcast.errors import (
    ConversionError,
    InvalidRequestError,
    SubcastError,
)

QUERY = "subscription { users { id } }"
_fresh = itertools.count()


@pytest.fixture
def ex() -> Iterator[SubscriptionExecutor]:
    with SubscriptionExecutor(allow_anonymous=True) as executor:
        executor.register_subscription("c", "s", QUERY, user_id="u")
        yield executor


def still_works(ex: SubscriptionExecutor) -> None:
    sid = f"check{next(_fresh)}"
    ex.register_subscription("check", sid, QUERY, user_id="u")
    assert ex.publish_event("userCreated", "users", {"id": "ok"}) >= 1
    assert json.loads(ex.next_event(sid) or b"")["payload"] == {"data": {"users": {"id": "ok"}}}


# --- timeouts -----------------------------------------------------------------------------------

HUGE_TIMEOUTS = [1e300, 1e19, math.inf, 2**64, 10**400, 1.7976931348623157e308]
HUGE_IDS = ["1e300", "1e19", "inf", "2**64", "10**400", "max_float"]


@pytest.mark.parametrize("timeout", HUGE_TIMEOUTS, ids=HUGE_IDS)
def test_huge_recv_blocking_timeout_waits_without_limit(ex: SubscriptionExecutor, timeout: float) -> None:
    publisher = threading.Thread(target=ex.publish_event, args=("userCreated", "users", {"id": "1"}))
    publisher.start()
    try:
        assert ex.recv_blocking("s", timeout=timeout) is not None
    finally:
        publisher.join(10)
    still_works(ex)


@pytest.mark.parametrize("timeout", [-1, -1e-9, -1e300, math.nan, -math.inf, -(10**400)],
                         ids=["-1", "-1e-9", "-1e300", "nan", "-inf", "-10**400"])
def test_negative_or_nan_recv_blocking_timeout_raises_value_error(ex: SubscriptionExecutor, timeout: float) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        ex.recv_blocking("s", timeout=timeout)
    assert isinstance(refused.value, ValueError)
    still_works(ex)


@pytest.mark.parametrize("timeout", ["1", b"1", [1], object(), 1j], ids=repr)
def test_non_numeric_recv_blocking_timeout_raises_type_error(ex: SubscriptionExecutor, timeout: Any) -> None:
    with pytest.raises(ConversionError) as refused:
        ex.recv_blocking("s", timeout=timeout)
    assert isinstance(refused.value, TypeError)
    still_works(ex)


def test_zero_recv_blocking_timeout_times_out_at_once(ex: SubscriptionExecutor) -> None:
    with pytest.raises(TimeoutError):
        ex.recv_blocking("s", timeout=0)
    still_works(ex)


@pytest.mark.parametrize("timeout", HUGE_TIMEOUTS, ids=HUGE_IDS)
def test_huge_wait_channel_ready_timeout_is_accepted(ex: SubscriptionExecutor, timeout: float) -> None:
    assert ex.wait_channel_ready("users", timeout) is True
    still_works(ex)


@pytest.mark.parametrize(("timeout", "error"), [
    (-1, InvalidRequestError), (math.nan, InvalidRequestError), ("5", ConversionError), ([], ConversionError),
], ids=repr)
def test_bad_wait_channel_ready_timeout_raises(ex: SubscriptionExecutor, timeout: Any, error: type) -> None:
    with pytest.raises(error):
        ex.wait_channel_ready("users", timeout)
    still_works(ex)


# --- counts -------------------------------------------------------------------------------------

@pytest.mark.parametrize("drain", [
    lambda ex, limit: ex.next_events(["s"], max_per_subscription=limit),
    lambda ex, limit: ex.drain_connection("c", max_per_subscription=limit),
], ids=["next_events", "drain_connection"])
@pytest.mark.parametrize(("limit", "error"), [
    (0, InvalidRequestError), (-1, InvalidRequestError), (-(10**30), InvalidRequestError),
    (1.5, ConversionError), ("2", ConversionError), (True, ConversionError),
], ids=repr)
def test_bad_max_per_subscription_raises(ex: SubscriptionExecutor, drain: Callable[..., Any], limit: Any,
                                         error: type) -> None:
    with pytest.raises(error):
        drain(ex, limit)
    still_works(ex)


@pytest.mark.parametrize("limit", [2**63, 2**64, 10**30], ids=repr)
def test_huge_max_per_subscription_takes_every_frame(ex: SubscriptionExecutor, limit: int) -> None:
    ex.publish_event("userCreated", "users", {"id": "1"})
    ex.publish_event("userCreated", "users", {"id": "2"})
    assert len(ex.next_events(["s"], max_per_subscription=limit)) == 2
    still_works(ex)


# --- ids, channels, data ------------------------------------------------------------------------

@pytest.mark.parametrize(("subscription_id", "error"), [
    (10**5000, ConversionError), (1.5, ConversionError), (b"s", ConversionError), (None, ConversionError),
    ("", InvalidRequestError), ("x" * 100_000, InvalidRequestError), ("\ud800", UnicodeEncodeError),
], ids=["int_of_5000_digits", "float", "bytes", "None", "empty", "100k_chars", "lone_surrogate"])
def test_odd_subscription_id_raises(ex: SubscriptionExecutor, subscription_id: Any, error: type) -> None:
    with pytest.raises(error):
        ex.register_subscription("c", subscription_id, QUERY, user_id="u")
    still_works(ex)


@pytest.mark.parametrize("channel", ["", "x" * 100_000, "nul\x00"], ids=lambda v: repr(v)[:20])
def test_odd_channel_raises_invalid_request_error(ex: SubscriptionExecutor, channel: str) -> None:
    with pytest.raises(InvalidRequestError):
        ex.publish_event("userCreated", channel, {"id": "1"})
    still_works(ex)


def self_referencing_list() -> list[Any]:
    items: list[Any] = []
    items.append(items)
    return items


@pytest.mark.parametrize("data", [
    math.nan, math.inf, 10**30, -(2**64), {1: "x"}, {("a",): 1}, {1, 2}, b"bytes", object(),
    self_referencing_list(), {"deep": [[[[[[[[[[math.nan]]]]]]]]]]},
], ids=lambda v: repr(v)[:20])
def test_data_json_cannot_hold_raises_conversion_error(ex: SubscriptionExecutor, data: Any) -> None:
    with pytest.raises(ConversionError):
        ex.publish_event("userCreated", "users", data)
    still_works(ex)


@pytest.mark.parametrize("field", ["tenant_id", "correlation_id", "event_id"])
def test_odd_event_fields_raise_conversion_error(ex: SubscriptionExecutor, field: str) -> None:
    with pytest.raises(ConversionError):
        ex.publish_event("userCreated", "users", {"id": "1"}, **{field: 10**5000 if field != "correlation_id" else 5})
    still_works(ex)


# --- objects whose protocol methods raise or mutate ------------------------------------------

class Boom(Exception):
    pass


class RaisingIter(list):  # type: ignore[type-arg]
    def __iter__(self):  # type: ignore[no-untyped-def]
        raise Boom("__iter__")


class RaisingLen(dict):  # type: ignore[type-arg]
    def __len__(self) -> int:
        raise Boom("__len__")


class RaisingEqHash(str):
    def __eq__(self, other: object) -> bool:
        raise Boom("__eq__")

    def __hash__(self) -> int:
        raise Boom("__hash__")


class RaisingInt(int):
    def __int__(self) -> int:
        raise Boom("__int__")

    def __index__(self) -> int:
        raise Boom("__index__")


def test_roles_whose_iter_raises_propagate_the_error(ex: SubscriptionExecutor) -> None:
    with pytest.raises(Boom):
        ex.register_subscription("c", "r", QUERY, user_id="u", roles=RaisingIter(["admin"]))
    still_works(ex)


def test_subscription_ids_iterable_whose_iter_raises_propagates_the_error(ex: SubscriptionExecutor) -> None:
    with pytest.raises(Boom):
        ex.next_events(RaisingIter(["s"]))
    still_works(ex)


def test_dict_whose_len_raises_converts_by_its_items(ex: SubscriptionExecutor) -> None:
    assert ex.publish_event("userCreated", "users", RaisingLen(id="1")) >= 1
    still_works(ex)


def test_str_id_whose_eq_and_hash_raise_is_used_by_its_text(ex: SubscriptionExecutor) -> None:
    ex.register_subscription("c", RaisingEqHash("odd"), QUERY, user_id="u")
    ex.publish_event("userCreated", "users", {"id": "1"})
    assert ex.next_event(RaisingEqHash("odd")) is not None
    still_works(ex)


def test_int_id_whose_int_raises_propagates_the_error(ex: SubscriptionExecutor) -> None:
    with pytest.raises(Boom):
        ex.register_subscription("c", RaisingInt(5), QUERY, user_id="u")
    still_works(ex)


def test_list_that_grows_while_converted_is_converted_as_it_was(ex: SubscriptionExecutor) -> None:
    class Growing(list):  # type: ignore[type-arg]
        def __iter__(self):  # type: ignore[no-untyped-def]
            self.append("more")
            return super().__iter__()

    ex.register_subscription("c", "g", QUERY, user_id="u", scopes=Growing(["a"]))
    still_works(ex)


# --- resolvers -------------------------------------------------------------------------------------

def returns(value: Any) -> Callable[..., Any]:
    return lambda event, variables, context: value


def raises(error: BaseException) -> Callable[..., Any]:
    def resolver(event: Any, variables: Any, context: Any) -> Any:
        raise error
    return resolver


def self_referencing_dict() -> dict[str, Any]:
    data: dict[str, Any] = {}
    data["users"] = data
    return data


@pytest.mark.parametrize("resolver", [
    returns(None), returns([]), returns("data"), returns({1: 2}), returns({"users": math.nan}),
    returns({"users": 10**30}), returns(self_referencing_dict()), returns(RaisingLen(users={"id": "1"})),
    raises(ValueError("bad")), raises(Boom()), raises(RecursionError()), raises(MemoryError()),
], ids=lambda r: r.__qualname__ if hasattr(r, "__qualname__") else repr(r))
def test_odd_resolver_result_becomes_an_error_frame(ex: SubscriptionExecutor, resolver: Callable[..., Any]) -> None:
    ex.register_subscription("c", "r", QUERY, user_id="u", resolver=resolver)
    ex.publish_event("userCreated", "users", {"id": "1"})
    frame = json.loads(ex.next_event("r") or b"")
    assert frame["type"] in ("error", "next")
    if frame["type"] == "next":
        # A dict subclass converts by its items: a valid result.
        assert frame["payload"] == {"data": {"users": {"id": "1"}}}
    still_works(ex)


def test_every_error_raised_above_is_a_subcast_error_or_the_users_own() -> None:
    # The classes the tests above expect are all `SubcastError`s, except the user's `Boom`
    # and Python's `UnicodeEncodeError` for a lone surrogate.
    assert issubclass(ConversionError, SubcastError) and issubclass(InvalidRequestError, SubcastError)
