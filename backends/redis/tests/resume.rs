//! Resume from a client's cursor on Redis with replay, single node and cluster.

mod common;

use common::*;
use subcast_redis::{RedisBus, RedisConfig};

fn replaying() -> RedisConfig {
    RedisConfig::default().replay(1000)
}

async fn bus() -> RedisBus {
    RedisBus::connect(&redis_url(), tokio_runtime(), replaying())
        .await
        .expect("connect to Redis")
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
async fn a_cursor_older_than_the_trimmed_stream_gets_a_gap_first() {
    let bus = bus().await;
    let forget = |channel: String| async move {
        let mut connection = redis::Client::open(redis_url())
            .and_then(|client| client.get_connection())
            .expect("raw Redis connection");
        let _: i64 = redis::cmd("XTRIM")
            .arg(format!("subcast:{channel}"))
            .arg("MAXLEN")
            .arg(0)
            .query(&mut connection)
            .expect("XTRIM");
    };
    scenarios::a_cursor_older_than_the_history_gets_a_gap_first(&tokio_runtime(), &bus, forget).await;
}
