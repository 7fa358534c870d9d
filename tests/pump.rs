//! The engine driven by its pump, under every runtime: bus subscriptions follow the local
//! subscriptions, events reach subscribers, faults are contained, shutdown is clean.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;
use subcast::BUS_CHANNEL_LOST;
use subcast::{
    BusStats, ChannelStatus, Error, Event, EventBus, EventStream, ExecutorConfig, InMemoryBus, PumpConfig,
    ResolveRequest, ResolveResult, Resolver, Result, Runtime, SubscriptionExecutor, SubscriptionRequest,
};
use subcast::{EVENTS_GAP, RESOLVER_PANIC};

use common::{error_code, local_user_event, remote_user_event, user_id, Node, USERS};

on_every_runtime!(
    event_published_on_the_bus_reaches_every_subscriber,
    bus_channel_is_subscribed_for_the_first_subscription_and_released_after_the_last,
    large_fan_out_is_split_across_workers_and_reaches_every_subscriber,
    resolver_panic_becomes_an_error_frame_and_the_pump_keeps_serving,
    lost_bus_stream_is_resubscribed_and_the_gap_signalled,
    channel_is_failed_when_the_bus_keeps_refusing_to_resubscribe,
    invalid_bus_event_is_counted_and_the_pump_keeps_serving,
    each_event_is_dispatched_once_on_every_node,
    shutdown_ends_every_task_and_leaves_queued_frames_drainable,
    zero_max_attempts_and_zero_backoff_fail_the_channel_instead_of_panicking,
    a_pump_whose_backoff_is_endless_still_shuts_down,
    unbounded_parallelism_and_a_zero_threshold_deliver_every_frame,
);

fn subscribe(node: &Node, connection: &str) -> subcast::SubscriptionKey {
    node.executor
        .register_subscription(SubscriptionRequest::new(connection, "1", USERS))
        .unwrap()
}

async fn event_published_on_the_bus_reaches_every_subscriber(runtime: Arc<dyn Runtime>) {
    let node = Node::with_defaults(runtime);
    let keys: Vec<_> = (0..3).map(|n| subscribe(&node, &format!("c{n}"))).collect();
    assert!(node.pump.channel_ready("users").await);

    node.bus.publish(remote_user_event("7")).await.unwrap();

    for key in keys {
        assert_eq!(user_id(&node.next_frame(key).await), "7");
    }
    let stats = node.pump.shutdown().await;
    assert_eq!(stats.events_dispatched, 1);
    assert_eq!(stats.frames_delivered, 3);
}

async fn bus_channel_is_subscribed_for_the_first_subscription_and_released_after_the_last(
    runtime: Arc<dyn Runtime>,
) {
    let node = Node::with_defaults(runtime);
    assert_eq!(node.pump.channel_status("users"), None);
    let first = subscribe(&node, "a");
    let second = subscribe(&node, "b");
    assert!(node.pump.channel_ready("users").await);
    assert_eq!(node.bus.stats().subscribed_channels, 1);

    node.executor.complete_subscription(first).unwrap();
    node.bus.publish(remote_user_event("1")).await.unwrap();
    assert_eq!(user_id(&node.next_frame(second).await), "1");

    node.executor.complete_subscription(second).unwrap();
    assert!(node.pump.channel_released("users").await);
    assert_eq!(node.bus.stats().subscribed_channels, 0);

    let again = subscribe(&node, "c");
    assert!(node.pump.channel_ready("users").await);
    node.bus.publish(remote_user_event("2")).await.unwrap();
    assert_eq!(user_id(&node.next_frame(again).await), "2");
    node.pump.shutdown().await;
}

