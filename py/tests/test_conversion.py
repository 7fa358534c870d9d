"""Faithful conversion of Python values, and clear errors for what JSON cannot carry."""

from __future__ import annotations

import datetime
import json
import math
from typing import Any

import pytest

from subcast import ConversionError, SubscriptionExecutor
from support import subscribe


def round_trip(ex: SubscriptionExecutor, data: Any) -> Any:
    seen: list[Any] = []
    subscribe(ex, resolver=lambda e, v, c: seen.append(e["data"]) or {"d": e["data"]})
    ex.publish_event("t", "users", data, "t1")
    frame = json.loads(ex.next_event("s1") or b"")
    assert frame["payload"]["data"]["d"] == seen[0]
    return seen[0]


def test_values_keep_their_types(ex: SubscriptionExecutor) -> None:
    data = {"b": True, "f": False, "i": -(2**63), "u": 2**64 - 1, "x": 1.5, "n": None, "s": "é",
            "l": [1, [2, {"k": []}]], "t": (1, 2)}
    back = round_trip(ex, data)
    assert back == {**data, "t": [1, 2]}
    assert back["b"] is True and type(back["i"]) is int and type(back["x"]) is float


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_nan_and_infinities_are_refused(ex: SubscriptionExecutor, value: float) -> None:
    with pytest.raises(ValueError, match=r"data\[\"a\"\]\[0\].*NaN"):
        ex.publish_event("t", "users", {"a": [value]})


def test_ints_beyond_64_bits_are_refused_naming_the_path(ex: SubscriptionExecutor) -> None:
    with pytest.raises(ConversionError, match=r"data\[\"big\"\].*64 bits"):
        ex.publish_event("t", "users", {"big": 2**64})


@pytest.mark.parametrize("value", [b"x", {1, 2}, datetime.datetime(2024, 1, 1), object()])
def test_unsupported_types_raise_type_error_naming_the_path(ex: SubscriptionExecutor, value: Any) -> None:
    with pytest.raises(TypeError, match=r"data\[\"k\"\]\[1\]"):
        ex.publish_event("t", "users", {"k": [0, value]})


def test_non_string_dict_keys_raise_type_error(ex: SubscriptionExecutor) -> None:
    with pytest.raises(TypeError, match=r"key 1 at data\[\"m\"\]"):
        ex.publish_event("t", "users", {"m": {1: "a"}})


def test_self_containing_value_raises_instead_of_crashing(ex: SubscriptionExecutor) -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ConversionError, match="nested"):
        ex.publish_event("t", "users", {"loop": loop})


def test_wrong_argument_types_raise_type_errors(ex: SubscriptionExecutor) -> None:
    with pytest.raises(TypeError, match="subscription_id"):
        ex.register_subscription("c1", 1.5, "subscription { users { id } }", user_id="u")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="variables"):
        ex.register_subscription("c1", "s", "subscription { users { id } }", variables=[1], user_id="u")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="roles"):
        ex.register_subscription("c1", "s", "subscription { users { id } }", user_id="u", roles="admin")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="resolver"):
        ex.register_subscription("c1", "s", "subscription { users { id } }", user_id="u", resolver=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ex.next_event(None)  # type: ignore[arg-type]


class HugeLenList(list):
    def __len__(self) -> int:
        return 2**62


class HugeLenTuple(tuple):
    def __len__(self) -> int:
        return 2**62


@pytest.mark.parametrize("sequence", [HugeLenList([1, 2]), HugeLenTuple((1, 2))])
def test_a_sequence_lying_about_its_length_converts_its_actual_items(ex: SubscriptionExecutor, sequence: Any) -> None:
    assert round_trip(ex, {"items": sequence}) == {"items": [1, 2]}
