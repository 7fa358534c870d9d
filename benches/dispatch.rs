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
//! Run: `cargo bench --bench dispatch`

use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde_json::{json, Map, Value};
use subcast::{
    BucketConfig, DocumentLimits, Event, EventFilter, ExecutorConfig, ProjectionResolver, RateLimits,
    RbacPolicy, ResponseQueue, ScopePolicy, SecurityContext, SecurityPolicies, SubscriptionDocument,
    SubscriptionExecutor, SubscriptionRequest,
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

/// An executor with `n` anonymous subscriptions, one per connection, policies off, and
/// their queues.
fn executor_with(n: usize) -> (SubscriptionExecutor, Vec<Arc<ResponseQueue>>) {
    let config = ExecutorConfig::default()
        .allow_anonymous(true)
        .security(SecurityPolicies::disabled());
    let executor = SubscriptionExecutor::new(config);
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

/// An executor with `n` subscriptions of `n` users, every policy and limit on, and their queues.
fn executor_with_policies(n: usize) -> (SubscriptionExecutor, Vec<Arc<ResponseQueue>>) {
    let policies = SecurityPolicies::default()
        .scope(ScopePolicy::default().require_scopes("users", ["users:read"]))
        .rbac(RbacPolicy::default().allow("users.email", ["support"]));
    let plenty = BucketConfig::new(u32::MAX, 1e9);
    let limits = RateLimits::default()
        .deliveries(plenty)
        .subscription_creation(plenty)
        .max_subscriptions_per_connection(100)
        .max_subscriptions_per_user(100);
    let executor =
        SubscriptionExecutor::new(ExecutorConfig::default().security(policies).rate_limits(limits));
    let filter = EventFilter::new().exists("id").contains("email", "@");
    let queues = (0..n)
        .map(|i| {
            let context = SecurityContext::new(format!("user-{i}"))
                .with_tenant("acme")
                .with_federation("eu")
                .with_roles(["support"])
                .with_scopes(["users:read"]);
            let request = SubscriptionRequest::new(format!("conn-{i}"), "1", QUERY)
                .security_context(context)
                .filter(filter.clone());
            let key = executor
                .register_subscription(request)
                .expect("valid subscription");
            executor.response_queue(key).expect("registered")
        })
        .collect();
    (executor, queues)
}

/// The event of `policies_on`: of the subscribers' tenant and federation, owned by nobody.
fn tenant_event() -> Arc<Event> {
    Arc::new(
        Event::new(
            "userCreated",
            "users",
            json!({"id": "u-123", "name": "Alice", "email": "alice@example.com", "password_hash": "x",
                   "federation_id": "eu"}),
        )
        .with_tenant("acme"),
    )
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
        let event = event();
        executor_dispatch(&mut group, "subcast", n, executor_with(n), &event);
        executor_dispatch(
            &mut group,
            "policies_on",
            n,
            executor_with_policies(n),
            &tenant_event(),
        );
        if n <= 10_000 {
            naive_dispatch(&mut group, n, &event);
        }
    }
    group.finish();
}

/// One series of `SubscriptionExecutor::dispatch_event_to_subscriptions`, every queue listened to.
fn executor_dispatch(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    series: &str,
    n: usize,
    (executor, queues): (SubscriptionExecutor, Vec<Arc<ResponseQueue>>),
    event: &Arc<Event>,
) {
    let mut listeners: Vec<_> = (0..n).map(|_| None).collect();
    group.bench_function(BenchmarkId::new(series, n), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                listen_all(&queues, &mut listeners);
                let start = Instant::now();
                let report = executor.dispatch_event_to_subscriptions(black_box(event));
                total += start.elapsed();
                assert_eq!(report.expect("valid event").delivered, n);
                drain_all(&queues, &mut listeners);
            }
            total
        })
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

criterion_group!(benches, subcast_dispatch);
criterion_main!(benches);
