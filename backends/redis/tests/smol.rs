//! RedisBus on a smol runtime: sockets from async-net, tasks on an async-executor.
#![cfg(feature = "smol")]

mod common;

use std::sync::Arc;

use common::*;
use serde_json::json;
use subcast_core::{Event, EventBus};
use subcast_redis::{RedisBus, RedisConfig};

#[test]
fn publish_and_subscribe_work_on_a_smol_runtime() {
    let runtime = SmolTestRuntime::start();
    futures_lite::future::block_on(async {
        for config in [RedisConfig::default(), RedisConfig::default().replay(100)] {
            let publisher = RedisBus::connect(&redis_url(), runtime.clone(), config.clone())
                .await
                .unwrap();
            let subscriber = RedisBus::connect(&redis_url(), runtime.clone(), config)
                .await
                .unwrap();
            let channel = unique("smol");
            let mut stream = subscriber.subscribe(&channel).await.unwrap();
            publisher
                .publish(Arc::new(Event::new(
                    "counted",
                    channel.as_str(),
                    json!({ "n": 1 }),
                )))
                .await
                .unwrap();
            assert_eq!(next_event(&mut stream).await.data["n"], 1);
            subscriber.health_check().await.unwrap();
        }
    });
}
