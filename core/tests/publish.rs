//! `SubscriptionExecutor::publish` on the in-memory bus: atomic, local frames first, no duplicates.

use std::sync::Arc;

use async_trait::async_trait;
use futures_lite::future::block_on;
use futures_lite::StreamExt;
use serde_json::json;
use subcast_core::{
    BusMessage, BusStats, Error, Event, EventBus, EventStream, ExecutorConfig, InMemoryBus, Result,
    SubscriptionExecutor, SubscriptionKey, SubscriptionRequest, MAX_EVENT_DEPTH,
};

const USERS: &str = "subscription { users { id } }";

/// These tests specify dispatch mechanics, not security: their subscribers are anonymous.
fn anonymous_executor() -> SubscriptionExecutor {
    SubscriptionExecutor::new(ExecutorConfig::default().allow_anonymous(true))
}

/// An executor with one subscription to `users`, and that subscription's key.
fn subscribed_executor() -> (SubscriptionExecutor, SubscriptionKey) {
    let executor = anonymous_executor();
    let key = executor
        .register_subscription(SubscriptionRequest::new("c", "1", USERS))
        .unwrap();
    (executor, key)
}

fn user_created() -> Arc<Event> {
    Arc::new(Event::new("userCreated", "users", json!({"id": "1"})))
}

#[test]
fn local_subscribers_have_their_frame_when_publish_returns() {
    block_on(async {
        let bus = InMemoryBus::new();
        let (executor, key) = subscribed_executor();
        let event = user_created();
        let report = executor.publish(&bus, event).await.unwrap();
        assert_eq!(report.delivered, 1);
        assert!(executor.next_response(key).unwrap().is_some());
    });
}

#[test]
fn the_bus_copy_of_a_locally_dispatched_event_is_not_dispatched_again() {
    block_on(async {
        let bus = InMemoryBus::new();
        let (executor, key) = subscribed_executor();
        let mut stream = bus.subscribe("users").await.unwrap();
        let event = user_created();
        executor.publish(&bus, event).await.unwrap();
        let copy = stream.next().await.unwrap();
        let report = executor.dispatch_bus_message(&copy).unwrap();
        assert!(report.duplicate);
        assert_eq!(report.delivered, 0);
        assert!(executor.next_response(key).unwrap().is_some());
        assert_eq!(executor.next_response(key).unwrap(), None);
    });
}

#[test]
fn another_node_dispatches_the_bus_copy_exactly_once() {
    block_on(async {
        let node_a = InMemoryBus::new();
        let node_b = node_a.connect();
        let (executor_a, executor_b) = (anonymous_executor(), anonymous_executor());
        let on_a = executor_a
            .register_subscription(SubscriptionRequest::new("c", "1", USERS))
            .unwrap();
        let on_b = executor_b
            .register_subscription(SubscriptionRequest::new("c", "1", USERS))
            .unwrap();
        let mut stream_a = node_a.subscribe("users").await.unwrap();
        let mut stream_b = node_b.subscribe("users").await.unwrap();
        let event = user_created();
        executor_a.publish(&node_a, event).await.unwrap();
        executor_a
            .dispatch_bus_message(&stream_a.next().await.unwrap())
            .unwrap();
        executor_b
            .dispatch_bus_message(&stream_b.next().await.unwrap())
            .unwrap();
        for (executor, key) in [(&executor_a, on_a), (&executor_b, on_b)] {
            assert!(executor.next_response(key).unwrap().is_some());
            assert_eq!(executor.next_response(key).unwrap(), None);
        }
    });
}

#[test]
fn an_event_published_without_the_executor_is_dispatched_from_the_bus() {
    block_on(async {
        let bus = InMemoryBus::new();
        let (executor, key) = subscribed_executor();
        let mut stream = bus.subscribe("users").await.unwrap();
        bus.publish(user_created()).await.unwrap();
        let report = executor
            .dispatch_bus_message(&stream.next().await.unwrap())
            .unwrap();
        assert_eq!(report.delivered, 1);
        assert!(executor.next_response(key).unwrap().is_some());
    });
}

#[derive(Debug)]
struct DownBus;

#[async_trait]
impl EventBus for DownBus {
    async fn publish(&self, _event: Arc<Event>) -> Result<()> {
        Err(Error::bus_message("test", "connection refused"))
    }
    async fn subscribe(&self, _channel: &str) -> Result<EventStream> {
        Err(Error::bus_message("test", "connection refused"))
    }
    async fn unsubscribe(&self, _channel: &str) -> Result<()> {
        Ok(())
    }
    async fn health_check(&self) -> Result<()> {
        Err(Error::bus_message("test", "connection refused"))
    }
    fn stats(&self) -> BusStats {
        BusStats::default()
    }
}

