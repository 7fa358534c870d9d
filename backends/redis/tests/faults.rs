//! RedisBus survives its pub/sub connection being killed mid-stream (`CLIENT KILL TYPE pubsub`).
//!
//! The kill hits every pub/sub client of the server, so these tests take turns.

mod common;

use common::*;
use subcast_core::{BusMessage, EventBus};
use subcast_redis::{RedisBus, RedisConfig};

static ONE_KILL_AT_A_TIME: async_lock::Mutex<()> = async_lock::Mutex::new(());

async fn bus(config: RedisConfig) -> RedisBus {
    RedisBus::connect(&redis_url(), tokio_runtime(), config)
        .await
        .expect("connect to Redis")
}

/// Kill every pub/sub client of the server, on a blocking thread.
async fn kill_pubsub_clients() {
    tokio::task::spawn_blocking(kill_pubsub_clients_now)
        .await
        .unwrap();
}

fn kill_pubsub_clients_now() {
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
    let config = RedisConfig::default().replay(100_000);
    // The publisher holds no subscription, so the kill leaves it alone.
    let publisher = bus(config.clone()).await;
    let subscriber = bus(config).await;
    scenarios::with_replay_every_event_is_delivered_once_and_in_order_across_a_fault(
        &publisher,
        &subscriber,
        &[unique("replayed")],
        3000,
        kill_pubsub_clients(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_replay_a_killed_connection_is_signalled_as_a_gap_and_delivery_resumes() {
    let _turn = ONE_KILL_AT_A_TIME.lock().await;
    let publisher = bus(RedisConfig::default()).await;
    let subscriber = bus(RedisConfig::default()).await;
    scenarios::without_replay_a_fault_is_announced_as_a_gap_and_delivery_resumes(
        &tokio_runtime(),
        &publisher,
        &subscriber,
        kill_pubsub_clients(),
    )
    .await;
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
    kill_pubsub_clients().await;

    // The reconnection's replay reports the deleted event, then delivers the one left.
    let first = next(&mut stream).await;
    assert!(matches!(first, BusMessage::Gap { .. }), "got {first:?}");
    // The replay that follows every subscribe may still be reading while the test writes:
    // if it read the stream before the deletion and its `XINFO` after, it delivers event 0
    // (read while it existed) behind the gap, and the reconnection's replay may announce a
    // second gap (a stream that now starts after its cursor). Whatever the interleaving,
    // event 1 follows, once, and nothing else but event 0 and gaps comes before it.
    let mut seen_zero = false;
    loop {
        let message = next(&mut stream).await;
        if matches!(message, BusMessage::Gap { .. }) {
            continue;
        }
        match sequence(&message) {
            Some(0) if !seen_zero => seen_zero = true,
            other => {
                assert_eq!(other, Some(1), "got {message:?}");
                break;
            }
        }
    }
}
