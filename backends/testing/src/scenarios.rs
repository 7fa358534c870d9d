//! Behaviours every networked bus must show, written once and run against each bus.
//!
//! Each scenario takes the buses (already connected, so each crate chooses its URL,
//! configuration and runtime) and panics when the bus misbehaves.
//!
//! - [`an_event_reaches_every_subscriber_on_every_node_once`]: two nodes, two executors.
//! - [`every_stream_of_a_channel_receives_every_message_until_unsubscribed`]: local fan-out.
//! - [`events_arrive_whole`]: payloads of the given sizes, byte for byte.
//! - [`each_channel_round_trips`] with [`AWKWARD_CHANNEL_NAMES`]: names that break naive
//!   quoting, escaping or encoding.

use std::sync::Arc;

use futures_lite::StreamExt;
use serde_json::json;
use subcast_core::{Event, EventBus, ExecutorConfig, Runtime, SubscriptionExecutor, SubscriptionRequest};

use crate::{counted, next_event, next_frame, pump, unique, within, PATIENCE};

/// Channel names every bus must carry unharmed (each crate adds its own tricky ones).
pub const AWKWARD_CHANNEL_NAMES: [&str; 4] = [
    "it's \"quoted\"",
    "with spaces",
    "ünïcødé ✓ 频道",
    "\"; DROP TABLE x; --",
];

/// An event published on node A (through its executor) reaches the subscribers of both
/// nodes once each: node A's directly, node B's through the bus, and A's loop-back copy
/// is not dispatched again.
pub async fn an_event_reaches_every_subscriber_on_every_node_once(
    runtime: &Arc<dyn Runtime>,
    bus_a: &dyn EventBus,
    bus_b: &dyn EventBus,
) {
    let channel = unique("two-nodes");
    let node = || {
        Arc::new(SubscriptionExecutor::new(
            ExecutorConfig::default().allow_anonymous(true),
        ))
    };
    let (node_a, node_b) = (node(), node());
    let request = |connection: &str| {
        SubscriptionRequest::new(connection, "1", "subscription { counted { n } }")
            .channels([channel.as_str()])
    };
    let on_a = node_a.register_subscription(request("a")).unwrap();
    let on_b = node_b.register_subscription(request("b")).unwrap();
    pump(runtime, bus_a.subscribe(&channel).await.unwrap(), node_a.clone());
    pump(runtime, bus_b.subscribe(&channel).await.unwrap(), node_b.clone());

    let report = bus_a
        .publish_with_executor(counted(&channel, 1), &node_a)
        .await
        .unwrap();
    assert_eq!(report.delivered, 1);
    // A second event is the witness: a duplicate of the first would come before it.
    bus_a
        .publish_with_executor(counted(&channel, 2), &node_a)
        .await
        .unwrap();
    for (node, key) in [(&node_a, on_a), (&node_b, on_b)] {
        for n in [1, 2] {
            let frame = next_frame(node, key).await;
            assert_eq!(frame["payload"]["data"]["counted"]["n"], n, "{frame}");
        }
    }
    assert_eq!(bus_a.stats().published, 2);
}

/// Two streams of one channel share one server subscription, both receive every message,
/// and both end when the channel is unsubscribed.
pub async fn every_stream_of_a_channel_receives_every_message_until_unsubscribed(bus: &dyn EventBus) {
    let channel = unique("fan");
    let mut first = bus.subscribe(&channel).await.unwrap();
    let mut second = bus.subscribe(&channel).await.unwrap();
    assert_eq!(bus.stats().subscribed_channels, 1);
    bus.publish(counted(&channel, 7)).await.unwrap();
    assert_eq!(next_event(&mut first).await.data["n"], 7);
    assert_eq!(next_event(&mut second).await.data["n"], 7);
    bus.unsubscribe(&channel).await.unwrap();
    for stream in [&mut first, &mut second] {
        assert!(within(PATIENCE, "stream end", stream.next()).await.is_none());
    }
    assert_eq!(bus.stats().subscribed_channels, 0);
}

/// Events whose data hold strings of each of `sizes` bytes arrive whole, in order.
pub async fn events_arrive_whole(publisher: &dyn EventBus, subscriber: &dyn EventBus, sizes: &[usize]) {
    let channel = unique("large");
    let mut stream = subscriber.subscribe(&channel).await.unwrap();
    for &size in sizes {
        let blob = "x".repeat(size);
        let event = Event::new("big", channel.as_str(), json!({ "blob": blob }));
        publisher.publish(Arc::new(event)).await.unwrap();
        let received = next_event(&mut stream).await;
        assert_eq!(received.data["blob"].as_str().unwrap().len(), size);
    }
}

/// An event published on each of `channels` reaches a stream of that channel, naming it.
pub async fn each_channel_round_trips(
    publisher: &dyn EventBus,
    subscriber: &dyn EventBus,
    channels: &[String],
) {
    for channel in channels {
        let mut stream = subscriber.subscribe(channel).await.unwrap();
        publisher.publish(counted(channel, 1)).await.unwrap();
        assert_eq!(&next_event(&mut stream).await.channel, channel);
    }
}
