//! RedisBus on a smol runtime: sockets from async-net, tasks on an async-executor.
#![cfg(feature = "smol")]

mod common;

use common::*;
use subcast_core::EventBus;
use subcast_redis::{RedisBus, RedisConfig};

#[test]
fn publish_and_subscribe_work_on_a_smol_runtime() {
    let runtime = smol_runtime();
    futures_lite::future::block_on(async {
        for config in [RedisConfig::default(), RedisConfig::default().replay(100)] {
            let publisher = RedisBus::connect(&redis_url(), runtime.clone(), config.clone())
                .await
                .unwrap();
            let subscriber = RedisBus::connect(&redis_url(), runtime.clone(), config)
                .await
                .unwrap();
            scenarios::events_arrive_whole(&publisher, &subscriber, &[10, 20_000]).await;
            subscriber.health_check().await.unwrap();
        }
    });
}
