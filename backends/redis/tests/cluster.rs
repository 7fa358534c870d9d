//! RedisClusterBus against a real three-node Redis Cluster (`scripts/cluster`): every
//! scenario of the single-node bus, on channels spread over every shard, with and without
//! replay.
#![cfg(feature = "cluster")]

mod cluster_support;

use std::sync::Arc;
use std::time::Duration;

use cluster_support::*;
use scenarios::{AfterOverflow, Bounds};
use subcast_bus_testing::*;
use subcast_core::EventBus;
use subcast_redis::{RedisClusterBus, RedisConfig};

const BOUNDS: Bounds = Bounds {
    pump_inbox: 8,
    stream: 16,
    received: 8,
};

fn with_and_without_replay() -> [RedisConfig; 2] {
    [RedisConfig::default(), RedisConfig::default().replay(1000)]
}

async fn bus(config: RedisConfig) -> RedisClusterBus {
    cluster_bus(tokio_runtime(), config).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_published_on_one_node_reaches_every_subscriber_on_every_node_once() {
    for config in with_and_without_replay() {
        let (bus_a, bus_b) = (bus(config.clone()).await, bus(config).await);
        scenarios::an_event_reaches_every_subscriber_on_every_node_once(&tokio_runtime(), &bus_a, &bus_b)
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_on_every_shard_reach_subscribers_of_another_node() {
    for config in with_and_without_replay() {
        let publisher = bus(config.clone()).await;
        let subscriber = bus(config).await;
        let channels = channels_on_every_shard("spread");
        let mut streams = Vec::new();
        for channel in &channels {
            streams.push(subscriber.subscribe(channel).await.unwrap());
            // Subscribed on the node owning the channel's slot.
            assert_eq!(shard_subscribers(&format!("subcast:{channel}")), 1);
        }
        for (n, channel) in channels.iter().enumerate() {
            publisher.publish(counted(channel, n as u64)).await.unwrap();
        }
        for (n, (channel, stream)) in channels.iter().zip(&mut streams).enumerate() {
            let event = next_event(stream).await;
            assert_eq!(
                (&event.channel, event.data["n"].as_u64()),
                (channel, Some(n as u64))
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_replay_the_stream_of_a_channel_lives_in_the_slot_of_its_shard_channel() {
    let bus = bus(RedisConfig::default().replay(10)).await;
    for channel in channels_on_every_shard("stream") {
        for n in 0..100 {
            bus.publish(counted(&channel, n)).await.unwrap();
        }
        let key = format!("subcast:{channel}");
        let mut owner = node(&owner(&key));
        let len: usize = redis::cmd("XLEN").arg(&key).query(&mut owner).unwrap();
        assert!(
            (1..100).contains(&len),
            "MAXLEN ~ keeps the stream near its cap, got {len}"
        );
        let _: () = redis::cmd("DEL").arg(&key).query(&mut owner).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stream_of_a_channel_receives_every_message_until_unsubscribed() {
    let bus = bus(RedisConfig::default()).await;
    scenarios::every_stream_of_a_channel_receives_every_message_until_unsubscribed(&bus).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shard_channel_is_unsubscribed_on_its_node_after_the_last_local_stream() {
    let bus = bus(RedisConfig::default()).await;
    scenarios::the_server_channel_is_unsubscribed_after_the_last_local_stream(
        &bus,
        &channels_on_every_shard("lifecycle"),
        |channel| shard_subscribers(&format!("subcast:{channel}")),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shard_messages_that_are_not_subcast_events_are_counted_and_skipped() {
    let bus = bus(RedisConfig::default()).await;
    let channel = unique("garbage");
    let inject = async {
        let mut garbage = scenarios::not_events(&channel);
        // Shaped like what a replay stream's entries carry.
        garbage.extend([b"1-0 not json".to_vec(), b"nonsense-id {}".to_vec()]);
        let mut raw = routed();
        for payload in &garbage {
            let _: i64 = redis::cmd("SPUBLISH")
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
    for config in with_and_without_replay() {
        let (publisher, subscriber) = (bus(config.clone()).await, bus(config).await);
        scenarios::events_arrive_whole(&publisher, &subscriber, &[100 * 1024]).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_names_with_quotes_unicode_sql_and_hash_tag_braces_work() {
    for config in with_and_without_replay() {
        let publisher = bus(config.clone()).await;
        let subscriber = bus(config).await;
        let suffix = unique("");
        // Braces make a hash tag: `{}` and `}{` must not split a channel from its stream.
        let channels: Vec<String> = scenarios::AWKWARD_CHANNEL_NAMES
            .iter()
            .chain(&["*?[glob]", "{}", "}{", "a{tag}b", "{"])
            .map(|name| format!("{name}{suffix}"))
            .collect();
        scenarios::each_channel_round_trips(&publisher, &subscriber, &channels).await;
        subscriber.health_check().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_sharing_a_hash_tag_share_a_shard() {
    let bus = bus(RedisConfig::default().replay(100)).await;
    let tag = unique("tag");
    let channels = [format!("orders{{{tag}}}"), format!("invoices{{{tag}}}")];
    assert_eq!(
        keyslot(&format!("subcast:{}", channels[0])),
        keyslot(&format!("subcast:{}", channels[1]))
    );
    scenarios::each_channel_round_trips(&bus, &bus, &channels).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_cluster_urls_are_clear_errors() {
    let runtime = tokio_runtime();
    let quick = RedisConfig::default().timeout(Duration::from_millis(300));
    for (url, says) in [
        ("http://127.0.0.1:7001", "scheme"),
        ("not a url", "scheme"),
        ("redis+cluster://", "empty host"),
        ("redis+cluster://127.0.0.1:7001,,127.0.0.1:7002", "empty host"),
        ("redis+cluster://127.0.0.1", "no port"),
        ("redis+cluster://127.0.0.1:7001/3", "database 0"),
        ("redis://127.0.0.1:7001/3", "database 0"),
        ("rediss://127.0.0.1:7001", "TLS"),
    ] {
        let error = RedisClusterBus::connect(url, runtime.clone(), quick.clone())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("Redis Cluster") && error.contains(says),
            "{url}: {error}"
        );
    }
    let none: [&str; 0] = [];
    let error = RedisClusterBus::connect_seeds(&none, runtime.clone(), quick.clone())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("none given"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_cluster_is_an_error_naming_it_within_the_timeout() {
    let runtime = tokio_runtime();
    let quick = RedisConfig::default().timeout(Duration::from_millis(300));
    for (url, address) in [
        ("redis+cluster://127.0.0.1:1", "127.0.0.1:1"),
        ("redis+cluster://10.255.255.1:7001", "10.255.255.1:7001"),
    ] {
        let error = RedisClusterBus::connect(url, runtime.clone(), quick.clone())
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains(address), "{url}: {error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_seed_list_reaches_the_whole_cluster() {
    let publisher = RedisClusterBus::connect_seeds(
        &["redis://127.0.0.1:7003"],
        tokio_runtime(),
        RedisConfig::default(),
    )
    .await
    .unwrap();
    let subscriber =
        RedisClusterBus::connect("redis://127.0.0.1:7002", tokio_runtime(), RedisConfig::default())
            .await
            .unwrap();
    scenarios::each_channel_round_trips(&publisher, &subscriber, &channels_on_every_shard("seed")).await;
    publisher.health_check().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_replay_a_blocked_consumer_keeps_every_buffer_bounded_and_counts_what_it_lost() {
    let config = RedisConfig::default().buffers(BOUNDS.received, BOUNDS.stream);
    let publisher = bus(RedisConfig::default()).await;
    let subscriber = Arc::new(bus(config).await);
    scenarios::a_blocked_consumer_keeps_every_buffer_bounded(
        &tokio_runtime(),
        &publisher,
        subscriber,
        20_000,
        BOUNDS,
        AfterOverflow::CountedGaps,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_replay_a_blocked_consumer_keeps_every_buffer_bounded_and_receives_every_event() {
    let config = RedisConfig::default().replay(50_000);
    let publisher = bus(config.clone()).await;
    let subscriber = Arc::new(bus(config.buffers(BOUNDS.received, BOUNDS.stream)).await);
    scenarios::a_blocked_consumer_keeps_every_buffer_bounded(
        &tokio_runtime(),
        &publisher,
        subscriber,
        20_000,
        BOUNDS,
        AfterOverflow::EveryEvent,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_config_is_refused_naming_the_field() {
    let error = RedisClusterBus::connect(
        &cluster_url(),
        tokio_runtime(),
        RedisConfig::default().buffers(0, 16),
    )
    .await
    .unwrap_err();
    assert!(error.to_string().contains("received_capacity"), "{error}");
}

#[cfg(feature = "smol")]
#[test]
fn publish_and_subscribe_work_on_a_smol_runtime() {
    let runtime = smol_runtime();
    futures_lite::future::block_on(async {
        for config in with_and_without_replay() {
            let publisher = cluster_bus(runtime.clone(), config.clone()).await;
            let subscriber = cluster_bus(runtime.clone(), config).await;
            scenarios::events_arrive_whole(&publisher, &subscriber, &[10, 20_000]).await;
            subscriber.health_check().await.unwrap();
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_subscription_gets_exactly_what_it_missed_then_live_events() {
    let config = RedisConfig::default().replay(1000);
    let (bus_a, bus_b) = (bus(config.clone()).await, bus(config).await);
    scenarios::a_resumed_subscription_gets_exactly_what_it_missed_then_live_events(
        &tokio_runtime(),
        &bus_a,
        &bus_b,
    )
    .await;
}
