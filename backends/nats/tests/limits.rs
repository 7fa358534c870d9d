//! NatsBus under a slow consumer, and with configurations it must refuse: every buffer
//! stays within its bound, losses are replayed or counted, nothing panics.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use scenarios::{AfterOverflow, Bounds};
use subcast_nats::{JetStreamConfig, NatsBus, NatsConfig};

const BOUNDS: Bounds = Bounds {
    pump_inbox: 8,
    stream: 16,
    received: 8,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_jetstream_a_blocked_consumer_keeps_every_buffer_bounded_and_counts_what_it_lost() {
    let config = isolated(false);
    let publisher = bus(config.clone()).await;
    let subscriber = Arc::new(bus(config.buffers(BOUNDS.received, BOUNDS.stream)).await);
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
async fn with_jetstream_a_blocked_consumer_keeps_every_buffer_bounded_and_receives_every_event() {
    let config = isolated(true);
    let publisher = bus(config.clone()).await;
    let subscriber = Arc::new(bus(config.clone().buffers(BOUNDS.received, BOUNDS.stream)).await);
    scenarios::a_blocked_consumer_keeps_every_buffer_bounded(
        &tokio_runtime(),
        &publisher,
        subscriber,
        3_000,
        BOUNDS,
        AfterOverflow::EveryEvent,
    )
    .await;
    drop_stream(&nats_url(), &config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_invalid_config_field_is_refused_by_connect_naming_the_field() {
    let js = JetStreamConfig::default();
    let mut cases: Vec<(&str, NatsConfig)> = vec![
        ("timeout", NatsConfig::default().timeout(Duration::ZERO)),
        (
            "reconnect.first",
            NatsConfig::default().reconnect_backoff(Duration::ZERO, Duration::from_secs(1)),
        ),
        ("received_capacity", NatsConfig::default().buffers(0, 16)),
        ("stream_capacity", NatsConfig::default().buffers(16, 0)),
        ("prefix", NatsConfig::default().prefix("a.>")),
        ("prefix", NatsConfig::default().prefix("")),
        (
            "token",
            NatsConfig::default().token("t").credentials_file("x.creds"),
        ),
        ("token", NatsConfig::default().token("")),
        (
            "jetstream.stream",
            NatsConfig::default().jetstream(js.clone().stream("a.b")),
        ),
        (
            "jetstream.stream",
            NatsConfig::default().jetstream(js.clone().stream("")),
        ),
        (
            "jetstream.max_age",
            NatsConfig::default().jetstream(js.clone().max_age(Duration::ZERO)),
        ),
        (
            "jetstream.max_age",
            NatsConfig::default().jetstream(js.clone().max_age(Duration::MAX)),
        ),
        (
            "jetstream.max_messages",
            NatsConfig::default().jetstream(js.clone().max_messages(0)),
        ),
        (
            "jetstream.max_bytes",
            NatsConfig::default().jetstream(js.clone().max_bytes(u64::MAX)),
        ),
    ];
    cases.push(("reconnect.max", NatsConfig::default()));
    if let Some((_, config)) = cases.last_mut() {
        config.reconnect.max = Duration::from_millis(1);
        config.reconnect.first = Duration::from_millis(2);
    }
    for (field, config) in cases {
        let error = NatsBus::connect(&nats_url(), tokio_runtime(), config)
            .await
            .expect_err(field)
            .to_string();
        assert!(error.contains(field), "{field}: {error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_longest_durations_and_buffers_are_accepted_and_the_bus_works() {
    let config = isolated(false)
        .timeout(Duration::MAX)
        .reconnect_backoff(Duration::MAX, Duration::MAX)
        .buffers(usize::MAX, usize::MAX);
    let bus = bus(config).await;
    scenarios::every_stream_of_a_channel_receives_every_message_until_unsubscribed(&bus).await;
}
