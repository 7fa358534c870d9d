"""The protocol machine and the connection inbox as a Python WebSocket loop drives them."""

from __future__ import annotations

import asyncio
import json

from subcast import SubscriptionExecutor
from subcast._native import ProtocolConnection

ORDERS = "subscription { orders { id total } }"


def acknowledged_with(subscription_id: str) -> ProtocolConnection:
    connection = ProtocolConnection({"keep_alive": None})
    connection.feed_text('{"type":"connection_init"}')
    assert connection.poll_actions() == [("authenticate", None)]
    connection.accept()
    assert connection.poll_actions() == [("send", '{"type":"connection_ack"}')]
    connection.feed_text(json.dumps({"id": subscription_id, "type": "subscribe", "payload": {"query": ORDERS}}))
    [(kind, id, payload)] = connection.poll_actions()
    assert (kind, id, payload["query"]) == ("subscribe", subscription_id, ORDERS)
    return connection


def test_ping_is_answered_by_pong_with_the_same_payload() -> None:
    connection = ProtocolConnection()
    connection.feed_text('{"type":"ping","payload":{"n":1}}')
    assert connection.poll_actions() == [("send", '{"type":"pong","payload":{"n":1}}')]


def test_subscribe_before_ack_is_closed_with_4401_and_no_message() -> None:
    connection = ProtocolConnection()
    connection.feed_text('{"id":"1","type":"subscribe","payload":{"query":"subscription { a }"}}')
    assert connection.poll_actions() == [("close", 4401, "Unauthorized")]
    assert connection.closed


def test_cancelled_ready_loses_no_frame(ex: SubscriptionExecutor) -> None:
    async def scenario() -> None:
        connection = acknowledged_with("s1")
        inbox = ex.connection_inbox()
        ex.register_subscription("c1", "s1", ORDERS, user_id="u", inbox=inbox)
        inbox.ready().cancel()
        ex.publish_event("orderPlaced", "orders", {"id": "o-1", "total": 1})
        await asyncio.wait_for(inbox.ready(), 5)
        frames, ended = inbox.take_frames(connection)
        assert [json.loads(frame)["payload"] for frame in frames] == [{"data": {"orders": {"id": "o-1", "total": 1}}}]
        assert ended == []

    asyncio.run(scenario())


def test_frames_of_a_subscription_the_client_completed_are_not_taken(ex: SubscriptionExecutor) -> None:
    connection = acknowledged_with("s1")
    inbox = ex.connection_inbox()
    ex.register_subscription("c1", "s1", ORDERS, user_id="u", inbox=inbox)
    ex.publish_event("orderPlaced", "orders", {"id": "o-1", "total": 1})
    connection.feed_text('{"id":"s1","type":"complete"}')
    assert connection.poll_actions() == [("unsubscribe", "s1")]
    assert inbox.take_frames(connection) == ([], [])


def test_subscription_the_server_ends_is_completed_once(ex: SubscriptionExecutor) -> None:
    connection = acknowledged_with("s1")
    inbox = ex.connection_inbox()
    ex.register_subscription("c1", "s1", ORDERS, user_id="u", inbox=inbox)
    ex.complete_subscription("s1")
    assert inbox.take_frames(connection) == ([], ["s1"])
    assert connection.poll_actions() == [("send", '{"id":"s1","type":"complete"}')]
