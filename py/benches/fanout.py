"""Publish -> frames for N subscribers: subcast (projection, Python resolver) vs broadcaster.

Run after `pip install ./py broadcaster`:  python py/benches/fanout.py
Each row publishes events and drains every subscriber's frame; times are wall clock
(time.perf_counter) and include draining, so frames/s is delivered frames per second.
The subcast series drain either with one `next_event` call per frame (per-frame) or with
one `next_events` call per event for every subscriber (batch), as a server writing all its
subscribers' frames after each wake-up would. "× broadcaster" compares frames/s at the
same subscriber count.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from subcast import SubscriptionExecutor

QUERY = "subscription { users { id name } }"
DATA = {"id": "123", "name": "Alice", "email": "a@example.com"}


def events_for(n: int) -> int:
    return max(5, min(2000, 200_000 // n))


def subcast_run(
    n: int, resolver: Callable[..., Any] | None, distinct_users: bool, batch: bool
) -> tuple[float, int, int]:
    with SubscriptionExecutor() as ex:
        for i in range(n):
            ex.register_subscription(
                connection_id=f"c{i}", subscription_id=f"s{i}", query=QUERY,
                user_id=f"u{i}" if distinct_users else "u", tenant_id="t", resolver=resolver,
            )
        ids = [f"s{i}" for i in range(n)]
        events = events_for(n)
        start = time.perf_counter()
        frames = 0
        for _ in range(events):
            ex.publish_event("userCreated", "users", DATA, "t")
            if batch:
                frames += len(ex.next_events(ids))
                continue
            for sid in ids:
                if ex.next_event(sid) is not None:
                    frames += 1
        elapsed = time.perf_counter() - start
        return elapsed, frames, events


def broadcaster_run(n: int) -> tuple[float, int, int]:
    from broadcaster import Broadcast

    async def main() -> tuple[float, int, int]:
        events = events_for(n)
        async with Broadcast("memory://") as broadcast:
            ready = asyncio.Event()
            subscribed = 0
            frames = 0
            done = asyncio.Event()

            async def subscriber(i: int) -> None:
                nonlocal subscribed, frames
                async with broadcast.subscribe(channel="users") as subscriber:
                    subscribed += 1
                    if subscribed == n:
                        ready.set()
                    got = 0
                    async for event in subscriber:
                        # What a GraphQL server does per subscriber: project and encode a frame.
                        data = json.loads(event.message)
                        frame = json.dumps({"id": f"s{i}", "type": "next",
                                            "payload": {"data": {"users": {"id": data["id"], "name": data["name"]}}}})
                        frames += len(frame) > 0
                        got += 1
                        if got == events:
                            break
                if frames == n * events:
                    done.set()

            tasks = [asyncio.create_task(subscriber(i)) for i in range(n)]
            await ready.wait()
            start = time.perf_counter()
            for _ in range(events):
                await broadcast.publish(channel="users", message=json.dumps(DATA))
            await done.wait()
            elapsed = time.perf_counter() - start
            await asyncio.gather(*tasks)
            return elapsed, frames, events

    return asyncio.run(main())


def trivial(event: dict[str, Any], variables: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    return {"users": {"id": event["data"]["id"]}}


def main() -> None:
    rows = []
    for n in (1, 100, 1000, 10_000):
        series: list[tuple[str, Callable[[], tuple[float, int, int]]]] = [
            ("broadcaster memory://", lambda: broadcaster_run(n)),
        ]
        for drain, batch in (("per-frame", False), ("batch", True)):
            series += [
                (f"subcast projection, {drain}", lambda b=batch: subcast_run(n, None, True, b)),
                (f"subcast resolver 1 ctx, {drain}", lambda b=batch: subcast_run(n, trivial, False, b)),
                (f"subcast resolver N ctx, {drain}", lambda b=batch: subcast_run(n, trivial, True, b)),
            ]
        baseline = None
        for label, run in series:
            if label.startswith("broadcaster") and n > 1000:
                continue
            elapsed, frames, events = run()
            assert frames == n * events, f"{label}: {frames} frames, expected {n * events}"
            fps = frames / elapsed
            if label.startswith("broadcaster"):
                baseline = fps
            ratio = f"{fps / baseline:7.1f}×" if baseline else "       -"
            per_event = elapsed / events
            calls = n if "N ctx" in label else (1 if "resolver" in label else 0)
            per_call = f"{per_event / calls * 1e6:8.2f}" if calls else "       -"
            rows.append((n, label, events, fps, ratio, per_event * 1e6, per_call))
    header = (
        f"{'subs':>6} | {'implementation':<34} | {'events':>6} | {'frames/s':>12} | "
        f"× broadcaster | {'µs/event':>10} | µs/resolver call"
    )
    print(header)
    print("-" * len(header))
    for n, label, events, fps, ratio, us, per_call in rows:
        print(f"{n:>6} | {label:<34} | {events:>6} | {fps:>12,.0f} | {ratio:>13} | {us:>10.1f} | {per_call}")


if __name__ == "__main__":
    main()
