//! RedisClusterBus survives its node connections being killed (`CLIENT KILL TYPE pubsub`
//! on every node) and a channel's slot moving to another node.
//!
//! The kills hit every pub/sub client of the cluster, so these tests take turns.
#![cfg(feature = "cluster")]

mod cluster_support;

use cluster_support::*;
use subcast_bus_testing::*;
use subcast_redis::{RedisClusterBus, RedisConfig};

static ONE_FAULT_AT_A_TIME: async_lock::Mutex<()> = async_lock::Mutex::new(());

async fn bus(config: RedisConfig) -> RedisClusterBus {
    cluster_bus(tokio_runtime(), config).await
}

/// Kill the pub/sub clients of every node, on a blocking thread.
async fn kill_pubsub_clients() {
    let killed = tokio::task::spawn_blocking(kill_pubsub_clients_on_every_node)
        .await
        .unwrap();
    assert!(killed >= 1, "no pub/sub client was killed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_replay_every_event_on_every_shard_is_delivered_once_and_in_order_across_killed_connections() {
    let _turn = ONE_FAULT_AT_A_TIME.lock().await;
    let config = RedisConfig::default().replay(100_000);
    // The publisher holds no subscription, so the kills leave it alone.
    let publisher = bus(config.clone()).await;
    let subscriber = bus(config).await;
    scenarios::with_replay_every_event_is_delivered_once_and_in_order_across_a_fault(
        &publisher,
        &subscriber,
        &channels_on_every_shard("replayed"),
        1000,
        kill_pubsub_clients(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_replay_killed_connections_are_signalled_as_a_gap_and_delivery_resumes() {
    let _turn = ONE_FAULT_AT_A_TIME.lock().await;
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
    let config = RedisConfig::default().replay(100_000);
    let publisher = bus(config.clone()).await;
    let subscriber = bus(config).await;
    let channel = unique("moved");
    let server = format!("subcast:{channel}");
    let home = owner(&server);
    let away = primaries()
        .into_iter()
        .map(|(address, _)| address)
        .find(|address| *address != home)
        .expect("another primary");
    let mut moved = None;
    let move_away = async {
        tokio::task::block_in_place(|| move_slot(keyslot(&server), &home, &away));
        moved = Some(MovedSlot {
            slot: keyslot(&server),
            home: home.clone(),
            away: away.clone(),
        });
    };
    // The stream stays subscribed: the new owner must hold its subscription.
    let _streams = scenarios::with_replay_every_event_is_delivered_once_and_in_order_across_a_fault(
        &publisher,
        &subscriber,
        std::slice::from_ref(&channel),
        1000,
        move_away,
    )
    .await;
    assert_eq!(owner(&server), away);
    assert_eq!(shard_subscribers(&server), 1, "subscribed again on the new owner");
    drop(moved);
}
