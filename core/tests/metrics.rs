//! Metrics: every decision counted, a snapshot that agrees with the reports, and a
//! Prometheus exposition that a Prometheus parser reads.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::json;
use subcast_core::{
    BucketConfig, DropReason, Event, EventFilter, ExecutorConfig, FakeClock, Policy, RateLimitKind,
    RateLimits, RbacPolicy, SecurityContext, SecurityPolicies, SubscriptionExecutor, SubscriptionRequest,
};

const ORDERS: &str = "subscription { orders { id total } }";

fn executor() -> SubscriptionExecutor {
    let policies = SecurityPolicies::default().rbac(RbacPolicy::default().allow("orders.total", ["finance"]));
    let limits = RateLimits::default().deliveries(BucketConfig::new(1, 1.0));
    let config = ExecutorConfig::default()
        .security(policies)
        .rate_limits(limits)
        .clock(Arc::new(FakeClock::new()));
    SubscriptionExecutor::new(config)
}

fn subscribe(
    executor: &SubscriptionExecutor,
    conn: &str,
    context: SecurityContext,
) -> subcast_core::Result<()> {
    executor
        .register_subscription(SubscriptionRequest::new(conn, "1", ORDERS).security_context(context))
        .map(|_| ())
}

fn finance(user: &str) -> SecurityContext {
    SecurityContext::new(user).with_roles(["finance"])
}

fn dispatch(executor: &SubscriptionExecutor, event: Event) -> subcast_core::DispatchReport {
    executor
        .dispatch_event_to_subscriptions(&Arc::new(event))
        .unwrap()
}

#[test]
fn a_fresh_executor_has_every_counter_at_zero_and_no_rejection_rate() {
    let snapshot = executor().metrics_snapshot();
    assert_eq!(snapshot, subcast_core::MetricsSnapshot::default());
    assert_eq!(snapshot.rejection_rate(), 0.0);
}

#[test]
fn subscribe_decisions_are_counted_per_policy() {
    let executor = executor();
    subscribe(&executor, "a", finance("alice")).unwrap();
    subscribe(&executor, "b", SecurityContext::new("bob")).unwrap_err();
    executor
        .register_subscription(SubscriptionRequest::new("c", "1", ORDERS))
        .unwrap_err();
    let snapshot = executor.metrics_snapshot();
    assert_eq!(
        (snapshot.validations_passed, snapshot.validations_rejected),
        (1, 2)
    );
    assert_eq!(snapshot.violations(Policy::Rbac), 1);
    assert_eq!(snapshot.violations(Policy::Authentication), 1);
    assert_eq!(snapshot.active_subscriptions, 1);
    assert!((snapshot.rejection_rate() - 2.0 / 3.0).abs() < 1e-9);
}

#[test]
fn dispatch_counts_frames_drops_and_violations_as_the_report_does() {
    let executor = executor();
    subscribe(&executor, "a", finance("alice").with_tenant("acme")).unwrap();
    subscribe(&executor, "b", finance("bob").with_tenant("acme")).unwrap();
    subscribe(&executor, "c", finance("carol").with_tenant("globex")).unwrap();
    let first = dispatch(
        &executor,
        Event::new("paid", "orders", json!({"user_id": "alice"})).with_tenant("acme"),
    );
    let second = dispatch(
        &executor,
        Event::new("paid", "orders", json!({"id": 1})).with_tenant("acme"),
    );
    let snapshot = executor.metrics_snapshot();
    assert_eq!(snapshot.events_dispatched, 2);
    assert_eq!(
        snapshot.frames_delivered as usize,
        first.delivered + second.delivered
    );
    for reason in DropReason::ALL {
        let reported = first.dropped(reason) + second.dropped(reason);
        assert_eq!(snapshot.dropped(reason) as usize, reported, "{reason:?}");
    }
    assert_eq!(snapshot.violations(Policy::Tenant), 2);
    assert_eq!(snapshot.violations(Policy::Row), 1);
    assert_eq!(
        snapshot.rate_limited(RateLimitKind::Delivery),
        1,
        "alice's second frame"
    );
    assert_eq!(snapshot.queue_depth, 2, "alice's first frame and bob's");
}

#[test]
fn filter_and_federation_refusals_are_violations_of_their_policy() {
    let executor = executor();
    let request = SubscriptionRequest::new("a", "1", ORDERS)
        .security_context(finance("alice").with_federation("eu"))
        .filter(EventFilter::new().gt("total", 10));
    executor.register_subscription(request).unwrap();
    dispatch(&executor, Event::new("paid", "orders", json!({"total": 5})));
    dispatch(
        &executor,
        Event::new("paid", "orders", json!({"total": 50, "federation_id": "us"})),
    );
    let snapshot = executor.metrics_snapshot();
    assert_eq!(snapshot.violations(Policy::Filter), 1);
    assert_eq!(snapshot.violations(Policy::Federation), 1);
}

