//! One event → N graphql-transport-ws frames queued, listeners notified.
//!
//! Series, for N = 100, 10k, 100k subscriptions to the same document:
//! - `subcast`: `SubscriptionExecutor::dispatch_event_to_subscriptions` (projection resolver,
//!   one resolution and encoding per cohort, id spliced per subscriber); every queue has a
//!   registered listener, so each push also wakes a waiter. Anonymous subscribers, security
//!   policies off.
//! - `policies_on`: the same dispatch with every policy on: each subscriber is its own user
//!   of one tenant and federation, with roles, scopes and an event filter; RBAC map, required
//!   scopes, row filter, per-user delivery buckets and subscription maxima are all enforced
//!   (limits high enough that nothing is refused).
//! - `naive`: the seed's design: per subscriber, project, build the frame as a
//!   `serde_json::Value`, serialize it, push it into a `Mutex<VecDeque>`, all as futures
//!   joined with `join_all`.
//!
//!
//! Group `frame_size`: 10k subscriptions, events whose frame is 150 B, 4 KB and 64 KB.
//! `dispatch` times the dispatch alone (frames queued, listeners woken), `dispatch_drain`
//! the dispatch and every subscriber's frame taken as the bytes its writer sends.
//!
//! Run: `cargo bench --bench dispatch`. Series run one after another, so load that changes
//! between them skews their ratio; `cargo bench --bench policy_overhead` interleaves them.

mod common;

use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Checks, Fanout, QUERY};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde_json::{json, Map, Value};
use subcast::{DocumentLimits, Event, ProjectionResolver, SubscriptionDocument};

const SIZES: [usize; 3] = [100, 10_000, 100_000];

fn subcast_dispatch(c: &mut Criterion) {
    let mut group = c.benchmark_group("dispatch");
    group.sample_size(20).measurement_time(Duration::from_secs(4));
    for n in SIZES {
        group.throughput(Throughput::Elements(n as u64));
        let (event, tenant_event) = (common::event(), common::tenant_event());
        executor_dispatch(&mut group, "subcast", Fanout::new(n, Checks::None), &event);
        executor_dispatch(
            &mut group,
            "policies_on",
            Fanout::new(n, Checks::PoliciesAndLimits),
            &tenant_event,
        );
        if n <= 10_000 {
            naive_dispatch(&mut group, n, &event);
        }
    }
    group.finish();
}

const FRAME_SIZES: [usize; 3] = [150, 4 * 1024, 64 * 1024];

fn frame_size(c: &mut Criterion) {
    let mut group = c.benchmark_group("frame_size");
    group.sample_size(10).measurement_time(Duration::from_secs(4));
    let n = 10_000;
    group.throughput(Throughput::Elements(n as u64));
    for size in FRAME_SIZES {
        let event = common::event_of_size(size);
        let mut fanout = Fanout::new(n, Checks::None);
        group.bench_function(BenchmarkId::new("dispatch", size), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| fanout.dispatch_once(&event)).sum())
        });
        group.bench_function(BenchmarkId::new("dispatch_drain", size), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| fanout.dispatch_and_drain_once(&event)).sum())
        });
    }
    group.finish();
}

/// One series of `SubscriptionExecutor::dispatch_event_to_subscriptions`, every queue listened to.
fn executor_dispatch(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    series: &str,
    mut fanout: Fanout,
    event: &Arc<Event>,
) {
    let n = fanout.executor.stats().subscriptions;
    group.bench_function(BenchmarkId::new(series, n), |b| {
        b.iter_custom(|iters| (0..iters).map(|_| fanout.dispatch_once(event)).sum())
    });
}

/// The seed checklist's design: per-subscriber work joined with `join_all`.
fn naive_dispatch(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    n: usize,
    event: &Arc<Event>,
) {
    let document = SubscriptionDocument::parse(QUERY, None, &DocumentLimits::default()).expect("valid");
    let variables = Map::new();
    let subscribers: Vec<(String, futures::lock::Mutex<VecDeque<Vec<u8>>>)> = (0..n)
        .map(|i| (format!("sub-{i}"), futures::lock::Mutex::new(VecDeque::new())))
        .collect();
    group.bench_function(BenchmarkId::new("naive", n), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                futures::executor::block_on(futures::future::join_all(subscribers.iter().map(
                    |(id, queue)| {
                        let (document, variables) = (&document, &variables);
                        async move {
                            let data =
                                ProjectionResolver::project(event, document, variables).expect("object");
                            let frame = json!({"id": id, "type": "next", "payload": {"data": data}});
                            let bytes = serde_json::to_vec(&frame).expect("serializable");
                            queue.lock().await.push_back(bytes);
                        }
                    },
                )));
                total += start.elapsed();
                for (_, queue) in &subscribers {
                    black_box(futures::executor::block_on(queue.lock()).pop_front());
                }
            }
            total
        })
    });
    let _: &Value = &event.data;
}

criterion_group!(benches, subcast_dispatch, frame_size);
criterion_main!(benches);
