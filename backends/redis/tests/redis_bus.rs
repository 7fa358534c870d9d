//! RedisBus against the real server: delivery across nodes, streams, bad input, construction.

mod common;

use std::time::Duration;

use common::*;
use subcast_core::EventBus;
use subcast_redis::{RedisBus, RedisConfig};

async fn bus(config: RedisConfig) -> RedisBus {
    RedisBus::connect(&redis_url(), tokio_runtime(), config)
        .await
        .expect("connect to Redis")
}

fn raw_connection() -> redis::Connection {
    redis::Client::open(redis_url())
        .and_then(|client| client.get_connection())
        .expect("raw Redis connection")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_published_on_one_node_reaches_every_subscriber_on_every_node_once() {
    for replay in [None, Some(1000)] {
        let mut config = RedisConfig::default();
        config.replay_len = replay;
        let (bus_a, bus_b) = (bus(config.clone()).await, bus(config).await);
        scenarios::an_event_reaches_every_subscriber_on_every_node_once(&tokio_runtime(), &bus_a, &bus_b)
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stream_of_a_channel_receives_every_message_until_unsubscribed() {
    let bus = bus(RedisConfig::default()).await;
    scenarios::every_stream_of_a_channel_receives_every_message_until_unsubscribed(&bus).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_channel_is_unsubscribed_after_the_last_local_stream() {
    let bus = bus(RedisConfig::default()).await;
    let numsub = |channel: &str| -> i64 {
        let (_, count): (String, i64) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(format!("subcast:{channel}"))
            .query(&mut raw_connection())
            .unwrap();
        count
    };
    scenarios::the_server_channel_is_unsubscribed_after_the_last_local_stream(
        &bus,
        &[unique("lifecycle")],
        numsub,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_that_are_not_subcast_events_are_counted_and_skipped() {
    let bus = bus(RedisConfig::default()).await;
    let channel = unique("garbage");
    let inject = async {
        let mut garbage = scenarios::not_events(&channel);
        // Shaped like what a replay stream's entries carry.
        garbage.extend([b"1-0 not json".to_vec(), b"nonsense-id {}".to_vec()]);
        let mut raw = raw_connection();
        for payload in &garbage {
            let _: i64 = redis::cmd("PUBLISH")
                .arg(format!("subcast:{channel}"))
                .arg(payload)
                .query(&mut raw)
                .unwrap();
        }
        garbage.len()
    };
    scenarios::messages_that_are_not_events_are_counted_and_skipped(&bus, &channel, inject).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_kb_event_arrives_whole() {
    for replay in [None, Some(100)] {
        let mut config = RedisConfig::default();
        config.replay_len = replay;
        let bus = bus(config).await;
        scenarios::events_arrive_whole(&bus, &bus, &[100 * 1024]).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_names_with_quotes_spaces_unicode_and_sql_work() {
    let publisher = bus(RedisConfig::default().replay(100)).await;
    let subscriber = bus(RedisConfig::default().replay(100)).await;
    let suffix = unique("");
    let channels: Vec<String> = scenarios::AWKWARD_CHANNEL_NAMES
        .iter()
        .chain(&["*?[glob]"])
        .map(|name| format!("{name}{suffix}"))
        .collect();
    scenarios::each_channel_round_trips(&publisher, &subscriber, &channels).await;
    subscriber.health_check().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_url_or_an_unreachable_server_is_a_clear_error() {
    let runtime = tokio_runtime();
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
        bus.publish(counted(&channel, n)).await.unwrap();
    }
    let mut raw = raw_connection();
    let key = format!("subcast:{channel}");
    let len: usize = redis::cmd("XLEN").arg(&key).query(&mut raw).unwrap();
    assert!(len < 500, "MAXLEN ~ keeps the stream near its cap, got {len}");
    let _: () = redis::cmd("DEL").arg(&key).query(&mut raw).unwrap();
}