#[test]
fn completed_subscriptions_leave_the_active_gauge() {
    let executor = executor();
    subscribe(&executor, "a", finance("alice")).unwrap();
    subscribe(&executor, "b", finance("bob")).unwrap();
    executor.complete_connection("a").unwrap();
    assert_eq!(executor.metrics_snapshot().active_subscriptions, 1);
}

#[test]
fn the_prometheus_exposition_is_read_by_a_prometheus_parser() {
    let executor = executor();
    subscribe(&executor, "a", finance("alice").with_tenant("acme")).unwrap();
    subscribe(&executor, "b", SecurityContext::new("bob")).unwrap_err();
    dispatch(
        &executor,
        Event::new("paid", "orders", json!({"id": 1})).with_tenant("acme"),
    );
    dispatch(
        &executor,
        Event::new("paid", "orders", json!({"id": 2})).with_tenant("globex"),
    );
    let text = executor.prometheus_metrics();
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("valid exposition");

    let mut samples: HashMap<(String, String), f64> = HashMap::new();
    for sample in &scrape.samples {
        assert!(sample.metric.starts_with("subcast_"), "{}", sample.metric);
        let labels = format!("{}", sample.labels);
        let value = match sample.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) => v,
            ref other => panic!("{} is {other:?}", sample.metric),
        };
        samples.insert((sample.metric.clone(), labels), value);
    }
    let get = |metric: &str, labels: &str| samples[&(metric.to_owned(), labels.to_owned())];
    assert_eq!(get("subcast_frames_delivered_total", ""), 1.0);
    assert_eq!(get("subcast_events_dispatched_total", ""), 2.0);
    assert_eq!(get("subcast_security_violations_total", "policy=\"tenant\""), 1.0);
    assert_eq!(get("subcast_security_violations_total", "policy=\"rbac\""), 1.0);
    assert_eq!(get("subcast_frames_dropped_total", "reason=\"tenant\""), 1.0);
    assert_eq!(
        get("subcast_rate_limit_rejections_total", "kind=\"delivery\""),
        0.0
    );
    assert_eq!(
        get("subcast_security_validations_total", "result=\"passed\""),
        2.0
    );
    assert_eq!(get("subcast_active_subscriptions", ""), 1.0);
    assert_eq!(get("subcast_queue_depth", ""), 1.0);

    for (name, kind) in [
        ("subcast_security_validations_total", "counter"),
        ("subcast_security_violations_total", "counter"),
        ("subcast_rate_limit_rejections_total", "counter"),
        ("subcast_events_dispatched_total", "counter"),
        ("subcast_frames_delivered_total", "counter"),
        ("subcast_error_frames_total", "counter"),
        ("subcast_frames_dropped_total", "counter"),
        ("subcast_frames_evicted_total", "counter"),
        ("subcast_active_subscriptions", "gauge"),
        ("subcast_queue_depth", "gauge"),
    ] {
        assert!(scrape.docs.contains_key(name), "no HELP for {name}");
        assert!(
            text.contains(&format!("# TYPE {name} {kind}\n")),
            "no TYPE {kind} for {name}"
        );
    }
}

#[test]
fn the_pump_exposition_is_read_by_a_prometheus_parser() {
    let mut stats = subcast_core::PumpStats::default();
    stats.streams_lost = 2;
    stats.dispatcher_panics = 1;
    stats.subscribed_channels = 3;
    let text = stats.to_prometheus();
    let scrape =
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("valid exposition");
    let value = |metric: &str| {
        let sample = scrape.samples.iter().find(|s| s.metric == metric).expect(metric);
        match sample.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) => v,
            ref other => panic!("{metric} is {other:?}"),
        }
    };
    assert_eq!(value("subcast_pump_streams_lost_total"), 2.0);
    assert_eq!(value("subcast_pump_dispatcher_panics_total"), 1.0);
    assert_eq!(value("subcast_pump_subscribed_channels"), 3.0);
    assert_eq!(value("subcast_pump_events_dispatched_total"), 0.0);
    assert_eq!(scrape.docs.len(), 19);
}

#[test]
fn the_bus_exposition_is_read_by_a_prometheus_parser() {
    let mut stats = subcast_core::BusStats::default();
    stats.published = 5;
    stats.reconnects = 1;
    stats.stream_peak = 7;
    let text = stats.to_prometheus();
    let scrape =
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("valid exposition");
    let value = |metric: &str| {
        let sample = scrape.samples.iter().find(|s| s.metric == metric).expect(metric);
        match sample.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) => v,
            ref other => panic!("{metric} is {other:?}"),
        }
    };
    assert_eq!(value("subcast_bus_published_total"), 5.0);
    assert_eq!(value("subcast_bus_reconnects_total"), 1.0);
    assert_eq!(value("subcast_bus_stream_peak"), 7.0);
    assert_eq!(value("subcast_bus_publish_errors_total"), 0.0);
    assert_eq!(scrape.docs.len(), 9);
}
