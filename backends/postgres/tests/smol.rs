//! PostgresBus on a smol runtime: sockets from async-net, tasks on an async-executor.
#![cfg(feature = "smol")]

mod common;

use std::sync::Arc;

use common::*;
use serde_json::json;
use subcast_core::{Event, EventBus};
use subcast_postgres::{PostgresBus, PostgresConfig};

#[test]
fn publish_and_subscribe_work_on_a_smol_runtime() {
    let runtime = SmolTestRuntime::start();
    futures_lite::future::block_on(async {
        let publisher = PostgresBus::connect(&postgres_url(), runtime.clone(), PostgresConfig::default())
            .await
            .unwrap();
        let subscriber = PostgresBus::connect(&postgres_url(), runtime.clone(), PostgresConfig::default())
            .await
            .unwrap();
        let channel = unique("smol");
        let mut stream = subscriber.subscribe(&channel).await.unwrap();
        for size in [10, 20_000] {
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
        subscriber.health_check().await.unwrap();
    });
}
