//! RedisBus under a slow consumer, and with configurations it must refuse: every buffer
//! stays within its bound, losses are replayed or counted, nothing panics.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use scenarios::{AfterOverflow, Bounds};
use subcast_redis::{RedisBus, RedisConfig};

const BOUNDS: Bounds = Bounds {
    pump_inbox: 8,
    stream: 16,
    received: 8,
};

async fn bus(config: RedisConfig) -> RedisBus {
    RedisBus::connect(&redis_url(), tokio_runtime(), config)
        .await
        .expect("connect to Redis")
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
async fn every_invalid_config_field_is_refused_by_connect_naming_the_field() {
    let mut cases: Vec<(&str, RedisConfig)> = vec![
        ("timeout", RedisConfig::default().timeout(Duration::ZERO)),
        (
            "reconnect.first",
            RedisConfig::default().reconnect_backoff(Duration::ZERO, Duration::from_secs(1)),
        ),
        ("replay_len", RedisConfig::default()),
        ("replay_len", RedisConfig::default()),
        ("received_capacity", RedisConfig::default().buffers(0, 16)),
        ("stream_capacity", RedisConfig::default().buffers(16, 0)),
        ("reconnect.max", RedisConfig::default()),
    ];
    cases[2].1.replay_len = Some(0);
    cases[3].1.replay_len = Some(usize::MAX);
    cases[6].1.reconnect.max = Duration::from_millis(1);
    cases[6].1.reconnect.first = Duration::from_millis(2);
    for (field, config) in cases {
        let error = RedisBus::connect(&redis_url(), tokio_runtime(), config)
            .await
            .expect_err(field)
            .to_string();
        assert!(error.contains(field), "{field}: {error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_longest_durations_are_accepted_and_the_bus_works() {
    let config = RedisConfig::default()
        .timeout(Duration::MAX)
        .reconnect_backoff(Duration::MAX, Duration::MAX)
        .replay(i64::MAX as usize)
        .buffers(usize::MAX, usize::MAX);
    let bus = bus(config).await;
    scenarios::every_stream_of_a_channel_receives_every_message_until_unsubscribed(&bus).await;
}
