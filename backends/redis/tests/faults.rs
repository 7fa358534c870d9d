//! RedisBus survives its pub/sub connection being killed mid-stream (`CLIENT KILL TYPE pubsub`).
//!
//! The kill hits every pub/sub client of the server, so these tests take turns.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::*;
use subcast_core::{BusMessage, EventBus, ExecutorConfig, SubscriptionExecutor, SubscriptionRequest};
use subcast_redis::{RedisBus, RedisConfig};

static ONE_KILL_AT_A_TIME: async_lock::Mutex<()> = async_lock::Mutex::new(());

async fn bus(config: RedisConfig) -> RedisBus {
    RedisBus::connect(&redis_url(), tokio_runtime(), config)
        .await
        .expect("connect to Redis")
}

fn kill_pubsub_clients() {
    let mut raw = redis::Client::open(redis_url())
        .and_then(|client| client.get_connection())
        .expect("raw Redis connection");
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query(&mut raw)
        .unwrap();
    assert!(killed >= 1, "no pub/sub client was killed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_replay_every_event_is_delivered_once_and_in_order_across_a_killed_connection() {
    let _turn = ONE_KILL_AT_A_TIME.lock().await;
    const EVENTS: u64 = 3000;
    let config = RedisConfig::default().replay(100_000);
    // The publisher holds no subscription, so the kill leaves it alone.
    let publisher = Arc::new(bus(config.clone()).await);
    let subscriber = bus(config).await;
    let channel = unique("replayed");
    let mut stream = subscriber.subscribe(&channel).await.unwrap();

    let publishing = {
        let (publisher, channel) = (publisher.clone(), channel.clone());
        tokio::spawn(async move {
            for n in 0..EVENTS {
                publisher.publish(counted(&channel, n)).await.expect("publish");
            }
        })
    };
    for expected in 0..EVENTS {
        let message = next(&mut stream).await;
        assert_eq!(sequence(&message), Some(expected), "got {message:?}");
        if expected == 100 {
            tokio::task::spawn_blocking(kill_pubsub_clients).await.unwrap();
        }
    }
    publishing.await.unwrap();
    // Nothing more: the witness published last is the very next message.
    publisher.publish(counted(&channel, EVENTS)).await.unwrap();
    assert_eq!(sequence(&next(&mut stream).await), Some(EVENTS));
    assert!(subscriber.stats().reconnects >= 1);
    subscriber.health_check().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_replay_a_killed_connection_is_signalled_as_a_gap_and_delivery_resumes() {
    let _turn = ONE_KILL_AT_A_TIME.lock().await;
    let publisher = Arc::new(bus(RedisConfig::default()).await);
    let subscriber = bus(RedisConfig::default()).await;
    let channel = unique("gapped");
    let runtime = tokio_runtime();
    let node = Arc::new(SubscriptionExecutor::new(
        ExecutorConfig::default().allow_anonymous(true),
    ));
    let key = node
        .register_subscription(
            SubscriptionRequest::new("c", "1", "subscription { counted { n } }").channels([channel.as_str()]),
        )
        .unwrap();
    pump(
        &runtime,
        subscriber.subscribe(&channel).await.unwrap(),
        node.clone(),
    );

    let stop = Arc::new(AtomicBool::new(false));
    let publishing = {
        let (publisher, channel, stop) = (publisher.clone(), channel.clone(), stop.clone());
        tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                publisher.publish(counted(&channel, n)).await.expect("publish");
                n += 1;
            }
        })
    };
    let mut last = None;
    let mut received = 0;
    let mut gap_seen = false;
    // Events before the kill, the gap notice, then events again.
    loop {
        let frame = next_frame(&node, key).await;
        if let Some(n) = frame["payload"]["data"]["counted"]["n"].as_u64() {
            assert!(
                last.is_none_or(|last| n > last),
                "{n} after {last:?}: duplicated or reordered"
            );
            last = Some(n);
            received += 1;
            if received == 50 {
                tokio::task::spawn_blocking(kill_pubsub_clients).await.unwrap();
            }
            if gap_seen {
                break;
            }
        } else {
            assert_eq!(
                frame["payload"]["errors"][0]["extensions"]["code"], "EVENTS_GAP",
                "{frame}"
            );
            assert!(received >= 50, "a gap before the kill: {frame}");
            gap_seen = true;
        }
    }
    stop.store(true, Ordering::Relaxed);
    publishing.await.unwrap();
    assert!(subscriber.stats().reconnects >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_deleted_from_a_stream_that_was_empty_at_subscription_is_signalled_as_a_gap() {
    let _turn = ONE_KILL_AT_A_TIME.lock().await;
    let config = RedisConfig::default().replay(100);
    let subscriber = bus(config.clone()).await;
    let channel = unique("deleted");
    // The stream does not exist yet: the subscription's position is `0-0`.
    let mut stream = subscriber.subscribe(&channel).await.unwrap();

    // Two events reach the stream but not the subscriber; the first is then deleted.
    let key = format!("{}{channel}", config.prefix);
    let mut raw = redis::Client::open(redis_url())
        .and_then(|client| client.get_connection())
        .expect("raw Redis connection");
    let mut ids = Vec::new();
    for n in 0..2 {
        let id: String = redis::cmd("XADD")
            .arg(&key)
            .arg("*")
            .arg("e")
            .arg(counted(&channel, n).to_wire())
            .query(&mut raw)
            .unwrap();
        ids.push(id);
    }
    let _: i64 = redis::cmd("XDEL").arg(&key).arg(&ids[0]).query(&mut raw).unwrap();
    tokio::task::spawn_blocking(kill_pubsub_clients).await.unwrap();

    // The reconnection's replay reports the deleted event, then delivers the one left.
    let first = next(&mut stream).await;
    assert!(matches!(first, BusMessage::Gap { .. }), "got {first:?}");
    assert_eq!(sequence(&next(&mut stream).await), Some(1));
}
