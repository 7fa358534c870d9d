//! Rate limits on the fake clock: delivery buckets, creation buckets, subscription maxima.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use subcast_core::{
    BucketConfig, Clock, DropReason, Error, Event, ExecutorConfig, FakeClock, OverflowPolicy, RateLimitKind,
    RateLimits, SecurityContext, SubscriptionExecutor, SubscriptionKey, SubscriptionRequest, TokenBucket,
};

const TICKS: &str = "subscription { ticks }";

fn executor(limits: RateLimits) -> (SubscriptionExecutor, Arc<FakeClock>) {
    let clock = Arc::new(FakeClock::new());
    let config = ExecutorConfig::default()
        .rate_limits(limits)
        .clock(clock.clone())
        .allow_anonymous(true);
    (SubscriptionExecutor::new(config), clock)
}

fn subscribe(
    executor: &SubscriptionExecutor,
    conn: &str,
    sub: &str,
    user: &str,
) -> Result<SubscriptionKey, Error> {
    executor.register_subscription(
        SubscriptionRequest::new(conn, sub, TICKS).security_context(SecurityContext::new(user)),
    )
}

fn tick(executor: &SubscriptionExecutor, n: u64) -> subcast_core::DispatchReport {
    let report = executor
        .dispatch_event_to_subscriptions(&Arc::new(Event::new("tick", "ticks", json!(n))))
        .unwrap();
    assert_eq!(
        report.matched,
        report.delivered + report.errors + report.dropped_total()
    );
    report
}

fn frames(executor: &SubscriptionExecutor, key: SubscriptionKey) -> Vec<Value> {
    std::iter::from_fn(|| executor.next_response(key).unwrap())
        .map(|bytes| serde_json::from_slice(&bytes).unwrap())
        .collect()
}

fn deliveries(capacity: u32, per_second: f64) -> RateLimits {
    RateLimits::default().deliveries(BucketConfig::new(capacity, per_second))
}

// The bucket

#[test]
fn a_full_bucket_allows_a_burst_of_its_capacity_then_refuses() {
    let bucket = TokenBucket::new(BucketConfig::new(3, 1.0));
    let now = Duration::from_secs(5);
    assert_eq!(bucket.available(now), 3);
    assert!((0..3).all(|_| bucket.try_take(now)));
    assert!(!bucket.try_take(now));
    assert_eq!(bucket.available(now), 0);
}

#[test]
fn a_bucket_refills_at_its_rate_up_to_its_capacity() {
    let bucket = TokenBucket::new(BucketConfig::new(2, 4.0));
    let t0 = Duration::ZERO;
    assert!(bucket.try_take(t0) && bucket.try_take(t0) && !bucket.try_take(t0));
    assert_eq!(bucket.retry_after(t0), Duration::from_millis(250));
    assert!(!bucket.try_take(Duration::from_millis(249)));
    assert!(bucket.try_take(Duration::from_millis(250)));
    assert_eq!(bucket.available(Duration::from_secs(60)), 2);
}

#[test]
fn a_bucket_of_zero_capacity_refuses_everything() {
    let bucket = TokenBucket::new(BucketConfig::new(0, 100.0));
    assert!(!bucket.try_take(Duration::from_secs(10)));
}

#[test]
fn a_bucket_without_refill_never_refills_within_a_lifetime() {
    let bucket = TokenBucket::new(BucketConfig::new(1, 0.0));
    assert!(bucket.try_take(Duration::ZERO));
    assert!(!bucket.try_take(Duration::from_secs(86_400 * 365)));
}

// Deliveries

#[test]
fn deliveries_over_the_users_bucket_are_dropped_and_counted() {
    let (executor, _clock) = executor(deliveries(2, 1.0));
    let key = subscribe(&executor, "c", "1", "alice").unwrap();
    let reports: Vec<_> = (0..4).map(|n| tick(&executor, n)).collect();
    let delivered: usize = reports.iter().map(|r| r.delivered).sum();
    let limited: usize = reports.iter().map(|r| r.dropped(DropReason::RateLimited)).sum();
    assert_eq!((delivered, limited), (2, 2));
    assert_eq!(frames(&executor, key).len(), 2);
    assert_eq!(
        executor.metrics_snapshot().rate_limited(RateLimitKind::Delivery),
        2
    );
}

#[test]
fn when_deliveries_resume_a_rate_limited_notice_with_the_missed_count_comes_first() {
    let (executor, clock) = executor(deliveries(1, 1.0));
    let key = subscribe(&executor, "c", "1", "alice").unwrap();
    for n in 0..4 {
        tick(&executor, n);
    }
    assert_eq!(frames(&executor, key).len(), 1);
    clock.advance(Duration::from_secs(1));
    let report = tick(&executor, 4);
    assert_eq!(report.delivered, 1);
    let got = frames(&executor, key);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0]["type"], "next");
    assert_eq!(
        got[0]["payload"]["errors"][0]["extensions"]["code"],
        "RATE_LIMITED"
    );
    assert_eq!(got[0]["payload"]["errors"][0]["extensions"]["count"], 3);
    assert_eq!(got[1]["payload"]["data"]["ticks"], 4);
}