#[test]
fn a_failed_publish_dispatches_nothing() {
    block_on(async {
        let (executor, key) = subscribed_executor();
        let event = user_created();
        assert!(matches!(
            executor.publish(&DownBus, event).await,
            Err(Error::Bus { .. })
        ));
        assert_eq!(executor.next_response(key).unwrap(), None);
    });
}

/// Publishes through an in-memory bus, then never returns: a publish that times out after
/// sending, or whose caller gave up.
#[derive(Debug)]
struct SentThenStuckBus(InMemoryBus);

#[async_trait]
impl EventBus for SentThenStuckBus {
    async fn publish(&self, event: Arc<Event>) -> Result<()> {
        self.0.publish(event).await?;
        std::future::pending().await
    }
    async fn subscribe(&self, channel: &str) -> Result<EventStream> {
        self.0.subscribe(channel).await
    }
    async fn unsubscribe(&self, channel: &str) -> Result<()> {
        self.0.unsubscribe(channel).await
    }
    async fn health_check(&self) -> Result<()> {
        Ok(())
    }
    fn stats(&self) -> BusStats {
        self.0.stats()
    }
}

#[test]
fn a_publish_abandoned_after_sending_is_dispatched_from_the_bus_copy_once() {
    block_on(async {
        let (executor, key) = subscribed_executor();
        let bus = SentThenStuckBus(InMemoryBus::new());
        let mut stream = bus.subscribe("users").await.unwrap();
        {
            let publishing = executor.publish(&bus, user_created());
            assert!(futures_lite::future::poll_once(publishing).await.is_none());
        }
        assert_eq!(executor.next_response(key).unwrap(), None);
        let report = executor
            .dispatch_bus_message(&stream.next().await.unwrap())
            .unwrap();
        assert!(!report.duplicate);
        assert_eq!(report.delivered, 1);
        assert!(executor.next_response(key).unwrap().is_some());
    });
}

/// `depth` nested lists around a number.
fn nested_lists(depth: usize) -> serde_json::Value {
    (0..depth).fold(json!(7), |inner, _| json!([inner]))
}

fn deep_executor() -> (SubscriptionExecutor, SubscriptionKey) {
    let executor = anonymous_executor();
    let key = executor
        .register_subscription(SubscriptionRequest::new("c", "1", "subscription { deep }"))
        .unwrap();
    (executor, key)
}

#[test]
fn an_event_nested_past_the_depth_limit_is_refused_at_publish_and_reaches_no_one() {
    block_on(async {
        let bus = InMemoryBus::new();
        let (executor, key) = deep_executor();
        let mut stream = bus.subscribe("deep").await.unwrap();
        let event = Arc::new(Event::new("t", "deep", nested_lists(MAX_EVENT_DEPTH + 1)));
        assert!(matches!(
            executor.publish(&bus, event.clone()).await,
            Err(Error::EventTooDeep {
                limit: MAX_EVENT_DEPTH
            })
        ));
        assert!(matches!(
            bus.publish(event).await,
            Err(Error::EventTooDeep { .. })
        ));
        assert_eq!(executor.next_response(key).unwrap(), None);
        assert_eq!(bus.stats().published, 0);
        assert!(futures_lite::future::poll_once(stream.next()).await.is_none());
    });
}

#[test]
fn an_event_at_the_depth_limit_published_on_one_node_is_delivered_on_another() {
    block_on(async {
        let bus = InMemoryBus::new();
        let (node_a, on_a) = deep_executor();
        let (node_b, on_b) = deep_executor();
        let mut stream = bus.connect().subscribe("deep").await.unwrap();
        let event = Arc::new(Event::new("t", "deep", nested_lists(MAX_EVENT_DEPTH)));
        node_a.publish(&bus, event).await.unwrap();
        let Some(BusMessage::Event(copy)) = stream.next().await else {
            panic!("the bus carries the event");
        };
        // What a networked bus does between nodes.
        let decoded = Event::from_wire(&copy.to_wire()).unwrap();
        let report = node_b
            .dispatch_bus_message(&BusMessage::Event(Arc::new(decoded)))
            .unwrap();
        assert_eq!(report.delivered, 1);
        for (node, key) in [(&node_a, on_a), (&node_b, on_b)] {
            let frame: serde_json::Value =
                serde_json::from_slice(&node.next_response(key).unwrap().unwrap()).unwrap();
            assert_eq!(frame["payload"]["data"]["deep"], nested_lists(MAX_EVENT_DEPTH));
        }
    });
}
