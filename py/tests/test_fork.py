"""fork(): a pre-forking server's children make working executors; inherited ones refuse clearly.

Each test forks with ``os.fork()``; the child reports over a pipe and leaves with
``os._exit``; the parent waits for the report with a timeout, so a hang fails the test
instead of stalling the suite. Network buses need Redis and PostgreSQL (see test_buses).
"""

from __future__ import annotations

import gc
import os
import re
import select
import signal
from collections.abc import Callable, Iterator

import pytest

from subcast import EventBusConfig, SubscriptionExecutor
from subcast.errors import ForkedProcessError

from test_buses import BUSES, server_of

pytestmark = pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")

KINDS = ["memory", "redis", "postgresql"]
QUERY = "subscription { users { id } }"


def bus_of(kind: str) -> EventBusConfig:
    if kind == "memory":
        return EventBusConfig.memory()
    server_of(kind)
    make, url, _ = BUSES[kind]
    return make(url)


def in_child(body: Callable[[], str], timeout: float = 30) -> str:
    """Run `body` in a forked child; return what it returned (or the exception it raised)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            try:
                report = body()
            except BaseException as error:  # noqa: BLE001 (everything goes back to the parent)
                report = f"raised {type(error).__name__}: {error}"
            os.write(write_end, report.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        ready, _, _ = select.select([read_end], [], [], timeout)
        if not ready:
            os.kill(pid, signal.SIGKILL)
            pytest.fail(f"the child did not report within {timeout} s (hung)")
        chunks = []
        while chunk := os.read(read_end, 65536):
            chunks.append(chunk)
        return b"".join(chunks).decode()
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)


def round_trip(ex: SubscriptionExecutor, sid: str) -> bytes | None:
    """Publish on a fresh channel of `ex` and take the frame back."""
    channel = f"py_fork_{os.getpid()}_{sid}"
    ex.register_subscription("c", sid, QUERY, user_id="u", channels=[channel])
    assert ex.wait_channel_ready(channel, 10)
    ex.publish_event("userCreated", channel, {"id": sid})
    frame = ex.recv_blocking(sid, timeout=10)
    # A bus with history (the PostgreSQL outbox) adds the event's resume cursor, which
    # differs run to run: not what these tests are about.
    return None if frame is None else RESUME_CURSOR.sub(b"", frame)


RESUME_CURSOR = re.compile(rb'"extensions":\{"cursor":"[^"]*"\},')


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def parent(kind: str) -> Iterator[SubscriptionExecutor]:
    """An executor of the parent, busy on its bus before the fork."""
    with SubscriptionExecutor(bus=bus_of(kind)) as ex:
        assert round_trip(ex, "before") is not None
        yield ex


def new_executor_round_trip(kind: str) -> str:
    with SubscriptionExecutor(bus=bus_of(kind)) as ex:
        return repr(round_trip(ex, "child"))


CHILD_FRAME = b'{"id":"child","type":"next","payload":{"data":{"users":{"id":"child"}}}}'


def test_executor_made_in_a_forked_child_delivers_events(kind: str, parent: SubscriptionExecutor) -> None:
    assert in_child(lambda: new_executor_round_trip(kind)) == repr(CHILD_FRAME)


@pytest.mark.parametrize("call", [
    lambda ex: ex.publish_event("userCreated", "users", {"id": "1"}),
    lambda ex: ex.register_subscription("c", "s2", QUERY, user_id="u"),
    lambda ex: ex.next_event("before"),
    lambda ex: ex.recv_blocking("before", timeout=1),
    lambda ex: ex.get_metrics(),
    lambda ex: ex.metrics_prometheus(),
    lambda ex: ex.wait_channel_ready("users", 1),
    lambda ex: ex.complete_connection("c"),
], ids=["publish_event", "register_subscription", "next_event", "recv_blocking", "get_metrics",
        "metrics_prometheus", "wait_channel_ready", "complete_connection"])
def test_parent_executor_raises_forked_process_error_in_the_child(
    parent: SubscriptionExecutor, call: Callable[[SubscriptionExecutor], object]
) -> None:
    def child() -> str:
        try:
            call(parent)
        except ForkedProcessError as error:
            return f"ForkedProcessError: {error}"
        return "no error"

    report = in_child(child)
    assert report.startswith(f"ForkedProcessError: this executor was created in process {os.getpid()} "), report
    assert report.endswith("create a new one in the child")


def test_parent_receiver_raises_forked_process_error_in_the_child(parent: SubscriptionExecutor) -> None:
    receiver = parent.receiver("before")

    def child() -> str:
        try:
            receiver.next_event()
        except ForkedProcessError:
            return "refused"
        return "no error"

    assert in_child(child) == "refused"


def test_closing_and_dropping_an_inherited_executor_in_the_child_returns(kind: str) -> None:
    # The list holds the only reference, so that the child's `del` really drops the executor.
    holder = [SubscriptionExecutor(bus=bus_of(kind))]
    assert round_trip(holder[0], "before") is not None

    def child() -> str:
        inherited = holder.pop()
        inherited.close()
        closed = inherited.closed
        del inherited
        gc.collect()
        return f"closed={closed}"

    try:
        assert in_child(child) == "closed=True"
    finally:
        holder[0].close()


def test_parent_executor_keeps_working_after_a_fork(kind: str, parent: SubscriptionExecutor) -> None:
    assert in_child(lambda: new_executor_round_trip(kind)) == repr(CHILD_FRAME)
    assert round_trip(parent, "after") == b'{"id":"after","type":"next","payload":{"data":{"users":{"id":"after"}}}}'