async fn large_fan_out_is_split_across_workers_and_reaches_every_subscriber(runtime: Arc<dyn Runtime>) {
    const SUBSCRIBERS: usize = 3000;
    let config = PumpConfig::default().parallel_threshold(64).parallelism(2);
    let node = Node::start(runtime, InMemoryBus::new(), common::anonymous_executor(), config);
    let keys: Vec<_> = (0..SUBSCRIBERS)
        .map(|n| subscribe(&node, &format!("c{n}")))
        .collect();
    assert!(node.pump.channel_ready("users").await);

    node.bus.publish(remote_user_event("9")).await.unwrap();

    for key in &keys {
        assert_eq!(user_id(&node.next_frame(*key).await), "9");
    }
    let stats = node.pump.shutdown().await;
    assert_eq!(stats.parallel_dispatches, 1);
    assert_eq!(stats.frames_delivered, SUBSCRIBERS as u64);
    assert!(keys
        .iter()
        .all(|k| node.executor.next_response(*k).unwrap().is_none()));
}

#[derive(Debug)]
struct PanickingResolver;

impl Resolver for PanickingResolver {
    fn resolve_batch(&self, _event: &Event, _requests: &[ResolveRequest<'_>]) -> Vec<ResolveResult> {
        panic!("a user resolver bug");
    }
}

async fn resolver_panic_becomes_an_error_frame_and_the_pump_keeps_serving(runtime: Arc<dyn Runtime>) {
    let node = Node::with_defaults(runtime);
    let broken = node
        .executor
        .register_subscription(
            SubscriptionRequest::new("a", "1", USERS).resolver(Arc::new(PanickingResolver)),
        )
        .unwrap();
    let healthy = subscribe(&node, "b");
    assert!(node.pump.channel_ready("users").await);

    node.bus.publish(remote_user_event("1")).await.unwrap();
    let error = node.next_frame(broken).await;
    assert_eq!(error["type"], "error");
    assert_eq!(error_code(&error), RESOLVER_PANIC);
    assert_eq!(user_id(&node.next_frame(healthy).await), "1");

    node.bus.publish(remote_user_event("2")).await.unwrap();
    assert_eq!(user_id(&node.next_frame(healthy).await), "2");
    assert_eq!(node.executor.recv(broken).await.unwrap(), None);

    let stats = node.pump.shutdown().await;
    assert_eq!(stats.events_dispatched, 2);
    assert_eq!(stats.error_frames, 1);
    assert_eq!(stats.dispatcher_panics, 0);
}

async fn lost_bus_stream_is_resubscribed_and_the_gap_signalled(runtime: Arc<dyn Runtime>) {
    let config = PumpConfig::default().backoff(Duration::from_millis(1), Duration::from_millis(10));
    let node = Node::start(runtime, InMemoryBus::new(), common::anonymous_executor(), config);
    let key = subscribe(&node, "a");
    assert!(node.pump.channel_ready("users").await);

    // Behind the pump's back: the handle's stream of the channel ends.
    node.bus.unsubscribe("users").await.unwrap();

    let notice = node.next_frame(key).await;
    assert_eq!(notice["type"], "next");
    assert_eq!(error_code(&notice), EVENTS_GAP);
    node.bus.publish(remote_user_event("after")).await.unwrap();
    assert_eq!(user_id(&node.next_frame(key).await), "after");

    let stats = node.pump.shutdown().await;
    assert_eq!(stats.streams_lost, 1);
    assert_eq!(stats.resubscribes, 1);
    assert_eq!(stats.gaps_signalled, 1);
}

/// An in-memory bus whose `subscribe` can be made to fail.
#[derive(Debug, Default)]
struct RefusingBus {
    inner: InMemoryBus,
    refuse: AtomicBool,
}

#[async_trait]
impl EventBus for RefusingBus {
    async fn publish(&self, event: Arc<Event>) -> Result<()> {
        self.inner.publish(event).await
    }
    async fn subscribe(&self, channel: &str) -> Result<EventStream> {
        if self.refuse.load(Ordering::SeqCst) {
            return Err(Error::bus_message("test", "connection refused"));
        }
        self.inner.subscribe(channel).await
    }
    async fn unsubscribe(&self, channel: &str) -> Result<()> {
        self.inner.unsubscribe(channel).await
    }
    async fn health_check(&self) -> Result<()> {
        self.inner.health_check().await
    }
    fn stats(&self) -> BusStats {
        self.inner.stats()
    }
}

async fn channel_is_failed_when_the_bus_keeps_refusing_to_resubscribe(runtime: Arc<dyn Runtime>) {
    let bus = Arc::new(RefusingBus::default());
    let executor = Arc::new(common::anonymous_executor());
    let config = PumpConfig::default()
        .backoff(Duration::from_millis(1), Duration::from_millis(4))
        .max_attempts(3);
    let pump = subcast::EventPump::start(executor.clone(), bus.clone(), runtime, config);
    let key = executor
        .register_subscription(SubscriptionRequest::new("a", "1", USERS))
        .unwrap();
    assert!(pump.channel_ready("users").await);

    bus.refuse.store(true, Ordering::SeqCst);
    bus.inner.unsubscribe("users").await.unwrap();

    let frame = executor.recv(key).await.unwrap().unwrap();
    let frame: serde_json::Value = serde_json::from_slice(&frame).unwrap();
    assert_eq!(frame["type"], "error");
    assert_eq!(error_code(&frame), BUS_CHANNEL_LOST);
    assert_eq!(executor.recv(key).await.unwrap(), None);
    assert_eq!(pump.channel_status("users"), Some(ChannelStatus::Resubscribing));

    let stats = pump.shutdown().await;
    assert!(stats.channels_failed >= 1);
    assert!(stats.subscribe_errors >= 3);
    assert_eq!(stats.error_frames, 1);
}

async fn invalid_bus_event_is_counted_and_the_pump_keeps_serving(runtime: Arc<dyn Runtime>) {
    let executor = SubscriptionExecutor::new(
        ExecutorConfig::default()
            .allow_anonymous(true)
            .max_event_bytes(64),
    );
    let node = Node::start(runtime, InMemoryBus::new(), executor, PumpConfig::default());
    let key = subscribe(&node, "a");
    assert!(node.pump.channel_ready("users").await);

    let mut oversized = Event::new("userCreated", "users", json!({ "id": "x".repeat(1000) }));
    oversized.origin = "another-node".into();
    node.bus.publish(Arc::new(oversized)).await.unwrap();
    node.bus.publish(remote_user_event("fits")).await.unwrap();

    assert_eq!(user_id(&node.next_frame(key).await), "fits");
    let stats = node.pump.shutdown().await;
    assert_eq!(stats.invalid_events, 1);
    assert_eq!(stats.events_dispatched, 1);
}

async fn each_event_is_dispatched_once_on_every_node(runtime: Arc<dyn Runtime>) {
    let hub = InMemoryBus::new();
    let a = Node::start(
        runtime.clone(),
        hub.connect(),
        common::anonymous_executor(),
        PumpConfig::default(),
    );
    let b = Node::start(
        runtime,
        hub.connect(),
        common::anonymous_executor(),
        PumpConfig::default(),
    );
    let (on_a, on_b) = (subscribe(&a, "a"), subscribe(&b, "b"));
    assert!(a.pump.channel_ready("users").await);
    assert!(b.pump.channel_ready("users").await);

    a.pump.publish(local_user_event("first")).await.unwrap();
    assert_eq!(user_id(&a.next_frame(on_a).await), "first");
    assert_eq!(user_id(&b.next_frame(on_b).await), "first");
    // Each node's bus stream is in publish order: a duplicate of `first` would come before
    // `second` on node a.
    b.pump.publish(local_user_event("second")).await.unwrap();
    assert_eq!(user_id(&b.next_frame(on_b).await), "second");
    assert_eq!(user_id(&a.next_frame(on_a).await), "second");

    let (stats_a, stats_b) = (a.pump.shutdown().await, b.pump.shutdown().await);
    assert!(a.executor.next_response(on_a).unwrap().is_none());
    assert!(b.executor.next_response(on_b).unwrap().is_none());
    assert_eq!(stats_a.events_dispatched, 1);
    assert_eq!(stats_b.events_dispatched, 1);
}

async fn shutdown_ends_every_task_and_leaves_queued_frames_drainable(runtime: Arc<dyn Runtime>) {
    let node = Node::with_defaults(runtime);
    let key = subscribe(&node, "a");
    subscribe(&node, "b");
    node.executor
        .register_subscription(SubscriptionRequest::new(
            "c",
            "1",
            "subscription { posts { id } }",
        ))
        .unwrap();
    assert!(node.pump.channel_ready("users").await);
    assert!(node.pump.channel_ready("posts").await);
    node.pump.publish(local_user_event("kept")).await.unwrap();

    let Node { executor, bus, pump } = node;
    pump.shutdown().await;

    assert_eq!(
        Arc::strong_count(&executor),
        1,
        "a pump task or thread still holds the executor"
    );
    assert_eq!(bus.stats().subscribed_channels, 0);
    let queue = executor.response_queue(key).unwrap();
    assert!(!queue.is_closed());
    let frame: serde_json::Value = serde_json::from_slice(&queue.try_next().unwrap()).unwrap();
    assert_eq!(user_id(&frame), "kept");
    assert_eq!(queue.try_next(), None);
}

/// `max_attempts(0)` used to divide by zero in the link task, leaving the channel
/// `Subscribing` forever; a zero backoff would retry in a busy loop.
async fn zero_max_attempts_and_zero_backoff_fail_the_channel_instead_of_panicking(runtime: Arc<dyn Runtime>) {
    let config = PumpConfig::default()
        .backoff(Duration::ZERO, Duration::ZERO)
        .max_attempts(0);
    assert!(config.retry_delay(0) >= subcast::MIN_BACKOFF);
    let bus = Arc::new(RefusingBus::default());
    bus.refuse.store(true, Ordering::SeqCst);
    let executor = Arc::new(common::anonymous_executor());
    let pump = subcast::EventPump::start(executor.clone(), bus.clone(), runtime, config);
    let key = executor
        .register_subscription(SubscriptionRequest::new("a", "1", USERS))
        .unwrap();

    let frame = executor.recv(key).await.unwrap().unwrap();
    let frame: serde_json::Value = serde_json::from_slice(&frame).unwrap();
    assert_eq!(error_code(&frame), BUS_CHANNEL_LOST);
    let stats = pump.shutdown().await;
    assert_eq!(stats.dispatcher_panics, 0);
    assert!(stats.channels_failed >= 1);
}

async fn a_pump_whose_backoff_is_endless_still_shuts_down(runtime: Arc<dyn Runtime>) {
    let config = PumpConfig::default()
        .backoff(Duration::MAX, Duration::MAX)
        .max_attempts(1);
    assert_eq!(config.retry_delay(u32::MAX), Duration::MAX);
    let bus = Arc::new(RefusingBus::default());
    bus.refuse.store(true, Ordering::SeqCst);
    let executor = Arc::new(common::anonymous_executor());
    let pump = subcast::EventPump::start(executor.clone(), bus.clone(), runtime, config);
    let key = executor
        .register_subscription(SubscriptionRequest::new("a", "1", USERS))
        .unwrap();

    // The first attempt failed: the link now waits `Duration::MAX` before the next one.
    let frame = executor.recv(key).await.unwrap().unwrap();
    let frame: serde_json::Value = serde_json::from_slice(&frame).unwrap();
    assert_eq!(error_code(&frame), BUS_CHANNEL_LOST);
    let stats = pump.shutdown().await;
    assert_eq!(stats.subscribe_errors, 1);
}

/// `parallelism(usize::MAX)` used to overflow computing the number of delivering threads.
async fn unbounded_parallelism_and_a_zero_threshold_deliver_every_frame(runtime: Arc<dyn Runtime>) {
    const SUBSCRIBERS: usize = 1500;
    let config = PumpConfig::default()
        .parallel_threshold(0)
        .parallelism(usize::MAX);
    let node = Node::start(runtime, InMemoryBus::new(), common::anonymous_executor(), config);
    let keys: Vec<_> = (0..SUBSCRIBERS)
        .map(|n| subscribe(&node, &format!("c{n}")))
        .collect();
    assert!(node.pump.channel_ready("users").await);

    node.bus.publish(remote_user_event("9")).await.unwrap();

    for key in &keys {
        assert_eq!(user_id(&node.next_frame(*key).await), "9");
    }
    let stats = node.pump.shutdown().await;
    assert_eq!(stats.dispatcher_panics, 0);
    assert_eq!(stats.parallel_dispatches, 1);
}
