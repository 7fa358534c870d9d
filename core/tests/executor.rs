//! The executor's behaviour, specified one behaviour per test.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use subcast_core::{
    ChannelChange, DocumentErrorKind, DropReason, Error, Event, ExecutorConfig, OverflowPolicy, ResolveError,
    ResolveRequest, ResolveResult, Resolver, SubscriptionExecutor, SubscriptionKey, SubscriptionRequest,
};

const USERS: &str = "subscription { users { id name } }";

/// These tests specify dispatch mechanics, not security: their subscribers are anonymous.
fn anonymous_executor() -> SubscriptionExecutor {
    SubscriptionExecutor::new(ExecutorConfig::default().allow_anonymous(true))
}

fn register(executor: &SubscriptionExecutor, conn: &str, sub: &str, query: &str) -> SubscriptionKey {
    executor
        .register_subscription(SubscriptionRequest::new(conn, sub, query))
        .unwrap()
}

fn event(channel: &str, data: Value) -> Arc<Event> {
    Arc::new(Event::new("userCreated", channel, data))
}

fn frame(executor: &SubscriptionExecutor, key: SubscriptionKey) -> Value {
    let bytes = executor.next_response(key).unwrap().expect("a frame is queued");
    serde_json::from_slice(&bytes).unwrap()
}

fn assert_sums(report: &subcast_core::DispatchReport) {
    assert_eq!(
        report.matched,
        report.delivered + report.errors + report.dropped_total(),
        "{report:?}"
    );
}

#[test]
fn test_phase2_dispatch() {
    let executor = anonymous_executor();
    let key = register(&executor, "conn1", "sub1", "subscription { test { id } }");
    let event = Arc::new(Event::new("test", "test", json!({"id": "1"})));

    executor.dispatch_event_to_subscriptions(&event).unwrap();

    let response = executor.next_response(key).unwrap();
    assert!(response.is_some());
    let response_json: Value = serde_json::from_slice(&response.unwrap()).unwrap();
    assert_eq!(response_json["type"], "next");
    assert_eq!(response_json["id"], "sub1");
    assert_eq!(response_json["payload"]["data"]["test"]["id"], "1");
}

#[test]
fn events_reach_only_subscriptions_on_their_channel() {
    let executor = anonymous_executor();
    let users = register(&executor, "c", "1", USERS);
    let posts = register(&executor, "c", "2", "subscription { posts { id } }");
    let report = executor
        .dispatch_event_to_subscriptions(&event("users", json!({"id": "u"})))
        .unwrap();
    assert_eq!((report.matched, report.delivered), (1, 1));
    assert_eq!(frame(&executor, users)["payload"]["data"]["users"]["id"], "u");
    assert_eq!(executor.next_response(posts).unwrap(), None);
}

#[test]
fn an_event_on_a_channel_without_subscriptions_matches_nothing() {
    let executor = anonymous_executor();
    register(&executor, "c", "1", USERS);
    let report = executor
        .dispatch_event_to_subscriptions(&event("nobody", json!({})))
        .unwrap();
    assert_eq!(report, subcast_core::DispatchReport::default());
}

#[test]
fn hundred_subscriptions_are_all_served_by_one_resolution() {
    let executor = anonymous_executor();
    let keys: Vec<_> = (0..100)
        .map(|n| register(&executor, &format!("conn{n}"), "1", USERS))
        .collect();
    let report = executor
        .dispatch_event_to_subscriptions(&event("users", json!({"id": "7", "name": "Ann"})))
        .unwrap();
    assert_eq!((report.matched, report.delivered, report.cohorts), (100, 100, 1));
    assert_sums(&report);
    for key in keys {
        let got = frame(&executor, key);
        assert_eq!(got["id"], "1");
        assert_eq!(
            got["payload"]["data"],
            json!({"users": {"id": "7", "name": "Ann"}})
        );
    }
}

