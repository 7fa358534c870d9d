"""Draining frames into Python `bytes`: ns per frame at 150 B, 4 KB and 64 KB events.

Run after `pip install ./py`:  python py/benches/drain.py
1,000 subscribers of one cohort; each round publishes one event and drains every frame with
one `next_events` call. Prints the best and the median round, in ns per frame.
"""

from __future__ import annotations

import statistics
import time

from subcast import SubscriptionExecutor

QUERY = "subscription { users { id blob } }"
SUBSCRIBERS = 1_000
ROUNDS = 30


def drain_ns_per_frame(size: int) -> tuple[float, float]:
    with SubscriptionExecutor() as ex:
        for i in range(SUBSCRIBERS):
            ex.register_subscription(
                connection_id=f"c{i}", subscription_id=f"s{i}", query=QUERY, user_id="u", tenant_id="t"
            )
        ids = [f"s{i}" for i in range(SUBSCRIBERS)]
        data = {"id": "1", "blob": "x" * size}
        rounds = []
        for _ in range(ROUNDS):
            ex.publish_event("users.updated", "users", data, tenant_id="t")
            started = time.perf_counter()
            frames = ex.next_events(ids)
            rounds.append((time.perf_counter() - started) / len(frames) * 1e9)
            assert len(frames) == SUBSCRIBERS
        return min(rounds), statistics.median(rounds)


if __name__ == "__main__":
    print("| event | best ns/frame | median ns/frame |")
    print("|---:|---:|---:|")
    for size in (150, 4096, 65536):
        best, median = drain_ns_per_frame(size)
        print(f"| {size:,} B | {best:,.0f} | {median:,.0f} |")
