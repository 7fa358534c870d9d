//! `Node` under every runtime: publish-then-dispatch, nodes sharing a bus, shutdown, and
//! the builder's refusals; real Redis and PostgreSQL when their features are on.

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{json, Value};
use subcast::{
    BusStats, Error, Event, EventBus, EventStream, ExecutorConfig, InMemoryBus, Node, Result, Runtime,
    SubscriptionKey, SubscriptionRequest,
};

use common::{user_id, USERS};

on_every_runtime!(
    published_event_is_queued_for_local_subscribers_before_publish_returns,
    event_published_by_one_node_reaches_another_node_sharing_its_bus_once,
    failed_publish_dispatches_nothing,
    shutdown_stops_the_pump_and_leaves_queued_frames_drainable,
    node_on_a_given_bus_runs_a_pump_on_the_given_runtime,
);

fn anonymous() -> ExecutorConfig {
    ExecutorConfig::default().allow_anonymous(true)
}

fn subscribe(node: &Node, connection: &str) -> SubscriptionKey {
    node.executor()
        .register_subscription(SubscriptionRequest::new(connection, "1", USERS))
        .unwrap()
}

fn user_event(id: &str) -> Event {
    Event::new("userCreated", "users", json!({ "id": id }))
}

async fn next_frame(node: &Node, key: SubscriptionKey) -> Value {
    let frame = node
        .executor()
        .recv(key)
        .await
        .unwrap()
        .expect("the subscription ended");
    serde_json::from_slice(&frame).unwrap()
}

async fn published_event_is_queued_for_local_subscribers_before_publish_returns(runtime: Arc<dyn Runtime>) {
    let node = Node::builder()
        .runtime(runtime)
        .executor_config(anonymous())
        .build()
        .await
        .unwrap();
    let key = subscribe(&node, "c");

    let report = node.publish(user_event("7")).await.unwrap();

    assert_eq!(report.delivered, 1);
    let frame = node
        .executor()
        .next_response(key)
        .unwrap()
        .expect("queued by publish");
    assert_eq!(user_id(&serde_json::from_slice(&frame).unwrap()), "7");
}

async fn event_published_by_one_node_reaches_another_node_sharing_its_bus_once(runtime: Arc<dyn Runtime>) {
    let bus: Arc<dyn EventBus> = Arc::new(InMemoryBus::new());
    let build = || {
        Node::builder()
            .bus(bus.clone())
            .runtime(runtime.clone())
            .executor_config(anonymous())
            .build()
    };
    let (a, b) = (build().await.unwrap(), build().await.unwrap());
    let (on_a, on_b) = (subscribe(&a, "ca"), subscribe(&b, "cb"));
    assert!(a.channel_ready("users").await && b.channel_ready("users").await);

    a.publish(user_event("1")).await.unwrap();
    b.publish(user_event("2")).await.unwrap();

    for (node, key) in [(&a, on_a), (&b, on_b)] {
        let mut ids = vec![
            user_id(&next_frame(node, key).await).to_owned(),
            user_id(&next_frame(node, key).await).to_owned(),
        ];
        ids.sort();
        assert_eq!(ids, ["1", "2"]);
    }
    // Each node's own event came back through the bus: skipped, not dispatched twice.
    let (a, b) = (a.shutdown().await, b.shutdown().await);
    for stats in [a, b] {
        let pump = stats.pump.expect("a pump");
        assert_eq!((pump.events_dispatched, pump.duplicates_skipped), (1, 1));
    }
}

/// A bus whose every publish fails.
#[derive(Debug)]
struct RefusingBus;

#[async_trait]
impl EventBus for RefusingBus {
    async fn publish(&self, _event: Arc<Event>) -> Result<()> {
        Err(Error::Closed("refusing bus"))
    }
    async fn subscribe(&self, _channel: &str) -> Result<EventStream> {
        Ok(Box::pin(futures_lite::stream::pending()))
    }
    async fn unsubscribe(&self, _channel: &str) -> Result<()> {
        Ok(())
    }
    async fn health_check(&self) -> Result<()> {
        Ok(())
    }
    fn stats(&self) -> BusStats {
        BusStats::default()
    }
}

