//! One event → N graphql-transport-ws frames queued, listeners notified.
//!
//! Series, for N = 100, 10k, 100k subscriptions to the same document:
//! - `subcast`: `SubscriptionExecutor::dispatch_event_to_subscriptions` (projection resolver,
//!   one resolution and encoding per cohort, id spliced per subscriber); every queue has a
//!   registered listener, so each push also wakes a waiter.
//! - `naive`: the seed's design: per subscriber, project, build the frame as a
//!   `serde_json::Value`, serialize it, push it into a `Mutex<VecDeque>`, all as futures
//!   joined with `join_all`.
//!
//! Run: `cargo bench --bench dispatch`

use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde_json::{json, Map, Value};
use subcast::{
    DocumentLimits, Event, ProjectionResolver, ResponseQueue, SubscriptionDocument, SubscriptionExecutor,
    SubscriptionRequest,
};

const QUERY: &str = "subscription { users { id name email } }";
const SIZES: [usize; 3] = [100, 10_000, 100_000];

fn event() -> Arc<Event> {
    Arc::new(Event::new(
        "userCreated",
        "users",
        json!({"id": "u-123", "name": "Alice", "email": "alice@example.com", "password_hash": "x"}),
    ))
}

/// An executor with `n` subscriptions, one per connection, and their queues.
fn executor_with(n: usize) -> (SubscriptionExecutor, Vec<Arc<ResponseQueue>>) {
    let executor = SubscriptionExecutor::default();
    let queues = (0..n)
        .map(|i| {
            let key = executor
                .register_subscription(SubscriptionRequest::new(format!("conn-{i}"), "1", QUERY))
                .expect("valid subscription");
            executor.response_queue(key).expect("registered")
        })
        .collect();
    (executor, queues)
}

/// Register a waiting listener on every queue, as a WebSocket task blocked in `recv` would.
fn listen_all(queues: &[Arc<ResponseQueue>], listeners: &mut [Option<event_listener::EventListener>]) {
    let mut cx = Context::from_waker(Waker::noop());
    for (queue, listener) in queues.iter().zip(listeners.iter_mut()) {
        assert!(queue.poll_recv(&mut cx, listener).is_pending());
    }
}

/// Take every frame, as the WebSocket tasks would.
fn drain_all(queues: &[Arc<ResponseQueue>], listeners: &mut [Option<event_listener::EventListener>]) {
    let mut cx = Context::from_waker(Waker::noop());
    for (queue, listener) in queues.iter().zip(listeners.iter_mut()) {
        assert!(matches!(queue.poll_recv(&mut cx, listener), Poll::Ready(Some(_))));
    }
}

fn subcast_dispatch(c: &mut Criterion) {
    let mut group = c.benchmark_group("dispatch");
    group.sample_size(20).measurement_time(Duration::from_secs(4));
    for n in SIZES {
        group.throughput(Throughput::Elements(n as u64));
        let (executor, queues) = executor_with(n);
        let mut listeners: Vec<_> = (0..n).map(|_| None).collect();
        let event = event();
        group.bench_function(BenchmarkId::new("subcast", n), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    listen_all(&queues, &mut listeners);
                    let start = Instant::now();
                    let report = executor.dispatch_event_to_subscriptions(black_box(&event));
                    total += start.elapsed();
                    assert_eq!(report.expect("valid event").delivered, n);
                    drain_all(&queues, &mut listeners);
                }
                total
            })
        });
        if n <= 10_000 {
            naive_dispatch(&mut group, n, &event);
        }
    }
    group.finish();
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

criterion_group!(benches, subcast_dispatch);
criterion_main!(benches);
