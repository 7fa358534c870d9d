//! PostgresBus against the real server: delivery across nodes, outbox, bad input, construction.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::json;
use subcast_core::{Event, EventBus, ExecutorConfig, SubscriptionExecutor, SubscriptionRequest};
use subcast_postgres::{PostgresBus, PostgresConfig};

async fn bus(config: PostgresConfig) -> PostgresBus {
    PostgresBus::connect(&postgres_url(), TokioTestRuntime::current(), config)
        .await
        .expect("connect to PostgreSQL")
}

fn event(channel: &str, n: u64) -> Arc<Event> {
    Arc::new(Event::new("counted", channel, json!({ "n": n })))
}

fn subscribe_request(connection: &str, channel: &str) -> SubscriptionRequest {
    SubscriptionRequest::new(connection, "1", "subscription { counted { n } }").channels([channel])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_published_on_one_node_reaches_every_subscriber_on_every_node_once() {
    let runtime = TokioTestRuntime::current();
    let channel = unique("two-nodes");
    let (bus_a, bus_b) = (
        bus(PostgresConfig::default()).await,
        bus(PostgresConfig::default()).await,
    );
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
    // A second event is the witness: a duplicate of the first would come before it.
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stream_of_a_channel_receives_every_message_until_unsubscribed() {
    let bus = bus(PostgresConfig::default()).await;
    let channel = unique("fan");
    let mut first = bus.subscribe(&channel).await.unwrap();
    let mut second = bus.subscribe(&channel).await.unwrap();
    assert_eq!(bus.stats().subscribed_channels, 1);
    bus.publish(event(&channel, 7)).await.unwrap();
    assert_eq!(next_event(&mut first).await.data["n"], 7);
    assert_eq!(next_event(&mut second).await.data["n"], 7);
    bus.unsubscribe(&channel).await.unwrap();
    assert!(
        within(PATIENCE, "stream end", futures_lite::StreamExt::next(&mut first))
            .await
            .is_none()
    );
    assert_eq!(bus.stats().subscribed_channels, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_that_are_not_subcast_events_are_counted_and_skipped() {
    let bus = bus(PostgresConfig::default()).await;
    let channel = unique("garbage");
    let mut stream = bus.subscribe(&channel).await.unwrap();
    // Once an event has arrived, the subscription's first replay is behind us and the
    // notifications below are handled in the order they were sent.
    bus.publish(event(&channel, 0)).await.unwrap();
    assert_eq!(next_event(&mut stream).await.data["n"], 0);
    let mut wrong_version: serde_json::Value = serde_json::from_slice(&event(&channel, 0).to_wire()).unwrap();
    wrong_version["v"] = json!(99);
    let other_channel = String::from_utf8(Event::new("t", "elsewhere", json!({})).to_wire()).unwrap();
    // Ids far beyond any real row, so none of these can pass for an event already delivered.
    let garbage = [
        "garbage".to_owned(),
        "{\"v\":1}".to_owned(),
        "-1".to_owned(),
        "9000000000000000000:not json".to_owned(),
        format!("9000000000000000001:{wrong_version}"),
        "9000000000000000002".to_owned(),
        format!("9000000000000000003:{other_channel}"),
    ];
    let raw = raw_client().await;
    for payload in &garbage {
        raw.execute(
            "SELECT pg_notify($1, $2)",
            &[&format!("subcast:{channel}"), payload],
        )
        .await
        .unwrap();
    }
    bus.publish(event(&channel, 42)).await.unwrap();
    assert_eq!(next_event(&mut stream).await.data["n"], 42);
    assert_eq!(bus.stats().invalid_messages, garbage.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_too_large_for_a_notification_travel_through_the_outbox() {
    let publisher = bus(PostgresConfig::default()).await;
    let subscriber = bus(PostgresConfig::default()).await;
    let channel = unique("large");
    let mut stream = subscriber.subscribe(&channel).await.unwrap();
    for size in [100 * 1024, 7950, 8000, 10] {
        let blob = "x".repeat(size);
        publisher
            .publish(Arc::new(Event::new(
                "big",
                channel.as_str(),
                json!({ "blob": blob }),
            )))
            .await
            .unwrap();
        assert_eq!(
            next_event(&mut stream).await.data["blob"].as_str().unwrap().len(),
            size
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_names_with_quotes_spaces_unicode_sql_and_any_length_work_and_harm_nothing() {
    let publisher = bus(PostgresConfig::default()).await;
    let subscriber = bus(PostgresConfig::default()).await;
    let suffix = unique("");
    let long = "ü".repeat(100);
    for name in [
        "it's \"quoted\"",
        "with spaces",
        "ünïcødé ✓ 频道",
        "\"; DROP TABLE x; --",
        "'); DELETE FROM subcast_outbox; --",
        long.as_str(),
    ] {
        let channel = format!("{name}{suffix}");
        let mut stream = subscriber.subscribe(&channel).await.unwrap();
        publisher.publish(event(&channel, 1)).await.unwrap();
        assert_eq!(next_event(&mut stream).await.channel, channel);
    }
    // Two long names sharing their first 63 bytes stay apart.
    let (a, b) = (format!("{long}{suffix}-a"), format!("{long}{suffix}-b"));
    let mut on_a = subscriber.subscribe(&a).await.unwrap();
    let mut on_b = subscriber.subscribe(&b).await.unwrap();
    publisher.publish(event(&b, 2)).await.unwrap();
    publisher.publish(event(&a, 3)).await.unwrap();
    assert_eq!(next_event(&mut on_a).await.data["n"], 3);
    assert_eq!(next_event(&mut on_b).await.data["n"], 2);
    let outbox_rows: i64 = raw_client()
        .await
        .query_one(
            "SELECT count(*) FROM subcast_outbox WHERE channel LIKE '%' || $1",
            &[&format!("{suffix}-a")],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(outbox_rows, 1);
    subscriber.health_check().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_url_or_an_unreachable_server_is_a_clear_error() {
    let runtime = TokioTestRuntime::current();
    let quick = PostgresConfig::default().timeout(Duration::from_millis(300));
    for url in ["redis://127.0.0.1", "not a url", "postgres://h:notaport/db"] {
        let error = PostgresBus::connect(url, runtime.clone(), quick.clone())
            .await
            .unwrap_err();
        assert!(error.to_string().contains("PostgreSQL URL"), "{url}: {error}");
    }
    let refused = PostgresBus::connect(
        "postgres://postgres@127.0.0.1:1/test",
        runtime.clone(),
        quick.clone(),
    )
    .await
    .unwrap_err();
    assert!(refused.to_string().contains("127.0.0.1:1"), "{refused}");
    // A blackholed address must end in the configured timeout, not hang.
    let silent = PostgresBus::connect(
        "postgres://postgres@10.255.255.1/test",
        runtime.clone(),
        quick.clone(),
    )
    .await
    .unwrap_err();
    assert!(silent.to_string().contains("10.255.255.1"), "{silent}");
    let no_database = PostgresBus::connect(
        "postgres://postgres@127.0.0.1/no_such_database_here",
        runtime,
        quick,
    )
    .await
    .unwrap_err();
    assert!(
        no_database.to_string().contains("no_such_database_here"),
        "{no_database}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_older_than_the_retention_are_deleted_from_the_outbox() {
    let table = unique("subcast_outbox_retention").replace('-', "_");
    let config = PostgresConfig::default().outbox("public", table.as_str());
    let keeping = bus(config.clone().retention(None)).await;
    let channel = unique("retained");
    for n in 0..3 {
        keeping.publish(event(&channel, n)).await.unwrap();
    }
    assert_eq!(keeping.clean_outbox().await.unwrap(), 0);
    let cleaning = bus(config.retention(Some(Duration::ZERO))).await;
    assert_eq!(cleaning.clean_outbox().await.unwrap(), 3);
    raw_client()
        .await
        .batch_execute(&format!("DROP TABLE \"{table}\""))
        .await
        .unwrap();
}