#[test]
fn explicit_channels_override_the_root_field() {
    let executor = anonymous_executor();
    let key = executor
        .register_subscription(
            SubscriptionRequest::new("c", "1", USERS).channels(["tenant:1:users", "admin"]),
        )
        .unwrap();
    let on_root = executor
        .dispatch_event_to_subscriptions(&event("users", json!({})))
        .unwrap();
    assert_eq!(on_root.matched, 0);
    executor
        .dispatch_event_to_subscriptions(&event("admin", json!({"id": "a"})))
        .unwrap();
    assert_eq!(frame(&executor, key)["payload"]["data"]["users"]["id"], "a");
}

#[test]
fn the_same_subscription_id_twice_on_one_connection_is_an_error() {
    let executor = anonymous_executor();
    register(&executor, "c", "1", USERS);
    let err = executor
        .register_subscription(SubscriptionRequest::new("c", "1", USERS))
        .unwrap_err();
    assert!(matches!(err, Error::DuplicateSubscription { .. }), "{err}");
}

#[test]
fn the_same_subscription_id_on_two_connections_is_two_subscriptions() {
    let executor = anonymous_executor();
    let a = register(&executor, "a", "1", USERS);
    let b = register(&executor, "b", "1", USERS);
    assert_ne!(a, b);
    assert_eq!(executor.subscription_key("b", "1"), Some(b));
    executor
        .dispatch_event_to_subscriptions(&event("users", json!({})))
        .unwrap();
    assert_eq!(frame(&executor, a)["id"], "1");
    assert_eq!(frame(&executor, b)["id"], "1");
}

#[test]
fn different_variables_form_different_cohorts() {
    let executor = anonymous_executor();
    let query = "subscription($full: Boolean!) { users { id name @include(if: $full) } }";
    let full = executor
        .register_subscription(SubscriptionRequest::new("a", "1", query).variables(json!({"full": true})))
        .unwrap();
    let short = executor
        .register_subscription(SubscriptionRequest::new("b", "1", query).variables(json!({"full": false})))
        .unwrap();
    let report = executor
        .dispatch_event_to_subscriptions(&event("users", json!({"id": "1", "name": "N"})))
        .unwrap();
    assert_eq!(report.cohorts, 2);
    assert_eq!(
        frame(&executor, full)["payload"]["data"]["users"],
        json!({"id": "1", "name": "N"})
    );
    assert_eq!(
        frame(&executor, short)["payload"]["data"]["users"],
        json!({"id": "1"})
    );
}

#[test]
fn invalid_documents_are_refused_with_their_kind() {
    let executor = anonymous_executor();
    let cases = [
        ("subscription { users { id }", DocumentErrorKind::Syntax),
        ("query { users { id } }", DocumentErrorKind::NotSubscription),
        (
            "subscription { users { id } posts { id } }",
            DocumentErrorKind::MultipleRootFields,
        ),
    ];
    for (query, kind) in cases {
        match executor.register_subscription(SubscriptionRequest::new("c", "1", query)) {
            Err(Error::Document(error)) => assert_eq!(error.kind(), kind, "{query}: {error}"),
            other => panic!("{query}: expected a document error, got {other:?}"),
        }
    }
    let unknown_op = SubscriptionRequest::new("c", "1", USERS).operation_name("Nope");
    assert!(matches!(
        executor.register_subscription(unknown_op),
        Err(Error::Document(e)) if e.kind() == DocumentErrorKind::UnknownOperation
    ));
    assert_eq!(executor.stats().subscriptions, 0);
}

#[test]
fn missing_required_variables_are_refused() {
    let executor = anonymous_executor();
    let query = "subscription($id: ID!) { user(id: $id) { name } }";
    let err = executor
        .register_subscription(SubscriptionRequest::new("c", "1", query))
        .unwrap_err();
    assert!(
        matches!(err, Error::Document(ref e) if e.kind() == DocumentErrorKind::InvalidVariables),
        "{err}"
    );
    let not_an_object = SubscriptionRequest::new("c", "1", query).variables(json!([1]));
    assert!(executor.register_subscription(not_an_object).is_err());
}

