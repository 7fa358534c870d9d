//! PostgresBus under a slow consumer, with configurations it must refuse, and with channel
//! names that could meet on one NOTIFY channel: every buffer stays within its bound, every
//! event is replayed from the outbox, distinct channels never share a notification.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use scenarios::{AfterOverflow, Bounds};
use sha2::{Digest, Sha256};
use subcast_core::EventBus;
use subcast_postgres::{PostgresBus, PostgresConfig};

async fn bus(config: PostgresConfig) -> PostgresBus {
    PostgresBus::connect(&postgres_url(), tokio_runtime(), config)
        .await
        .expect("connect to PostgreSQL")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_consumer_keeps_every_buffer_bounded_and_receives_every_event_from_the_outbox() {
    let bounds = Bounds {
        pump_inbox: 8,
        stream: 16,
        received: 8,
    };
    let publisher = bus(PostgresConfig::default()).await;
    let subscriber = Arc::new(bus(PostgresConfig::default().buffers(bounds.received, bounds.stream)).await);
    scenarios::a_blocked_consumer_keeps_every_buffer_bounded(
        &tokio_runtime(),
        &publisher,
        subscriber,
        5_000,
        bounds,
        AfterOverflow::EveryEvent,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_invalid_config_field_is_refused_by_connect_naming_the_field() {
    let mut cases: Vec<(&str, PostgresConfig)> = vec![
        ("timeout", PostgresConfig::default().timeout(Duration::ZERO)),
        (
            "reconnect.first",
            PostgresConfig::default().reconnect_backoff(Duration::ZERO, Duration::from_secs(1)),
        ),
        (
            "retention",
            PostgresConfig::default().retention(Some(Duration::MAX)),
        ),
        ("cleanup_interval", PostgresConfig::default()),
        ("schema", PostgresConfig::default().outbox("", "t")),
        (
            "table",
            PostgresConfig::default().outbox("public", "t".repeat(64)),
        ),
        ("table", PostgresConfig::default().outbox("public", "a\0b")),
        ("channel_prefix", PostgresConfig::default()),
        ("channel_prefix", PostgresConfig::default()),
        ("received_capacity", PostgresConfig::default().buffers(0, 16)),
        ("stream_capacity", PostgresConfig::default().buffers(16, 0)),
        ("reconnect.max", PostgresConfig::default()),
    ];
    cases[3].1.cleanup_interval = Duration::ZERO;
    cases[7].1.channel_prefix = "p".repeat(16);
    cases[8].1.channel_prefix = "a\0".to_owned();
    cases[11].1.reconnect.max = Duration::from_millis(1);
    cases[11].1.reconnect.first = Duration::from_millis(2);
    for (field, config) in cases {
        let error = PostgresBus::connect(&postgres_url(), tokio_runtime(), config)
            .await
            .expect_err(field)
            .to_string();
        assert!(error.contains(field), "{field}: {error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_longest_durations_are_accepted_and_the_bus_works() {
    let mut config = PostgresConfig::default()
        .timeout(Duration::MAX)
        .reconnect_backoff(Duration::MAX, Duration::MAX)
        .retention(Some(subcast_postgres::MAX_RETENTION))
        .buffers(usize::MAX, usize::MAX);
    config.cleanup_interval = Duration::MAX;
    let bus = bus(config).await;
    scenarios::every_stream_of_a_channel_receives_every_message_until_unsubscribed(&bus).await;
    assert_eq!(bus.clean_outbox().await.unwrap(), 0);
}

/// The literal name the old mapping gave a hashed channel: `#` and 160 bits of its SHA-256.
fn hash_name(channel: &str) -> String {
    let digest = Sha256::digest(channel.as_bytes());
    let hex: String = digest.iter().take(20).map(|b| format!("{b:02x}")).collect();
    format!("#{hex}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_channel_named_like_a_long_ones_hash_receives_only_its_own_events() {
    let bus = bus(PostgresConfig::default()).await;
    let long = unique(&"long".repeat(20));
    let short = hash_name(&long);
    let mut on_long = bus.subscribe(&long).await.unwrap();
    let mut on_short = bus.subscribe(&short).await.unwrap();
    for n in [1, 2] {
        bus.publish(counted(&long, n)).await.unwrap();
        bus.publish(counted(&short, n)).await.unwrap();
    }
    for (stream, channel) in [(&mut on_long, &long), (&mut on_short, &short)] {
        for n in [1, 2] {
            let event = next_event(stream).await;
            assert_eq!((&event.channel, event.data["n"].as_u64()), (channel, Some(n)));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsubscribing_one_of_two_look_alike_channels_keeps_the_other_listening() {
    let bus = bus(PostgresConfig::default()).await;
    let long = unique(&"long".repeat(20));
    let short = hash_name(&long);
    for leaving in [&short, &long] {
        let staying = if leaving == &short { &long } else { &short };
        let mut on_staying = bus.subscribe(staying).await.unwrap();
        let on_leaving = bus.subscribe(leaving).await.unwrap();
        bus.unsubscribe(leaving).await.unwrap();
        drop(on_leaving);
        bus.publish(counted(staying, 7)).await.unwrap();
        let event = next_event(&mut on_staying).await;
        assert_eq!((&event.channel, event.data["n"].as_u64()), (staying, Some(7)));
        bus.unsubscribe(staying).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_channel_names_each_receive_exactly_their_own_events() {
    let bus = bus(PostgresConfig::default()).await;
    let tag = unique("");
    // Names at and around the 63-byte limit (8 of it taken by the prefix), multi-byte
    // characters across it, hash look-alikes, the prefix itself, quotes and control characters.
    let mut names: Vec<String> = vec![
        "#".into(),
        "##".into(),
        format!("#{}", "0".repeat(40)),
        "subcast:".into(),
        "a#b".into(),
        "\"; LISTEN x; --".into(),
        "tab\tnew\nline".into(),
    ];
    for len in [54, 55, 56] {
        names.push(format!("{tag}{}", "x".repeat(len - tag.len())));
    }
    names.push(format!("{tag}{}", "é".repeat(20)));
    let names: Vec<String> = names
        .into_iter()
        .map(|name| {
            if name.len() > 40 {
                name
            } else {
                format!("{name}{tag}")
            }
        })
        .collect();
    let mut streams = Vec::new();
    for name in &names {
        streams.push(bus.subscribe(name).await.unwrap());
    }
    for (n, name) in names.iter().enumerate() {
        bus.publish(counted(name, n as u64)).await.unwrap();
    }
    for (n, (name, stream)) in names.iter().zip(&mut streams).enumerate() {
        let event = next_event(stream).await;
        assert_eq!((&event.channel, event.data["n"].as_u64()), (name, Some(n as u64)));
    }
    // Nothing else arrived: a last event on each is the very next message.
    for (name, stream) in names.iter().zip(&mut streams) {
        bus.publish(counted(name, 1000)).await.unwrap();
        assert_eq!(next_event(stream).await.data["n"], 1000, "{name:?}");
    }
}
