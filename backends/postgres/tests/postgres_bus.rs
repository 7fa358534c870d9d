//! PostgresBus against the real server: delivery across nodes, outbox, bad input, construction.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use subcast_core::BoxFuture;
use subcast_core::{Event, EventBus, Runtime};
use subcast_postgres::{PostgresBus, PostgresConfig};

async fn bus(config: PostgresConfig) -> PostgresBus {
    PostgresBus::connect(&postgres_url(), tokio_runtime(), config)
        .await
        .expect("connect to PostgreSQL")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_published_on_one_node_reaches_every_subscriber_on_every_node_once() {
    let (bus_a, bus_b) = (
        bus(PostgresConfig::default()).await,
        bus(PostgresConfig::default()).await,
    );
    scenarios::an_event_reaches_every_subscriber_on_every_node_once(&tokio_runtime(), &bus_a, &bus_b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stream_of_a_channel_receives_every_message_until_unsubscribed() {
    let bus = bus(PostgresConfig::default()).await;
    scenarios::every_stream_of_a_channel_receives_every_message_until_unsubscribed(&bus).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_that_are_not_subcast_events_are_counted_and_skipped() {
    let bus = bus(PostgresConfig::default()).await;
    let channel = unique("garbage");
    let mut stream = bus.subscribe(&channel).await.unwrap();
    // Once an event has arrived, the subscription's first replay is behind us and the
    // notifications below are handled in the order they were sent.
    bus.publish(counted(&channel, 0)).await.unwrap();
    assert_eq!(next_event(&mut stream).await.data["n"], 0);
    let mut wrong_version: serde_json::Value =
        serde_json::from_slice(&counted(&channel, 0).to_wire()).unwrap();
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
    bus.publish(counted(&channel, 42)).await.unwrap();
    assert_eq!(next_event(&mut stream).await.data["n"], 42);
    assert_eq!(bus.stats().invalid_messages, garbage.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_too_large_for_a_notification_travel_through_the_outbox() {
    let publisher = bus(PostgresConfig::default()).await;
    let subscriber = bus(PostgresConfig::default()).await;
    scenarios::events_arrive_whole(&publisher, &subscriber, &[100 * 1024, 7950, 8000, 10]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_names_with_quotes_spaces_unicode_sql_and_any_length_work_and_harm_nothing() {
    let publisher = bus(PostgresConfig::default()).await;
    let subscriber = bus(PostgresConfig::default()).await;
    let suffix = unique("");
    let long = "ü".repeat(100);
    let channels: Vec<String> = scenarios::AWKWARD_CHANNEL_NAMES
        .iter()
        .chain(&["'); DELETE FROM subcast_outbox; --", long.as_str()])
        .map(|name| format!("{name}{suffix}"))
        .collect();
    scenarios::each_channel_round_trips(&publisher, &subscriber, &channels).await;
    // Two long names sharing their first 63 bytes stay apart.
    let (a, b) = (format!("{long}{suffix}-a"), format!("{long}{suffix}-b"));
    let mut on_a = subscriber.subscribe(&a).await.unwrap();
    let mut on_b = subscriber.subscribe(&b).await.unwrap();
    publisher.publish(counted(&b, 2)).await.unwrap();
    publisher.publish(counted(&a, 3)).await.unwrap();
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
    let runtime = tokio_runtime();
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
        keeping.publish(counted(&channel, n)).await.unwrap();
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

/// A runtime that counts the tasks it is still driving and the hour-long sleeps it started.
#[derive(Debug)]
struct CountingRuntime {
    inner: Arc<dyn Runtime>,
    counts: Arc<RuntimeCounts>,
}

#[derive(Debug, Default)]
struct RuntimeCounts {
    running_tasks: AtomicUsize,
    hour_long_sleeps: AtomicUsize,
    changed: event_listener::Event,
}

impl RuntimeCounts {
    /// Wait until `done` holds, checking it again whenever a count changes.
    async fn wait_until(&self, what: &str, done: impl Fn(&RuntimeCounts) -> bool) {
        within(PATIENCE, what, async {
            loop {
                let changed = self.changed.listen();
                if done(self) {
                    return;
                }
                changed.await;
            }
        })
        .await;
    }
}

/// Held by a spawned task: counts it as running until it ends or is dropped.
struct TaskGuard(Arc<RuntimeCounts>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.running_tasks.fetch_sub(1, Ordering::SeqCst);
        self.0.changed.notify(usize::MAX);
    }
}

impl Runtime for CountingRuntime {
    fn spawn(&self, future: BoxFuture<'static, ()>) {
        self.counts.running_tasks.fetch_add(1, Ordering::SeqCst);
        let guard = TaskGuard(self.counts.clone());
        self.inner.spawn(Box::pin(async move {
            let _guard = guard;
            future.await;
        }));
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        if duration >= Duration::from_secs(3600) {
            self.counts.hour_long_sleeps.fetch_add(1, Ordering::SeqCst);
            self.counts.changed.notify(usize::MAX);
        }
        self.inner.sleep(duration)
    }

    fn now(&self) -> Instant {
        self.inner.now()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_bus_ends_its_cleanup_task_without_waiting_for_the_interval() {
    let counts = Arc::new(RuntimeCounts::default());
    let runtime = Arc::new(CountingRuntime {
        inner: tokio_runtime(),
        counts: counts.clone(),
    });
    let mut config = PostgresConfig::default().retention(Some(Duration::from_secs(3600)));
    config.cleanup_interval = Duration::from_secs(3600);
    let bus = PostgresBus::connect(&postgres_url(), runtime, config)
        .await
        .expect("connect to PostgreSQL");
    counts
        .wait_until("the cleanup task waiting for its interval", |c| {
            c.hour_long_sleeps.load(Ordering::SeqCst) > 0
        })
        .await;
    drop(bus);
    counts
        .wait_until("every task of the dropped bus ending", |c| {
            c.running_tasks.load(Ordering::SeqCst) == 0
        })
        .await;
}