#[test]
fn empty_or_over_long_ids_and_channels_are_refused() {
    let executor = anonymous_executor();
    let long = "x".repeat(300);
    let requests = [
        SubscriptionRequest::new("", "1", USERS),
        SubscriptionRequest::new("c", "", USERS),
        SubscriptionRequest::new("c", long.clone(), USERS),
        SubscriptionRequest::new("c", "1", USERS).channels([long.clone()]),
        SubscriptionRequest::new("c", "1", USERS).channels([""]),
        SubscriptionRequest::new("c", "1", USERS).channels(Vec::<String>::new()),
    ];
    for request in requests {
        let err = executor.register_subscription(request).unwrap_err();
        assert!(
            matches!(err, Error::InvalidId { .. } | Error::InvalidChannel { .. }),
            "{err}"
        );
    }
    assert_eq!(executor.stats().subscriptions, 0);
}

#[test]
fn unknown_subscription_keys_are_errors() {
    let executor = anonymous_executor();
    let key = register(&executor, "c", "1", USERS);
    executor.complete_subscription(key).unwrap();
    assert!(matches!(
        executor.next_response(key),
        Err(Error::UnknownSubscription(_))
    ));
    assert!(matches!(
        executor.complete_subscription(key),
        Err(Error::UnknownSubscription(_))
    ));
    assert!(matches!(
        executor.complete_connection("c"),
        Err(Error::UnknownConnection(_))
    ));
    let e = event("users", json!({}));
    assert!(matches!(
        executor.dispatch_event_to_single(key, &e),
        Err(Error::UnknownSubscription(_))
    ));
}

#[test]
fn event_data_over_the_limit_is_refused_and_nothing_is_queued() {
    let executor = SubscriptionExecutor::new(
        ExecutorConfig::default()
            .max_event_bytes(64)
            .allow_anonymous(true),
    );
    let key = register(&executor, "c", "1", USERS);
    let big = event("users", json!({"name": "x".repeat(100)}));
    assert!(matches!(
        executor.dispatch_event_to_subscriptions(&big),
        Err(Error::EventTooLarge { limit: 64, .. })
    ));
    assert_eq!(executor.next_response(key).unwrap(), None);
}

#[test]
fn non_object_data_under_a_selection_is_an_error_frame_for_that_cohort_only() {
    let executor = anonymous_executor();
    let selecting = register(&executor, "c", "1", USERS);
    let scalar = register(&executor, "c", "2", "subscription { users }");
    let report = executor
        .dispatch_event_to_subscriptions(&event("users", json!("just a string")))
        .unwrap();
    assert_eq!((report.matched, report.delivered, report.errors), (2, 1, 1));
    assert_sums(&report);
    let error = frame(&executor, selecting);
    assert_eq!(error["type"], "error");
    assert_eq!(error["payload"][0]["extensions"]["code"], "NON_OBJECT_DATA");
    assert_eq!(
        frame(&executor, scalar)["payload"]["data"]["users"],
        "just a string"
    );
}

#[test]
fn an_error_frame_ends_the_subscription() {
    let executor = anonymous_executor();
    let key = register(&executor, "c", "1", USERS);
    executor
        .dispatch_event_to_subscriptions(&event("users", json!(3)))
        .unwrap();
    let report = executor
        .dispatch_event_to_subscriptions(&event("users", json!({"id": "later"})))
        .unwrap();
    assert_eq!(report.dropped(DropReason::QueueClosed), 1);
    assert_eq!(frame(&executor, key)["type"], "error");
    assert_eq!(executor.recv_timeout(key, Duration::from_secs(5)).unwrap(), None);
}

#[derive(Debug, Default)]
struct CountingResolver {
    calls: AtomicUsize,
    requests: AtomicUsize,
}