async fn failed_publish_dispatches_nothing(runtime: Arc<dyn Runtime>) {
    let node = Node::builder()
        .bus(Arc::new(RefusingBus))
        .runtime(runtime)
        .executor_config(anonymous())
        .build()
        .await
        .unwrap();
    let key = subscribe(&node, "c");

    assert!(node.publish(user_event("1")).await.is_err());

    assert!(node.executor().next_response(key).unwrap().is_none());
    node.shutdown().await;
}

async fn shutdown_stops_the_pump_and_leaves_queued_frames_drainable(runtime: Arc<dyn Runtime>) {
    let node = Node::builder()
        .bus(Arc::new(InMemoryBus::new()))
        .runtime(runtime)
        .executor_config(anonymous())
        .build()
        .await
        .unwrap();
    let key = subscribe(&node, "c");
    assert!(node.channel_ready("users").await);
    node.publish(user_event("1")).await.unwrap();
    let executor = node.executor().clone();

    let stats = node.shutdown().await;

    assert_eq!(stats.bus.published, 1);
    assert_eq!(stats.pump.expect("a pump").subscribed_channels, 0);
    assert!(executor.next_response(key).unwrap().is_some());
}

async fn node_on_a_given_bus_runs_a_pump_on_the_given_runtime(runtime: Arc<dyn Runtime>) {
    let node = Node::builder()
        .bus(Arc::new(InMemoryBus::new()))
        .runtime(runtime.clone())
        .build()
        .await
        .unwrap();

    assert!(Arc::ptr_eq(node.runtime().expect("a runtime"), &runtime));
    assert!(node.stats().pump.is_some());
    node.shutdown().await;
}

#[test]
fn node_on_its_own_memory_bus_runs_no_pump() {
    let node = futures_lite::future::block_on(Node::builder().bus_url("memory://").build()).unwrap();
    assert!(node.runtime().is_none());
    assert!(node.stats().pump.is_none());
}

#[test]
fn invalid_executor_config_is_refused_naming_the_setting() {
    let config = ExecutorConfig::default().queue_max_bytes(0);
    let refused = futures_lite::future::block_on(Node::builder().executor_config(config).build());
    assert!(matches!(
        refused,
        Err(Error::InvalidConfig {
            setting: "queue_max_bytes",
            ..
        })
    ));
}

#[test]
fn unknown_bus_url_scheme_is_refused() {
    let refused = futures_lite::future::block_on(Node::builder().bus_url("nats://127.0.0.1").build());
    assert!(matches!(
        refused,
        Err(Error::InvalidConfig {
            setting: "bus_url",
            ..
        })
    ));
}

/// Two nodes on one network bus: an event one publishes reaches the other's subscriber.
#[cfg(any(feature = "redis", feature = "postgres"))]
async fn event_crosses_nodes_over(url: &str, runtime: Arc<dyn Runtime>) {
    let channel = format!(
        "node_{}_{}",
        std::process::id(),
        url.split(':').next().unwrap_or("")
    );
    let build = || {
        Node::builder()
            .bus_url(url)
            .runtime(runtime.clone())
            .executor_config(anonymous())
            .build()
    };
    let (a, b) = (build().await.unwrap(), build().await.unwrap());
    let query = format!("subscription {{ {channel} {{ id }} }}");
    let key = b
        .executor()
        .register_subscription(SubscriptionRequest::new("c", "1", query.as_str()))
        .unwrap();
    assert!(b.channel_ready(&channel).await);

    a.publish(Event::new("created", channel.as_str(), json!({ "id": "9" })))
        .await
        .unwrap();

    let frame = next_frame(&b, key).await;
    assert_eq!(frame["payload"]["data"][channel.as_str()]["id"], "9");
    a.shutdown().await;
    b.shutdown().await;
}

#[cfg(feature = "redis")]
#[test]
fn event_crosses_nodes_over_redis() {
    common::tokio_multi_thread(|runtime| event_crosses_nodes_over("redis://127.0.0.1:6379", runtime));
}

#[cfg(feature = "postgres")]
#[test]
fn event_crosses_nodes_over_postgres() {
    common::smol_owned_threads(|runtime| {
        event_crosses_nodes_over("postgres://postgres@127.0.0.1/test", runtime)
    });
}