#[test]
fn the_missed_count_is_reported_once() {
    let (executor, clock) = executor(deliveries(1, 1.0));
    let key = subscribe(&executor, "c", "1", "alice").unwrap();
    tick(&executor, 0);
    tick(&executor, 1);
    clock.advance(Duration::from_secs(1));
    tick(&executor, 2);
    clock.advance(Duration::from_secs(1));
    tick(&executor, 3);
    let codes: Vec<_> = frames(&executor, key)
        .iter()
        .map(|f| f["payload"]["errors"][0]["extensions"]["code"].clone())
        .collect();
    assert_eq!(
        codes,
        [Value::Null, json!("RATE_LIMITED"), Value::Null, Value::Null]
    );
}

#[test]
fn a_users_subscriptions_share_one_delivery_bucket() {
    let (executor, _clock) = executor(deliveries(3, 1.0));
    let a = subscribe(&executor, "c1", "1", "alice").unwrap();
    let b = subscribe(&executor, "c2", "1", "alice").unwrap();
    tick(&executor, 0);
    let report = tick(&executor, 1);
    assert_eq!(
        (report.delivered, report.dropped(DropReason::RateLimited)),
        (1, 1)
    );
    assert_eq!(frames(&executor, a).len() + frames(&executor, b).len(), 3);
}

#[test]
fn one_users_limit_does_not_hold_back_another_user() {
    let (executor, _clock) = executor(deliveries(1, 1.0));
    subscribe(&executor, "c1", "1", "alice").unwrap();
    let bob = subscribe(&executor, "c2", "1", "bob").unwrap();
    tick(&executor, 0);
    let report = tick(&executor, 1);
    assert_eq!(
        (report.delivered, report.dropped(DropReason::RateLimited)),
        (0, 2)
    );
    assert_eq!(frames(&executor, bob).len(), 1);
}

#[test]
fn anonymous_subscribers_are_limited_per_connection() {
    let (executor, _clock) = executor(deliveries(1, 1.0));
    for conn in ["a", "b"] {
        executor
            .register_subscription(SubscriptionRequest::new(conn, "1", TICKS))
            .unwrap();
    }
    assert_eq!(tick(&executor, 0).delivered, 2);
    assert_eq!(tick(&executor, 1).dropped(DropReason::RateLimited), 2);
}

#[test]
fn chunked_delivery_applies_the_same_limit() {
    let (executor, _clock) = executor(deliveries(1, 1.0));
    for n in 0..10 {
        subscribe(&executor, &format!("c{n}"), "1", &format!("user-{}", n % 5)).unwrap();
    }
    let event = Arc::new(Event::new("tick", "ticks", json!(0)));
    let chunks = executor.prepare_dispatch(&event).unwrap().into_chunks(3);
    let mut report = subcast_core::DispatchReport::default();
    for chunk in &chunks {
        report.merge(&chunk.deliver());
    }
    assert_eq!(
        (report.delivered, report.dropped(DropReason::RateLimited)),
        (5, 5)
    );
}

// Subscribe

#[test]
fn subscriptions_over_the_creation_bucket_are_refused_with_rate_limited() {
    let limits = RateLimits::default().subscription_creation(BucketConfig::new(2, 0.5));
    let (executor, clock) = executor(limits);
    subscribe(&executor, "c", "1", "alice").unwrap();
    subscribe(&executor, "c", "2", "alice").unwrap();
    let err = subscribe(&executor, "c", "3", "alice").unwrap_err();
    assert!(
        matches!(err, Error::RateLimited { kind: RateLimitKind::SubscriptionCreation, retry_after } if retry_after == Duration::from_secs(2)),
        "{err}"
    );
    let frame: Value = serde_json::from_slice(&err.to_error_frame("3")).unwrap();
    assert_eq!(frame["payload"][0]["extensions"]["code"], "RATE_LIMITED");
    assert_eq!(frame["payload"][0]["extensions"]["retryAfterMs"], 2000);
    assert!(subscribe(&executor, "d", "1", "bob").is_ok());
    clock.advance(Duration::from_secs(2));
    assert!(subscribe(&executor, "c", "3", "alice").is_ok());
    assert_eq!(
        executor
            .metrics_snapshot()
            .rate_limited(RateLimitKind::SubscriptionCreation),
        1
    );
}

#[test]
fn a_connection_cannot_hold_more_than_its_maximum_of_subscriptions() {
    let (executor, _clock) = executor(RateLimits::default().max_subscriptions_per_connection(2));
    let first = subscribe(&executor, "c", "1", "alice").unwrap();
    subscribe(&executor, "c", "2", "alice").unwrap();
    let err = subscribe(&executor, "c", "3", "alice").unwrap_err();
    assert!(
        matches!(
            err,
            Error::SubscriptionLimit {
                kind: RateLimitKind::ConnectionSubscriptions,
                limit: 2
            }
        ),
        "{err}"
    );
    let frame: Value = serde_json::from_slice(&err.to_error_frame("3")).unwrap();
    assert_eq!(frame["payload"][0]["extensions"]["code"], "SUBSCRIPTION_LIMIT");
    assert!(subscribe(&executor, "other", "1", "alice").is_ok());
    executor.complete_subscription(first).unwrap();
    assert!(subscribe(&executor, "c", "3", "alice").is_ok());
}

