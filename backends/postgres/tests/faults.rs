//! PostgresBus survives its listening session being terminated mid-stream.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::json;
use subcast_core::{Event, EventBus};
use subcast_postgres::{PostgresBus, PostgresConfig};

async fn bus(name: &str) -> PostgresBus {
    PostgresBus::connect(&named_url(name), tokio_runtime(), PostgresConfig::default())
        .await
        .expect("connect to PostgreSQL")
}

/// Terminate the listening session of bus `name`, returning once it has ended.
async fn terminate_listener(name: &str) {
    let killed: i64 = raw_client()
        .await
        .query_one(
            "SELECT count(*) FILTER (WHERE ended) FROM (SELECT pg_terminate_backend(pid, 20000) AS ended FROM pg_stat_activity WHERE application_name = $1) t",
            &[&format!("{name}:listener")],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(killed, 1, "the listening session of {name} was not found");
}

/// Every tenth event is too large for a notification and goes by outbox key.
fn counted(channel: &str, n: u64) -> Arc<Event> {
    let padding = if n % 10 == 0 {
        "p".repeat(9000)
    } else {
        String::new()
    };
    Arc::new(Event::new(
        "counted",
        channel,
        json!({ "n": n, "padding": padding }),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_is_delivered_once_and_in_order_across_a_terminated_listening_session() {
    const EVENTS: u64 = 2000;
    let name = unique("subcast-fault");
    let publisher = Arc::new(bus(&unique("subcast-publisher")).await);
    let subscriber = bus(&name).await;
    let channel = unique("replayed");
    let mut stream = subscriber.subscribe(&channel).await.unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let publishing = {
        let (publisher, channel, stop) = (publisher.clone(), channel.clone(), stop.clone());
        tokio::spawn(async move {
            for n in 0..EVENTS {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                publisher.publish(counted(&channel, n)).await.expect("publish");
            }
        })
    };
    for expected in 0..EVENTS {
        let message = next(&mut stream).await;
        assert_eq!(sequence(&message), Some(expected), "got {message:?}");
        if expected == 100 || expected == 1000 {
            terminate_listener(&name).await;
        }
    }
    publishing.await.unwrap();
    // Nothing more: the witness published last is the very next message.
    publisher.publish(counted(&channel, EVENTS)).await.unwrap();
    assert_eq!(sequence(&next(&mut stream).await), Some(EVENTS));
    assert!(subscriber.stats().reconnects >= 2);
    subscriber.health_check().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_publishers_on_one_channel_reach_every_node_in_the_same_order() {
    let channel = unique("concurrent");
    let (node_a, node_b) = (bus(&unique("subcast-a")).await, bus(&unique("subcast-b")).await);
    let mut on_a = node_a.subscribe(&channel).await.unwrap();
    let mut on_b = node_b.subscribe(&channel).await.unwrap();
    let publishers: Vec<_> = (0..4u64)
        .map(|p| {
            let channel = channel.clone();
            tokio::spawn(async move {
                let publisher = bus(&unique("subcast-p")).await;
                for n in 0..100 {
                    publisher.publish(counted(&channel, p * 1000 + n)).await.unwrap();
                }
            })
        })
        .collect();
    for publisher in publishers {
        publisher.await.unwrap();
    }
    let mut orders = [Vec::new(), Vec::new()];
    for (stream, order) in [&mut on_a, &mut on_b].into_iter().zip(orders.iter_mut()) {
        for _ in 0..400 {
            order.push(sequence(&next(stream).await).unwrap());
        }
    }
    assert_eq!(orders[0], orders[1]);
    let mut sorted = orders[0].clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), 400, "every event exactly once");
}

/// A bus named `name` on an outbox table of its own whose cleanup deletes every row.
async fn cleaning_bus(name: &str, table: &str) -> PostgresBus {
    let mut config = PostgresConfig::default()
        .outbox("public", table)
        .retention(Some(Duration::ZERO));
    // Cleanups run when the test says.
    config.cleanup_interval = Duration::from_secs(3600);
    PostgresBus::connect(&named_url(name), tokio_runtime(), config)
        .await
        .expect("connect to PostgreSQL")
}

async fn drop_table(table: &str) {
    raw_client()
        .await
        .batch_execute(&format!("DROP TABLE \"{table}\""))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_committed_after_a_newer_row_of_another_channel_reaches_a_node_that_subscribed_meanwhile() {
    let table = unique("subcast_outbox_race").replace('-', "_");
    let subscriber = cleaning_bus(&unique("subcast-race"), &table).await;
    let (busy, other) = (unique("busy"), unique("other"));
    let insert = format!("INSERT INTO \"{table}\" (channel, payload) VALUES ($1, $2) RETURNING id");

    // A publisher of `busy` holds its row (the lower id) uncommitted...
    let mut slow = raw_client().await;
    let transaction = slow.transaction().await.unwrap();
    let id: i64 = transaction
        .query_one(&insert, &[&busy, &counted(&busy, 1).to_wire()])
        .await
        .unwrap()
        .get(0);
    // ...while a row of another channel, with a higher id, is committed.
    raw_client()
        .await
        .query_one(&insert, &[&other, &counted(&other, 2).to_wire()])
        .await
        .unwrap();
    let mut stream = subscriber.subscribe(&busy).await.unwrap();
    transaction
        .execute(
            "SELECT pg_notify($1::text, $2::text)",
            &[&format!("subcast:{busy}"), &id.to_string()],
        )
        .await
        .unwrap();
    transaction.commit().await.unwrap();

    assert_eq!(sequence(&next(&mut stream).await), Some(1));
    drop(subscriber);
    drop_table(&table).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_channel_reports_no_gap_after_a_cleanup_and_a_reconnection() {
    let table = unique("subcast_outbox_quiet").replace('-', "_");
    let name = unique("subcast-quiet");
    let subscriber = cleaning_bus(&name, &table).await;
    let (quiet, busy) = (unique("quiet"), unique("busy"));
    let mut stream = subscriber.subscribe(&quiet).await.unwrap();
    subscriber.publish(counted(&quiet, 1)).await.unwrap();
    assert_eq!(sequence(&next(&mut stream).await), Some(1));
    subscriber.publish(counted(&busy, 2)).await.unwrap();
    assert_eq!(subscriber.clean_outbox().await.unwrap(), 2);

    terminate_listener(&name).await;
    subscriber.publish(counted(&quiet, 3)).await.unwrap();

    let message = next(&mut stream).await;
    assert_eq!(sequence(&message), Some(3), "got {message:?}");
    assert!(subscriber.stats().reconnects >= 1);
    drop(subscriber);
    drop_table(&table).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_the_cleanup_deleted_before_a_node_read_them_are_reported_as_a_gap() {
    let table = unique("subcast_outbox_deleted").replace('-', "_");
    let name = unique("subcast-deleted");
    let subscriber = cleaning_bus(&name, &table).await;
    let channel = unique("deleted");
    let mut stream = subscriber.subscribe(&channel).await.unwrap();
    // An event the node never hears of (no notification), then deleted.
    raw_client()
        .await
        .execute(
            &format!("INSERT INTO \"{table}\" (channel, payload) VALUES ($1, $2)"),
            &[&channel, &counted(&channel, 1).to_wire()],
        )
        .await
        .unwrap();
    assert_eq!(subscriber.clean_outbox().await.unwrap(), 1);

    terminate_listener(&name).await;
    subscriber.publish(counted(&channel, 2)).await.unwrap();

    let gap = next(&mut stream).await;
    assert_eq!(sequence(&gap), None, "got {gap:?}");
    assert_eq!(sequence(&next(&mut stream).await), Some(2));
    drop(subscriber);
    drop_table(&table).await;
}
