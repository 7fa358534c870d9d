"""SubscriptionExecutor(schema=sdl): documents validated against the application's schema."""

from __future__ import annotations

import json

import pytest

from subcast import SecurityPolicies, SubscriptionExecutor
from subcast.errors import InvalidConfigError, InvalidDocumentError, SubscriptionRefusedError

SDL = """
type Query { ok: Boolean }
enum Size { S M L }
type Order { id: ID! total: Float size: Size }
type Subscription {
  orders(min: Int, size: Size): Order!
  bigOrders: Order! @channel(name: "orders")
}
"""


def executor(**options: object) -> SubscriptionExecutor:
    return SubscriptionExecutor(schema=SDL, allow_anonymous=True, **options)  # type: ignore[arg-type]


def test_a_field_missing_from_the_schema_is_refused_with_its_line_and_column() -> None:
    with executor() as ex:
        with pytest.raises(InvalidDocumentError) as error:
            ex.register_subscription("c", "1", "subscription {\n  orders { id totl }\n}")
    assert error.value.code == "GRAPHQL_VALIDATION_FAILED"
    assert "line 2, column 15" in str(error.value)
    assert "totl" in str(error.value)


def test_every_problem_of_a_document_is_in_the_message() -> None:
    with executor() as ex:
        with pytest.raises(InvalidDocumentError) as error:
            ex.register_subscription("c", "1", "subscription { orders(max: 1) { totl } }")
    message = str(error.value)
    assert "max" in message and "totl" in message


def test_the_same_typo_is_accepted_without_a_schema() -> None:
    with SubscriptionExecutor(allow_anonymous=True) as ex:
        ex.register_subscription("c", "1", "subscription { orders { totl } }")


def test_a_variable_of_the_wrong_type_is_refused_at_subscribe() -> None:
    query = "subscription ($min: Int, $size: Size) { orders(min: $min, size: $size) { id } }"
    with executor() as ex:
        with pytest.raises(InvalidDocumentError):
            ex.register_subscription("c", "1", query, variables={"min": "10"})
        with pytest.raises(InvalidDocumentError):
            ex.register_subscription("c", "2", query, variables={"size": "XL"})
        ex.register_subscription("c", "3", query, variables={"min": 10, "size": "M"})


def test_a_channel_directive_routes_the_root_field() -> None:
    with executor() as ex:
        ex.register_subscription("c", "1", "subscription { bigOrders { id } }")
        assert ex.publish_event("orderCreated", "orders", {"id": "o1"}) == 1
        frame = ex.next_event("1")
    assert frame is not None
    assert json.loads(frame)["payload"]["data"] == {"bigOrders": {"id": "o1"}}


def test_an_rbac_coordinate_protects_the_field() -> None:
    with executor(security=SecurityPolicies(rbac={"Order.total": ["finance"]})) as ex:
        with pytest.raises(SubscriptionRefusedError):
            ex.register_subscription("c", "1", "subscription { orders { total } }", user_id="u")
        ex.register_subscription("c", "2", "subscription { orders { total } }", user_id="u", roles=["finance"])


def test_an_rbac_coordinate_missing_from_the_schema_is_refused() -> None:
    with pytest.raises(InvalidConfigError) as error:
        executor(security=SecurityPolicies(rbac={"Order.totl": ["finance"]}))
    assert "Order.totl" in str(error.value)


def test_an_sdl_that_does_not_validate_is_refused_with_every_error() -> None:
    with pytest.raises(InvalidConfigError) as error:
        SubscriptionExecutor(schema="type Query { a: Int }\ntype Subscription {\n  a: Missing\n  b: Gone\n}")
    message = str(error.value)
    assert message.startswith("schema: invalid schema")
    assert "line 3" in message and "line 4" in message


def test_a_schema_that_is_not_text_is_refused() -> None:
    with pytest.raises(InvalidConfigError) as error:
        SubscriptionExecutor(schema=42)  # type: ignore[arg-type]
    assert "schema" in str(error.value)
