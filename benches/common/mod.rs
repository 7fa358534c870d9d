//! Fan-out fixtures shared by the dispatch benchmarks: executors of N subscriptions, with
//! and without security policies, and a timed dispatch with a listener waiting on every queue.

// Each bench compiles this module on its own and uses a part of it.
#![allow(dead_code)]

use std::hint::black_box;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use event_listener::EventListener;
use serde_json::json;
use subcast::{
    BucketConfig, Event, EventFilter, ExecutorConfig, RateLimits, RbacPolicy, ResponseQueue, ScopePolicy,
    SecurityContext, SecurityPolicies, SubscriptionExecutor, SubscriptionRequest,
};

/// The document every benchmark subscription uses.
pub const QUERY: &str = "subscription { users { id name email } }";

/// An event for anonymous subscribers.
pub fn event() -> Arc<Event> {
    Arc::new(Event::new(
        "userCreated",
        "users",
        json!({"id": "u-123", "name": "Alice", "email": "alice@example.com", "password_hash": "x"}),
    ))
}

/// An event for anonymous subscribers whose `next` frame is about `frame_bytes` long: its
/// `name` is padded to the size.
pub fn event_of_size(frame_bytes: usize) -> Arc<Event> {
    // The frame of `event()` with an empty name is about 110 bytes.
    let name = "x".repeat(frame_bytes.saturating_sub(110));
    Arc::new(Event::new(
        "userCreated",
        "users",
        json!({"id": "u-123", "name": name, "email": "alice@example.com", "password_hash": "x"}),
    ))
}

/// An event of the policy subscribers' tenant and federation, owned by nobody.
pub fn tenant_event() -> Arc<Event> {
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

/// Which checks an executor makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checks {
    /// Anonymous subscribers, every policy off.
    None,
    /// One user per subscriber, every security policy and an event filter on.
    Policies,
    /// `Policies`, plus per-user delivery buckets and subscription maxima (never refusing).
    PoliciesAndLimits,
}

/// An executor with `n` subscriptions on `n` connections, and a waiting listener per queue.
pub struct Fanout {
    pub executor: SubscriptionExecutor,
    queues: Vec<Arc<ResponseQueue>>,
    listeners: Vec<Option<EventListener>>,
}

impl Fanout {
    pub fn new(n: usize, checks: Checks) -> Self {
        let executor = SubscriptionExecutor::new(config(checks));
        let filter = EventFilter::new().exists("id").contains("email", "@");
        let queues: Vec<_> = (0..n)
            .map(|i| {
                let mut request = SubscriptionRequest::new(format!("conn-{i}"), "1", QUERY);
                if checks != Checks::None {
                    let context = SecurityContext::new(format!("user-{i}"))
                        .with_tenant("acme")
                        .with_federation("eu")
                        .with_roles(["support"])
                        .with_scopes(["users:read"]);
                    request = request.security_context(context).filter(filter.clone());
                }
                let key = executor
                    .register_subscription(request)
                    .expect("valid subscription");
                executor.response_queue(key).expect("registered")
            })
            .collect();
        let listeners = (0..n).map(|_| None).collect();
        Fanout {
            executor,
            queues,
            listeners,
        }
    }

    /// Dispatch `event` with every subscriber waiting; return the time dispatch took.
    pub fn dispatch_once(&mut self, event: &Arc<Event>) -> Duration {
        let mut cx = Context::from_waker(Waker::noop());
        for (queue, listener) in self.queues.iter().zip(self.listeners.iter_mut()) {
            assert!(queue.poll_recv(&mut cx, listener).is_pending());
        }
        let start = Instant::now();
        let report = self.executor.dispatch_event_to_subscriptions(black_box(event));
        let elapsed = start.elapsed();
        assert_eq!(report.expect("valid event").delivered, self.queues.len());
        for (queue, listener) in self.queues.iter().zip(self.listeners.iter_mut()) {
            assert!(matches!(queue.poll_recv(&mut cx, listener), Poll::Ready(Some(_))));
        }
        elapsed
    }

    /// Dispatch `event`, then take every subscriber's frame as the bytes its writer sends;
    /// return the time both took.
    pub fn dispatch_and_drain_once(&mut self, event: &Arc<Event>) -> Duration {
        let start = Instant::now();
        let report = self.executor.dispatch_event_to_subscriptions(black_box(event));
        assert_eq!(report.expect("valid event").delivered, self.queues.len());
        for queue in &self.queues {
            black_box(queue.try_next().expect("one frame"));
        }
        start.elapsed()
    }
}

fn config(checks: Checks) -> ExecutorConfig {
    if checks == Checks::None {
        return ExecutorConfig::default()
            .allow_anonymous(true)
            .security(SecurityPolicies::disabled());
    }
    let policies = SecurityPolicies::default()
        .scope(ScopePolicy::default().require_scopes("users", ["users:read"]))
        .rbac(RbacPolicy::default().allow("users.email", ["support"]));
    let config = ExecutorConfig::default().security(policies);
    if checks == Checks::Policies {
        return config;
    }
    let plenty = BucketConfig::new(u32::MAX, 1e9);
    config.rate_limits(
        RateLimits::default()
            .deliveries(plenty)
            .subscription_creation(plenty)
            .max_subscriptions_per_connection(100)
            .max_subscriptions_per_user(100),
    )
}
