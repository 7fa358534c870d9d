"""asyncio: `recv` and `frames` wake on a queued frame, end on completion, and are cancel-safe."""

from __future__ import annotations

import asyncio
import json
import threading

from subcast import SubscriptionExecutor

from support import subscribe


def ids(frames: list[bytes | None]) -> list[str]:
    return [json.loads(f)["payload"]["data"]["users"]["id"] for f in frames if f is not None]


def test_recv_wakes_when_another_thread_publishes(ex: SubscriptionExecutor) -> None:
    subscribe(ex)

    async def main() -> bytes | None:
        pending = asyncio.ensure_future(ex.recv("s1"))
        await asyncio.sleep(0)  # let the recv register its waiter: not synchronisation
        assert not pending.done()
        thread = threading.Thread(target=ex.publish_event, args=("userCreated", "users", {"id": "1"}, "t1"))
        thread.start()
        frame = await pending
        thread.join()
        return frame

    assert ids([asyncio.run(main())]) == ["1"]


def test_recv_returns_a_queued_frame_immediately(ex: SubscriptionExecutor) -> None:
    subscribe(ex)
    ex.publish_event("userCreated", "users", {"id": "1"}, "t1")

    async def main() -> bytes | None:
        return await asyncio.wait_for(ex.recv("s1"), 10)

    assert ids([asyncio.run(main())]) == ["1"]


def test_frames_yields_in_order_and_ends_when_the_subscription_completes(ex: SubscriptionExecutor) -> None:
    subscribe(ex)

    async def main() -> list[bytes]:
        received: list[bytes] = []

        async def consume() -> None:
            async for frame in ex.frames("s1"):
                received.append(frame)
                if len(received) == 3:
                    ex.complete_subscription("s1")

        consumer = asyncio.create_task(consume())
        for n in range(3):
            ex.publish_event("userCreated", "users", {"id": str(n)}, "t1")
            await asyncio.sleep(0)
        await asyncio.wait_for(consumer, 10)
        return received

    assert ids(list(asyncio.run(main()))) == ["0", "1", "2"]


def test_cancelled_recv_loses_no_frame(ex: SubscriptionExecutor) -> None:
    subscribe(ex)

    async def main() -> list[bytes | None]:
        first = asyncio.ensure_future(ex.recv("s1"))
        await asyncio.sleep(0)
        # Publish from another thread, then cancel before the loop ran the delivery.
        thread = threading.Thread(target=ex.publish_event, args=("userCreated", "users", {"id": "1"}, "t1"))
        thread.start()
        thread.join()
        first.cancel()
        ex.publish_event("userCreated", "users", {"id": "2"}, "t1")
        got = [await asyncio.wait_for(ex.recv("s1"), 10), await asyncio.wait_for(ex.recv("s1"), 10)]
        return got

    assert ids(asyncio.run(main())) == ["1", "2"]


def test_many_cancelled_recvs_then_a_frame_is_delivered_once(ex: SubscriptionExecutor) -> None:
    subscribe(ex)

    async def main() -> tuple[bytes | None, bytes | None]:
        for _ in range(50):
            waiter = asyncio.ensure_future(ex.recv("s1"))
            await asyncio.sleep(0)
            waiter.cancel()
        ex.publish_event("userCreated", "users", {"id": "1"}, "t1")
        frame = await asyncio.wait_for(ex.recv("s1"), 10)
        return frame, ex.next_event("s1")

    frame, rest = asyncio.run(main())
    assert ids([frame]) == ["1"] and rest is None


def test_close_ends_every_waiting_recv_with_none() -> None:
    ex = SubscriptionExecutor()
    subscribe(ex, sid="a")
    subscribe(ex, sid="b")

    async def main() -> list[bytes | None]:
        waiters = [asyncio.ensure_future(ex.recv(s)) for s in ("a", "b")]
        await asyncio.sleep(0)
        ex.close()
        return list(await asyncio.wait_for(asyncio.gather(*waiters), 10))

    assert asyncio.run(main()) == [None, None]


def test_async_context_manager_closes_the_executor() -> None:
    async def main() -> SubscriptionExecutor:
        async with SubscriptionExecutor() as ex:
            return ex

    assert asyncio.run(main()).closed
