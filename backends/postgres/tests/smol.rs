//! PostgresBus on a smol runtime: sockets from async-net, tasks on an async-executor.
#![cfg(feature = "smol")]

mod common;

use common::*;
use subcast_core::EventBus;
use subcast_postgres::{PostgresBus, PostgresConfig};

#[test]
fn publish_and_subscribe_work_on_a_smol_runtime() {
    let runtime = smol_runtime();
    futures_lite::future::block_on(async {
        let publisher = PostgresBus::connect(&postgres_url(), runtime.clone(), PostgresConfig::default())
            .await
            .unwrap();
        let subscriber = PostgresBus::connect(&postgres_url(), runtime.clone(), PostgresConfig::default())
            .await
            .unwrap();
        // 20 000 bytes do not fit in a notification: the event travels through the outbox.
        scenarios::events_arrive_whole(&publisher, &subscriber, &[10, 20_000]).await;
        subscriber.health_check().await.unwrap();
    });
}