impl Resolver for CountingResolver {
    fn resolve_batch(&self, event: &Event, requests: &[ResolveRequest<'_>]) -> Vec<ResolveResult> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.requests.fetch_add(requests.len(), Ordering::SeqCst);
        requests
            .iter()
            .map(|r| {
                let n = r.variables.get("n").cloned().unwrap_or(Value::Null);
                Ok(json!({ r.document.response_key(): {"n": n, "type": event.event_type} }))
            })
            .collect()
    }
}

#[test]
fn a_custom_resolver_is_called_once_per_event_for_all_its_cohorts() {
    let executor = anonymous_executor();
    let resolver = Arc::new(CountingResolver::default());
    let query = "subscription($n: Int) { users { n } }";
    for n in 0..30 {
        let request = SubscriptionRequest::new(format!("c{n}"), "1", query)
            .variables(json!({"n": n % 3}))
            .resolver(resolver.clone());
        executor.register_subscription(request).unwrap();
    }
    let report = executor
        .dispatch_event_to_subscriptions(&event("users", json!({})))
        .unwrap();
    assert_eq!((report.delivered, report.cohorts), (30, 3));
    assert_eq!(resolver.calls.load(Ordering::SeqCst), 1);
    assert_eq!(resolver.requests.load(Ordering::SeqCst), 3);
}

#[derive(Debug)]
struct FailingResolver;

impl Resolver for FailingResolver {
    fn resolve_batch(&self, _event: &Event, requests: &[ResolveRequest<'_>]) -> Vec<ResolveResult> {
        requests
            .iter()
            .map(|_| Err(ResolveError::new("UPSTREAM_DOWN", "the user service is down")))
            .collect()
    }
}

#[derive(Debug)]
struct PanickingResolver;

impl Resolver for PanickingResolver {
    fn resolve_batch(&self, _event: &Event, _requests: &[ResolveRequest<'_>]) -> Vec<ResolveResult> {
        panic!("resolver bug")
    }
}

#[test]
fn a_resolver_error_becomes_an_error_frame_without_the_raw_event() {
    let executor = anonymous_executor();
    let failing = executor
        .register_subscription(SubscriptionRequest::new("a", "1", USERS).resolver(Arc::new(FailingResolver)))
        .unwrap();
    let healthy = register(&executor, "b", "1", USERS);
    let report = executor
        .dispatch_event_to_subscriptions(&event("users", json!({"id": "1", "name": "secret"})))
        .unwrap();
    assert_eq!((report.delivered, report.errors), (1, 1));
    let bytes = executor.next_response(failing).unwrap().unwrap();
    assert!(!String::from_utf8_lossy(&bytes).contains("secret"));
    let error: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        error["payload"],
        json!([{"message": "the user service is down", "extensions": {"code": "UPSTREAM_DOWN"}}])
    );
    assert_eq!(
        frame(&executor, healthy)["payload"]["data"]["users"]["name"],
        "secret"
    );
}

#[test]
fn a_panicking_resolver_becomes_an_error_frame_and_others_are_served() {
    let executor = anonymous_executor();
    let panicking = executor
        .register_subscription(
            SubscriptionRequest::new("a", "1", USERS).resolver(Arc::new(PanickingResolver)),
        )
        .unwrap();
    let healthy = register(&executor, "b", "1", USERS);
    let report = executor
        .dispatch_event_to_subscriptions(&event("users", json!({})))
        .unwrap();
    assert_eq!((report.delivered, report.errors), (1, 1));
    assert_eq!(
        frame(&executor, panicking)["payload"][0]["extensions"]["code"],
        "RESOLVER_PANIC"
    );
    assert_eq!(frame(&executor, healthy)["type"], "next");
}

#[test]
fn dispatch_to_single_serves_only_that_subscription() {
    let executor = anonymous_executor();
    let one = register(&executor, "a", "1", USERS);
    let other = register(&executor, "b", "1", USERS);
    let report = executor
        .dispatch_event_to_single(one, &event("users", json!({"id": "x"})))
        .unwrap();
    assert_eq!((report.matched, report.delivered), (1, 1));
    assert_eq!(frame(&executor, one)["payload"]["data"]["users"]["id"], "x");
    assert_eq!(executor.next_response(other).unwrap(), None);
    let elsewhere = executor
        .dispatch_event_to_single(one, &event("posts", json!({})))
        .unwrap();
    assert_eq!(elsewhere.matched, 0);
}

#[test]
fn completion_frees_everything_after_ten_thousand_subscriptions() {
    let executor = anonymous_executor();
    for round in 0..2 {
        let keys: Vec<_> = (0..10_000)
            .map(|n| {
                let query = if n % 2 == 0 {
                    USERS
                } else {
                    "subscription { posts { id } }"
                };
                register(
                    &executor,
                    &format!("conn{}", n % 100),
                    &format!("{round}-{n}"),
                    query,
                )
            })
            .collect();
        executor
            .dispatch_event_to_subscriptions(&event("users", json!({})))
            .unwrap();
        let stats = executor.stats();
        assert_eq!(
            (stats.subscriptions, stats.connections, stats.channels),
            (10_000, 100, 2)
        );
        assert_eq!(stats.queued_frames, 5_000);
        for (n, key) in keys.into_iter().enumerate() {
            if n < 5_000 {
                executor.complete_subscription(key).unwrap();
            }
        }
        for conn in 0..100 {
            let _ = executor.complete_connection(&format!("conn{conn}"));
        }
        assert_eq!(executor.stats(), subcast_core::ExecutorStats::default());
    }
}

#[test]
fn completing_a_subscription_ends_its_waiting_receiver() {
    let executor = Arc::new(anonymous_executor());
    let key = register(&executor, "c", "1", USERS);
    let queue = executor.response_queue(key).unwrap();
    let waiter = std::thread::spawn(move || futures_lite::future::block_on(queue.recv()));
    executor.complete_subscription(key).unwrap();
    assert_eq!(waiter.join().unwrap(), None);
}

#[test]
fn a_full_queue_drops_the_oldest_and_reports_the_lag() {
    let executor =
        SubscriptionExecutor::new(ExecutorConfig::default().queue_capacity(2).allow_anonymous(true));
    let key = register(&executor, "c", "1", "subscription { users }");
    let mut evicted = 0;
    for n in 0..5 {
        let report = executor
            .dispatch_event_to_subscriptions(&event("users", json!(n)))
            .unwrap();
        assert_eq!(report.delivered, 1);
        evicted += report.evicted;
    }
    assert_eq!(evicted, 3);
    let lag = frame(&executor, key);
    assert_eq!(lag["payload"]["errors"][0]["extensions"]["code"], "EVENTS_LAGGED");
    assert_eq!(lag["payload"]["errors"][0]["extensions"]["count"], 3);
    assert_eq!(frame(&executor, key)["payload"]["data"]["users"], 3);
    assert_eq!(frame(&executor, key)["payload"]["data"]["users"], 4);
}

#[test]
fn drop_newest_counts_the_dropped_frames_in_the_report() {
    let config = ExecutorConfig::default()
        .queue_capacity(1)
        .overflow(OverflowPolicy::DropNewest);
    let executor = SubscriptionExecutor::new(config.allow_anonymous(true));
    register(&executor, "c", "1", "subscription { users }");
    executor
        .dispatch_event_to_subscriptions(&event("users", json!(0)))
        .unwrap();
    let report = executor
        .dispatch_event_to_subscriptions(&event("users", json!(1)))
        .unwrap();
    assert_eq!(report.dropped(DropReason::QueueFull), 1);
    assert_sums(&report);
}

#[test]
fn chunks_of_a_prepared_dispatch_serve_every_subscription_once() {
    let executor = anonymous_executor();
    let keys: Vec<_> = (0..1000)
        .map(|n| {
            let query = if n % 3 == 0 {
                USERS
            } else {
                "subscription { users { id } }"
            };
            register(&executor, &format!("c{n}"), "1", query)
        })
        .collect();
    let prepared = executor
        .prepare_dispatch(&event("users", json!({"id": "1"})))
        .unwrap();
    let chunks = prepared.into_chunks(64);
    assert!(chunks.iter().all(|c| c.len() <= 64));
    let reports: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = chunks.iter().map(|c| scope.spawn(|| c.deliver())).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut total = subcast_core::DispatchReport::default();
    reports.iter().for_each(|r| total.merge(r));
    assert_eq!((total.matched, total.delivered, total.cohorts), (1000, 1000, 2));
    for key in keys {
        assert!(executor.next_response(key).unwrap().is_some());
        assert_eq!(executor.next_response(key).unwrap(), None);
    }
}

#[test]
fn channel_watch_reports_the_first_and_last_subscription_of_each_channel() {
    let executor = anonymous_executor();
    let early = register(&executor, "c", "0", USERS);
    let watch = executor.watch_channels();
    assert_eq!(watch.try_next(), Some(ChannelChange::Added("users".into())));
    let second = register(&executor, "c", "1", USERS);
    let posts = register(&executor, "c", "2", "subscription { posts { id } }");
    assert_eq!(watch.try_next(), Some(ChannelChange::Added("posts".into())));
    executor.complete_subscription(early).unwrap();
    assert_eq!(watch.try_next(), None);
    executor.complete_subscription(second).unwrap();
    assert_eq!(watch.try_next(), Some(ChannelChange::Removed("users".into())));
    executor.complete_subscription(posts).unwrap();
    assert_eq!(watch.try_next(), Some(ChannelChange::Removed("posts".into())));
}

#[test]
fn a_gap_reaches_every_subscriber_of_the_channel_as_a_notice() {
    let executor = anonymous_executor();
    let key = register(&executor, "c", "1", USERS);
    let report = executor.signal_gap("users");
    assert_eq!(report.delivered, 1);
    let notice = frame(&executor, key);
    assert_eq!(notice["type"], "next");
    assert_eq!(notice["payload"]["errors"][0]["extensions"]["code"], "EVENTS_GAP");
}

#[test]
fn failing_a_channel_ends_its_subscriptions_with_an_error_frame() {
    let executor = anonymous_executor();
    let users = register(&executor, "c", "1", USERS);
    let posts = register(&executor, "c", "2", "subscription { posts { id } }");
    let report = executor.fail_channel(
        "users",
        subcast_core::GraphQLError::new("BUS_LOST", "bus stream lost"),
    );
    assert_eq!((report.matched, report.errors), (1, 1));
    assert_eq!(
        frame(&executor, users)["payload"][0]["extensions"]["code"],
        "BUS_LOST"
    );
    assert_eq!(
        executor.recv_timeout(users, Duration::from_secs(5)).unwrap(),
        None
    );
    assert_eq!(executor.next_response(posts).unwrap(), None);
}

#[derive(Debug)]
struct GreetingResolver;

impl Resolver for GreetingResolver {
    fn resolve_batch(&self, _event: &Event, requests: &[ResolveRequest<'_>]) -> Vec<ResolveResult> {
        requests
            .iter()
            .map(|r| match r.context {
                Some(context) => {
                    Ok(json!({ r.document.response_key(): format!("hello {}", context.user_id()) }))
                }
                None => Err(ResolveError::new(
                    "NO_CONTEXT",
                    "the resolver needs the subscriber",
                )),
            })
            .collect()
    }

    fn depends_on_context(&self) -> bool {
        true
    }
}

#[test]
fn a_resolver_that_depends_on_the_context_resolves_per_subscriber_and_never_shares_frames() {
    let executor = SubscriptionExecutor::default();
    let resolver: Arc<dyn Resolver> = Arc::new(GreetingResolver);
    let mut keys = Vec::new();
    for user in ["ann", "bob", "ann"] {
        let context = subcast_core::SecurityContext::new(user).with_tenant("t");
        let request =
            SubscriptionRequest::new(format!("conn-{}", keys.len()), "1", "subscription { greeting }")
                .security_context(context)
                .resolver(resolver.clone());
        keys.push(executor.register_subscription(request).unwrap());
    }
    let event = Arc::new(Event::new("greeted", "greeting", json!({})).with_tenant("t"));
    let report = executor.dispatch_event_to_subscriptions(&event).unwrap();
    assert_eq!((report.delivered, report.cohorts), (3, 2));
    let greetings: Vec<_> = keys
        .iter()
        .map(|key| frame(&executor, *key)["payload"]["data"]["greeting"].clone())
        .collect();
    assert_eq!(
        greetings,
        [json!("hello ann"), json!("hello bob"), json!("hello ann")]
    );
}

// Frame and queue size limits

/// `aliases` copies of one list, each under its own alias.
fn amplifying_query(aliases: usize) -> String {
    let fields: String = (0..aliases).map(|n| format!("a{n}: items {{ v }} ")).collect();
    format!("subscription {{ feed {{ {fields} }} }}")
}

/// About 3 kB of event data: a list of 100 small objects.
fn list_data() -> Value {
    json!({"items": (0..100).map(|n| json!({"v": format!("value-{n:04}")})).collect::<Vec<_>>()})
}

fn error_code(frame: &Value) -> &Value {
    &frame["payload"][0]["extensions"]["code"]
}

#[test]
fn a_result_over_the_frame_limit_ends_the_subscription_with_frame_too_large() {
    let config = ExecutorConfig::default().max_frame_bytes(64 * 1024);
    let executor = SubscriptionExecutor::new(config.allow_anonymous(true));
    let key = register(&executor, "c", "1", &amplifying_query(50));
    let report = executor
        .dispatch_event_to_subscriptions(&event("feed", list_data()))
        .unwrap();
    assert_eq!((report.delivered, report.errors), (0, 1));
    let got = executor.next_response(key).unwrap().unwrap();
    assert!(got.len() < 1024, "the error frame is small: {} bytes", got.len());
    let got: Value = serde_json::from_slice(&got).unwrap();
    assert_eq!(got["type"], "error");
    assert_eq!(error_code(&got), "FRAME_TOO_LARGE");
    assert_eq!(executor.recv_timeout(key, Duration::from_secs(5)).unwrap(), None);
}

#[test]
fn a_result_within_the_frame_limit_is_delivered_whole() {
    let config = ExecutorConfig::default().max_frame_bytes(64 * 1024);
    let executor = SubscriptionExecutor::new(config.allow_anonymous(true));
    let key = register(&executor, "c", "1", &amplifying_query(2));
    executor
        .dispatch_event_to_subscriptions(&event("feed", list_data()))
        .unwrap();
    let got = frame(&executor, key);
    assert_eq!(got["payload"]["data"]["feed"]["a1"][99]["v"], "value-0099");
}

#[derive(Debug)]
struct HugeResolver;

impl Resolver for HugeResolver {
    fn resolve_batch(&self, _event: &Event, requests: &[ResolveRequest<'_>]) -> Vec<ResolveResult> {
        requests
            .iter()
            .map(|_| Ok(json!({"users": "x".repeat(4096)})))
            .collect()
    }
}

#[test]
fn a_custom_resolver_result_over_the_frame_limit_becomes_frame_too_large() {
    let config = ExecutorConfig::default().max_frame_bytes(1024);
    let executor = SubscriptionExecutor::new(config.allow_anonymous(true));
    let key = executor
        .register_subscription(SubscriptionRequest::new("c", "1", USERS).resolver(Arc::new(HugeResolver)))
        .unwrap();
    let report = executor
        .dispatch_event_to_subscriptions(&event("users", json!({})))
        .unwrap();
    assert_eq!(report.errors, 1);
    assert_eq!(error_code(&frame(&executor, key)), "FRAME_TOO_LARGE");
}

#[test]
fn response_queues_are_bounded_in_bytes_and_every_evicted_frame_is_announced() {
    let config = ExecutorConfig::default().queue_max_bytes(16 * 1024);
    let executor = SubscriptionExecutor::new(config.allow_anonymous(true));
    let key = register(&executor, "c", "1", "subscription { users }");
    let queue = executor.response_queue(key).unwrap();
    let mut evicted = 0;
    for n in 0..100 {
        let report = executor
            .dispatch_event_to_subscriptions(&event("users", json!(format!("{n:03}{}", "x".repeat(1000)))))
            .unwrap();
        evicted += report.evicted;
        assert!(
            queue.queued_bytes() <= 16 * 1024,
            "{} bytes queued",
            queue.queued_bytes()
        );
    }
    let frames: Vec<Value> = std::iter::from_fn(|| executor.next_response(key).unwrap())
        .map(|b| serde_json::from_slice(&b).unwrap())
        .collect();
    let lagged = &frames[0]["payload"]["errors"][0]["extensions"];
    assert_eq!(lagged["code"], "EVENTS_LAGGED");
    assert_eq!(lagged["count"], evicted);
    assert_eq!(frames.len() - 1 + evicted, 100);
    assert_eq!(queue.queued_bytes(), 0);
}

#[test]
fn an_event_whose_data_was_replaced_after_validation_is_measured_again_at_dispatch() {
    let executor = SubscriptionExecutor::new(
        ExecutorConfig::default()
            .max_event_bytes(64)
            .allow_anonymous(true),
    );
    let key = register(&executor, "c", "1", "subscription { users }");
    let mut event = Event::new("t", "users", json!("small"));
    assert!(event.validate(64).is_ok());
    event.data = json!("x".repeat(1000));
    assert!(matches!(
        executor.dispatch_event_to_subscriptions(&Arc::new(event)),
        Err(Error::EventTooLarge { .. })
    ));
    assert_eq!(executor.next_response(key).unwrap(), None);
}

// Notices survive full queues

#[test]
fn a_gap_notice_survives_a_full_queue_under_every_policy() {
    for policy in [
        OverflowPolicy::DropOldest,
        OverflowPolicy::DropNewest,
        OverflowPolicy::Close,
    ] {
        let config = ExecutorConfig::default().queue_capacity(2).overflow(policy);
        let executor = SubscriptionExecutor::new(config.allow_anonymous(true));
        let key = register(&executor, "c", "1", "subscription { users }");
        for n in 0..2 {
            executor
                .dispatch_event_to_subscriptions(&event("users", json!(n)))
                .unwrap();
        }
        executor.signal_gap("users");
        executor.signal_gap("users");
        if policy == OverflowPolicy::DropOldest {
            // Push the notice out of the queue: it must come back merged, not vanish.
            for n in 2..6 {
                executor
                    .dispatch_event_to_subscriptions(&event("users", json!(n)))
                    .unwrap();
            }
        }
        let gaps: u64 = std::iter::from_fn(|| executor.next_response(key).unwrap())
            .map(|b| serde_json::from_slice::<Value>(&b).unwrap())
            .filter(|f| f["payload"]["errors"][0]["extensions"]["code"] == "EVENTS_GAP")
            .map(|f| f["payload"]["errors"][0]["extensions"]["count"].as_u64().unwrap())
            .sum();
        assert_eq!(gaps, 2, "{policy:?}");
    }
}

// Configuration

#[test]
fn zero_sizes_and_counts_are_refused_by_try_new_with_the_setting_named() {
    let configs = [
        ("queue_capacity", ExecutorConfig::default().queue_capacity(0)),
        ("queue_max_bytes", ExecutorConfig::default().queue_max_bytes(0)),
        ("max_event_bytes", ExecutorConfig::default().max_event_bytes(0)),
        ("max_frame_bytes", ExecutorConfig::default().max_frame_bytes(0)),
        ("loopback_window", ExecutorConfig::default().loopback_window(0)),
    ];
    for (name, config) in configs {
        match SubscriptionExecutor::try_new(config) {
            Err(Error::InvalidConfig { setting, .. }) => assert_eq!(setting, name),
            other => panic!("{name}: expected InvalidConfig, got {other:?}"),
        }
    }
}

#[test]
fn new_raises_zero_sizes_to_one_and_still_delivers() {
    let config = ExecutorConfig::default()
        .queue_capacity(0)
        .queue_max_bytes(0)
        .loopback_window(0)
        .allow_anonymous(true);
    let executor = SubscriptionExecutor::new(config);
    assert_eq!(executor.config().queue_capacity, 1);
    let key = register(&executor, "c", "1", "subscription { users }");
    executor
        .dispatch_event_to_subscriptions(&event("users", json!(1)))
        .unwrap();
    assert_eq!(frame(&executor, key)["payload"]["data"]["users"], 1);
}

#[test]
fn huge_limits_and_timeouts_do_not_panic() {
    let config = ExecutorConfig::default()
        .queue_capacity(usize::MAX)
        .queue_max_bytes(usize::MAX)
        .max_event_bytes(usize::MAX)
        .max_frame_bytes(usize::MAX)
        .loopback_window(usize::MAX)
        .allow_anonymous(true);
    let executor = SubscriptionExecutor::try_new(config).unwrap();
    let key = register(&executor, "c", "1", "subscription { users }");
    executor
        .dispatch_event_to_subscriptions(&event("users", json!(1)))
        .unwrap();
    assert!(executor.recv_timeout(key, Duration::MAX).unwrap().is_some());
}
