//! RedisClusterBus survives its node connections being killed (`CLIENT KILL TYPE pubsub`
//! on every node) and a channel's slot moving to another node.
//!
//! The kills hit every pub/sub client of the cluster, so these tests take turns.
#![cfg(feature = "cluster")]

mod cluster_support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use cluster_support::*;
use subcast_bus_testing::*;
use subcast_core::{EventBus, EventStream, ExecutorConfig, SubscriptionExecutor, SubscriptionRequest};
use subcast_redis::{RedisClusterBus, RedisConfig};

static ONE_FAULT_AT_A_TIME: async_lock::Mutex<()> = async_lock::Mutex::new(());

async fn bus(config: RedisConfig) -> RedisClusterBus {
    cluster_bus(tokio_runtime(), config).await
}

/// Publish `events` counted events on each of `channels`, interleaved, from another task.
fn publish_all(
    publisher: Arc<RedisClusterBus>,
    channels: Vec<String>,
    events: u64,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        for n in 0..events {
            for channel in &channels {
                publisher.publish(counted(channel, n)).await.expect("publish");
            }
        }
    })
}

/// Receive `events` counted events on every stream, in order, running `fault` once the
/// first stream has received `fault_at`.
async fn receive_in_order(streams: &mut [EventStream], events: u64, fault_at: u64, fault: impl FnOnce()) {
    let mut fault = Some(fault);
    for expected in 0..events {
        for stream in streams.iter_mut() {
            let message = next(stream).await;
            assert_eq!(sequence(&message), Some(expected), "got {message:?}");
        }
        if expected == fault_at {
            if let Some(fault) = fault.take() {
                tokio::task::block_in_place(fault);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_replay_every_event_on_every_shard_is_delivered_once_and_in_order_across_killed_connections() {
    let _turn = ONE_FAULT_AT_A_TIME.lock().await;
    const EVENTS: u64 = 1000;
    let config = RedisConfig::default().replay(100_000);
    // The publisher holds no subscription, so the kills leave it alone.
    let publisher = Arc::new(bus(config.clone()).await);
    let subscriber = bus(config).await;
    let channels = channels_on_every_shard("replayed");
    let mut streams = Vec::new();
    for channel in &channels {
        streams.push(subscriber.subscribe(channel).await.unwrap());
    }
    let publishing = publish_all(publisher.clone(), channels.clone(), EVENTS);
    receive_in_order(&mut streams, EVENTS, 100, || {
        assert!(
            kill_pubsub_clients_on_every_node() >= 1,
            "no pub/sub client was killed"
        );
    })
    .await;
    publishing.await.unwrap();
    // Nothing more: the witness published last is the very next message.
    for (channel, stream) in channels.iter().zip(&mut streams) {
        publisher.publish(counted(channel, EVENTS)).await.unwrap();
        assert_eq!(sequence(&next(stream).await), Some(EVENTS));
    }
    assert!(subscriber.stats().reconnects >= 1);
    subscriber.health_check().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_replay_killed_connections_are_signalled_as_a_gap_and_delivery_resumes() {
    let _turn = ONE_FAULT_AT_A_TIME.lock().await;
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
                let killed = tokio::task::spawn_blocking(kill_pubsub_clients_on_every_node)
                    .await
                    .unwrap();
                assert!(killed >= 1, "no pub/sub client was killed");
            }
            if gap_seen {
                break;
            }
            assert!(
                received < 50 + 100_000,
                "100000 events after the kill and no gap notice"
            );
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

/// Moves a slot back where it was when dropped, so a failed test leaves the cluster whole.
struct MovedSlot {
    slot: u16,
    home: String,
    away: String,
}

impl Drop for MovedSlot {
    fn drop(&mut self) {
        move_slot(self.slot, &self.away, &self.home);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_replay_every_event_is_delivered_once_and_in_order_when_the_channel_slot_moves_to_another_node()
{
    let _turn = ONE_FAULT_AT_A_TIME.lock().await;
    const EVENTS: u64 = 1000;
    let config = RedisConfig::default().replay(100_000);
    let publisher = Arc::new(bus(config.clone()).await);
    let subscriber = bus(config).await;
    let channel = unique("moved");
    let server = format!("subcast:{channel}");
    let home = owner(&server);
    let away = primaries()
        .into_iter()
        .map(|(address, _)| address)
        .find(|address| *address != home)
        .expect("another primary");
    let mut streams = vec![subscriber.subscribe(&channel).await.unwrap()];
    let publishing = publish_all(publisher.clone(), vec![channel.clone()], EVENTS);
    let mut moved = None;
    receive_in_order(&mut streams, EVENTS, 100, || {
        move_slot(keyslot(&server), &home, &away);
        moved = Some(MovedSlot {
            slot: keyslot(&server),
            home: home.clone(),
            away: away.clone(),
        });
    })
    .await;
    publishing.await.unwrap();
    assert_eq!(owner(&server), away);
    assert_eq!(shard_subscribers(&server), 1, "subscribed again on the new owner");
    publisher.publish(counted(&channel, EVENTS)).await.unwrap();
    assert_eq!(sequence(&next(&mut streams[0]).await), Some(EVENTS));
    assert!(subscriber.stats().reconnects >= 1);
    drop(moved);
}
