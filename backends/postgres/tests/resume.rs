//! Resume from a client's cursor on PostgreSQL: the outbox is the history.

mod common;

use common::*;
use subcast_postgres::{PostgresBus, PostgresConfig};

async fn bus() -> PostgresBus {
    PostgresBus::connect(&postgres_url(), tokio_runtime(), PostgresConfig::default())
        .await
        .expect("connect to PostgreSQL")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_subscription_gets_exactly_what_it_missed_then_live_events() {
    let (bus_a, bus_b) = (bus().await, bus().await);
    scenarios::a_resumed_subscription_gets_exactly_what_it_missed_then_live_events(
        &tokio_runtime(),
        &bus_a,
        &bus_b,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_older_than_the_cleaned_outbox_gets_a_gap_first() {
    let bus = bus().await;
    // What the outbox cleanup does to expired rows: delete them but the newest, whose
    // payload it empties as the marker of the loss.
    let forget = |channel: String| async move {
        let client = raw_client().await;
        let cleaned = "WITH newest AS (SELECT max(id) AS id FROM subcast_outbox WHERE channel = $1),
                deleted AS (DELETE FROM subcast_outbox WHERE channel = $1 AND id < (SELECT id FROM newest))
            UPDATE subcast_outbox SET payload = ''::bytea WHERE id = (SELECT id FROM newest)";
        client
            .execute(cleaned, &[&channel])
            .await
            .expect("clean the outbox");
    };
    scenarios::a_cursor_older_than_the_history_gets_a_gap_first(&tokio_runtime(), &bus, forget).await;
}