#[test]
fn a_user_cannot_hold_more_than_its_maximum_of_subscriptions_over_all_connections() {
    let (executor, _clock) = executor(RateLimits::default().max_subscriptions_per_user(2));
    subscribe(&executor, "c1", "1", "alice").unwrap();
    subscribe(&executor, "c2", "1", "alice").unwrap();
    let err = subscribe(&executor, "c3", "1", "alice").unwrap_err();
    assert!(
        matches!(
            err,
            Error::SubscriptionLimit {
                kind: RateLimitKind::UserSubscriptions,
                ..
            }
        ),
        "{err}"
    );
    assert!(subscribe(&executor, "c3", "1", "bob").is_ok());
    executor.complete_connection("c1").unwrap();
    assert!(subscribe(&executor, "c3", "2", "alice").is_ok());
}

#[test]
fn idle_principals_are_forgotten() {
    let limits = RateLimits::default().subscription_creation(BucketConfig::new(5, 1.0));
    let (executor, clock) = executor(limits);
    let key = subscribe(&executor, "c", "1", "alice").unwrap();
    executor.complete_subscription(key).unwrap();
    assert_eq!(executor.rate_limiter().principals(), 1);
    executor.rate_limiter().prune();
    assert_eq!(
        executor.rate_limiter().principals(),
        1,
        "the bucket is not full yet"
    );
    clock.advance(Duration::from_secs(1));
    executor.rate_limiter().prune();
    assert_eq!(executor.rate_limiter().principals(), 0);
}

// Notices that find the queue full

fn counts(frames: &[Value], code: &str) -> u64 {
    frames
        .iter()
        .filter(|f| f["payload"]["errors"][0]["extensions"]["code"] == code)
        .map(|f| f["payload"]["errors"][0]["extensions"]["count"].as_u64().unwrap())
        .sum()
}

#[test]
fn a_rate_limited_notice_that_finds_the_queue_full_is_not_lost() {
    for policy in [OverflowPolicy::DropOldest, OverflowPolicy::DropNewest] {
        let clock = Arc::new(FakeClock::new());
        let config = ExecutorConfig::default()
            .rate_limits(deliveries(1, 1.0))
            .clock(clock.clone())
            .queue_capacity(1)
            .overflow(policy);
        let executor = SubscriptionExecutor::new(config);
        let key = subscribe(&executor, "c", "1", "alice").unwrap();
        tick(&executor, 0);
        tick(&executor, 1);
        tick(&executor, 2);
        clock.advance(Duration::from_secs(1));
        tick(&executor, 3);
        let got = frames(&executor, key);
        assert_eq!(counts(&got, "RATE_LIMITED"), 2, "{policy:?}: {got:?}");
        let data = got.iter().filter(|f| f["payload"]["data"].is_object()).count() as u64;
        assert_eq!(data + counts(&got, "EVENTS_LAGGED") + 2, 4, "{policy:?}: {got:?}");
    }
}

// Values that must not panic

#[test]
fn an_infinite_refill_rate_never_holds_a_delivery_back() {
    let bucket = TokenBucket::new(BucketConfig::new(1, f64::INFINITY));
    let t = Duration::from_secs(1);
    assert!(bucket.try_take(t));
    assert!(bucket.try_take(t + Duration::from_nanos(1)));
}

#[test]
fn nan_and_negative_refill_rates_fail_closed() {
    for rate in [f64::NAN, -1.0, f64::NEG_INFINITY] {
        let bucket = TokenBucket::new(BucketConfig::new(1, rate));
        assert!(bucket.try_take(Duration::ZERO));
        assert!(!bucket.try_take(Duration::from_secs(86_400 * 365)), "{rate}");
    }
}

#[test]
fn rate_limits_with_nan_negative_or_infinite_rates_are_refused_by_try_new() {
    for rate in [f64::NAN, -1.0, f64::INFINITY] {
        let limits = RateLimits::default().subscription_creation(BucketConfig::new(1, rate));
        assert!(matches!(
            SubscriptionExecutor::try_new(ExecutorConfig::default().rate_limits(limits)),
            Err(Error::InvalidConfig {
                setting: "refill_per_second",
                ..
            })
        ));
    }
    assert!(SubscriptionExecutor::try_new(ExecutorConfig::default().rate_limits(deliveries(0, 0.0))).is_ok());
}

#[test]
fn a_fake_clock_advanced_past_its_range_stands_still_without_panicking() {
    let clock = FakeClock::new();
    clock.advance(Duration::MAX);
    let far = clock.now();
    clock.advance(Duration::MAX);
    assert_eq!(clock.now(), far);
    let bucket = TokenBucket::new(BucketConfig::new(u32::MAX, f64::MAX));
    assert!(bucket.try_take(Duration::MAX));
    assert_eq!(bucket.retry_after(Duration::MAX), Duration::ZERO);
}
