//! RedisBus against the real server: delivery across nodes, streams, bad input, construction.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::json;
use subcast_core::{Event, EventBus, ExecutorConfig, SubscriptionExecutor, SubscriptionRequest};
use subcast_redis::{RedisBus, RedisConfig};

async fn bus(config: RedisConfig) -> RedisBus {
    RedisBus::connect(&redis_url(), TokioTestRuntime::current(), config)
        .await
        .expect("connect to Redis")
}

fn event(channel: &str, n: u64) -> Arc<Event> {
    Arc::new(Event::new("counted", channel, json!({ "n": n })))
}

fn raw_connection() -> redis::Connection {
    redis::Client::open(redis_url())
        .and_then(|client| client.get_connection())
        .expect("raw Redis connection")
}

fn subscribe_request(connection: &str, channel: &str) -> SubscriptionRequest {
    SubscriptionRequest::new(connection, "1", "subscription { counted { n } }").channels([channel])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_published_on_one_node_reaches_every_subscriber_on_every_node_once() {
    for replay in [None, Some(1000)] {
        let mut config = RedisConfig::default();
        config.replay_len = replay;
        let runtime = TokioTestRuntime::current();
        let channel = unique("two-nodes");
        let (bus_a, bus_b) = (bus(config.clone()).await, bus(config).await);
        let (node_a, node_b) = (
            Arc::new(SubscriptionExecutor::new(
                ExecutorConfig::default().allow_anonymous(true),
            )),
            Arc::new(SubscriptionExecutor::new(
                ExecutorConfig::default().allow_anonymous(true),
            )),
        );
        let on_a = node_a
            .register_subscription(subscribe_request("a", &channel))
            .unwrap();
        let on_b = node_b
            .register_subscription(subscribe_request("b", &channel))
            .unwrap();
        pump(&runtime, bus_a.subscribe(&channel).await.unwrap(), node_a.clone());
        pump(&runtime, bus_b.subscribe(&channel).await.unwrap(), node_b.clone());

        let report = bus_a
            .publish_with_executor(event(&channel, 1), &node_a)
            .await
            .unwrap();
        assert_eq!(report.delivered, 1);
        // A second event is the witness: if the first were delivered twice, the duplicate
        // would come before it.
        bus_a
            .publish_with_executor(event(&channel, 2), &node_a)
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stream_of_a_channel_receives_every_message() {
    let bus = bus(RedisConfig::default()).await;
    let channel = unique("fan");
    let mut first = bus.subscribe(&channel).await.unwrap();
    let mut second = bus.subscribe(&channel).await.unwrap();
    assert_eq!(bus.stats().subscribed_channels, 1);
    bus.publish(event(&channel, 7)).await.unwrap();
    assert_eq!(next_event(&mut first).await.data["n"], 7);
    assert_eq!(next_event(&mut second).await.data["n"], 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_channel_is_unsubscribed_after_the_last_local_stream() {
    let bus = bus(RedisConfig::default()).await;
    let channel = unique("lifecycle");
    let server = format!("subcast:{channel}");
    let numsub = |server: &str| -> i64 {
        let (_, count): (String, i64) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(server)
            .query(&mut raw_connection())
            .unwrap();
        count
    };
    let mut stream = bus.subscribe(&channel).await.unwrap();
    assert_eq!(numsub(&server), 1);
    bus.unsubscribe(&channel).await.unwrap();
    assert!(
        within(PATIENCE, "stream end", futures_lite::StreamExt::next(&mut stream))
            .await
            .is_none()
    );
    assert_eq!(numsub(&server), 0);
    assert_eq!(bus.stats().subscribed_channels, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_that_are_not_subcast_events_are_counted_and_skipped() {
    let bus = bus(RedisConfig::default()).await;
    let channel = unique("garbage");
    let mut stream = bus.subscribe(&channel).await.unwrap();
    let mut wrong_version: serde_json::Value = serde_json::from_slice(&event(&channel, 0).to_wire()).unwrap();
    wrong_version["v"] = json!(99);
    let wrong_version = wrong_version.to_string();
    let other_channel = Event::new("t", "elsewhere", json!({})).to_wire();
    let garbage: [&[u8]; 6] = [
        b"\xff\x00 garbage",
        b"{\"v\":1,\"id\":3}",
        wrong_version.as_bytes(),
        b"1-0 not json",
        b"nonsense-id {}",
        &other_channel,
    ];
    let mut raw = raw_connection();
    for payload in garbage {
        let _: i64 = redis::cmd("PUBLISH")
            .arg(format!("subcast:{channel}"))
            .arg(payload)
            .query(&mut raw)
            .unwrap();
    }
    bus.publish(event(&channel, 42)).await.unwrap();
    assert_eq!(next_event(&mut stream).await.data["n"], 42);
    assert_eq!(bus.stats().invalid_messages, garbage.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_kb_event_arrives_whole() {
    for replay in [None, Some(100)] {
        let mut config = RedisConfig::default();
        config.replay_len = replay;
        let bus = bus(config).await;
        let channel = unique("large");
        let mut stream = bus.subscribe(&channel).await.unwrap();
        let big = "x".repeat(100 * 1024);
        bus.publish(Arc::new(Event::new(
            "big",
            channel.as_str(),
            json!({ "blob": big }),
        )))
        .await
        .unwrap();
        assert_eq!(
            next_event(&mut stream).await.data["blob"].as_str().unwrap().len(),
            100 * 1024
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_names_with_quotes_spaces_unicode_and_sql_work() {
    let publisher = bus(RedisConfig::default().replay(100)).await;
    let subscriber = bus(RedisConfig::default().replay(100)).await;
    let suffix = unique("");
    for name in [
        "it's \"quoted\"",
        "with spaces",
        "ünïcødé ✓ 频道",
        "\"; DROP TABLE x; --",
        "*?[glob]",
    ] {
        let channel = format!("{name}{suffix}");
        let mut stream = subscriber.subscribe(&channel).await.unwrap();
        publisher.publish(event(&channel, 1)).await.unwrap();
        assert_eq!(next_event(&mut stream).await.channel, channel);
    }
    subscriber.health_check().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_url_or_an_unreachable_server_is_a_clear_error() {
    let runtime = TokioTestRuntime::current();
    let quick = RedisConfig::default().timeout(Duration::from_millis(300));
    for url in [
        "http://127.0.0.1:6379",
        "not a url",
        "redis://",
        "rediss://127.0.0.1:6379",
    ] {
        let error = RedisBus::connect(url, runtime.clone(), quick.clone())
            .await
            .unwrap_err();
        assert!(
            error.to_string().to_lowercase().contains("redis"),
            "{url}: {error}"
        );
    }
    let refused = RedisBus::connect("redis://127.0.0.1:1", runtime.clone(), quick.clone())
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("127.0.0.1:1"), "{refused}");
    // A blackholed address must end in the configured timeout, not hang.
    let silent = RedisBus::connect("redis://10.255.255.1:6379", runtime, quick)
        .await
        .unwrap_err();
    assert!(silent.to_string().contains("10.255.255.1"), "{silent}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_streams_are_capped_and_hold_the_wire_format() {
    let bus = bus(RedisConfig::default().replay(10)).await;
    let channel = unique("capped");
    for n in 0..500 {
        bus.publish(event(&channel, n)).await.unwrap();
    }
    let mut raw = raw_connection();
    let key = format!("subcast:{channel}");
    let len: usize = redis::cmd("XLEN").arg(&key).query(&mut raw).unwrap();
    assert!(len < 500, "MAXLEN ~ keeps the stream near its cap, got {len}");
    let _: () = redis::cmd("DEL").arg(&key).query(&mut raw).unwrap();
}
