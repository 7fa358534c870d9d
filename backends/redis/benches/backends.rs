//! Publish → frame on a second node, over Redis, PostgreSQL and NATS on loopback.
//!
//! For each bus: node A publishes, node B's executor (fed by B's bus stream) queues the frame.
//! Latency is one event at a time (publish start → frame on B); throughput is 8 concurrent
//! publishers on A until B has every frame. Run with
//! `cargo bench -p subcast-redis --bench backends` (env `SUBCAST_REDIS_URL`,
//! `SUBCAST_POSTGRES_URL`, `SUBCAST_NATS_URL`, `SUBCAST_BENCH_EVENTS` to override the defaults). With
//! `--features cluster`, Redis Cluster rows too (env `SUBCAST_REDIS_CLUSTER_URL`, default
//! the three local nodes `scripts/cluster` starts).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::StreamExt;
use subcast_bus_testing::{tokio_runtime, unique};
use subcast_core::{Event, EventBus, ExecutorConfig, SubscriptionExecutor, SubscriptionRequest};
use subcast_nats::{JetStreamConfig, NatsBus, NatsConfig};
use subcast_postgres::{PostgresBus, PostgresConfig};
use subcast_redis::{RedisBus, RedisConfig};

struct Row {
    name: &'static str,
    p50: Duration,
    p99: Duration,
    per_second: f64,
}

async fn measure(
    name: &'static str,
    node_a: Arc<dyn EventBus>,
    node_b: Arc<dyn EventBus>,
    events: usize,
) -> Row {
    let runtime = tokio_runtime();
    let channel = unique("bench");
    let executor = Arc::new(SubscriptionExecutor::new(
        ExecutorConfig::default().allow_anonymous(true),
    ));
    let key = executor
        .register_subscription(
            SubscriptionRequest::new("bench", "1", "subscription { tick { n } }")
                .channels([channel.as_str()]),
        )
        .unwrap();
    let mut stream = node_b.subscribe(&channel).await.unwrap();
    {
        let executor = executor.clone();
        runtime.spawn(Box::pin(async move {
            while let Some(message) = stream.next().await {
                let _ = executor.dispatch_bus_message(&message);
            }
        }));
    }
    let queue = executor.response_queue(key).unwrap();
    let tick = |n: usize| {
        Arc::new(Event::new(
            "tick",
            channel.as_str(),
            serde_json::json!({ "n": n }),
        ))
    };

    let mut latencies = Vec::with_capacity(events);
    for n in 0..events + events / 10 {
        let start = Instant::now();
        node_a.publish(tick(n)).await.unwrap();
        queue.recv().await.unwrap();
        if n >= events / 10 {
            latencies.push(start.elapsed());
        }
    }
    latencies.sort_unstable();

    let start = Instant::now();
    let publishers: Vec<_> = (0..8)
        .map(|p| {
            let node_a = node_a.clone();
            let tick: Vec<_> = (0..events / 8).map(|n| tick(p * events + n)).collect();
            tokio::spawn(async move {
                for event in tick {
                    node_a.publish(event).await.unwrap();
                }
            })
        })
        .collect();
    for _ in 0..(events / 8) * 8 {
        queue.recv().await.unwrap();
    }
    for publisher in publishers {
        publisher.await.unwrap();
    }
    let per_second = ((events / 8) * 8) as f64 / start.elapsed().as_secs_f64();
    Row {
        name,
        p50: latencies[latencies.len() / 2],
        p99: latencies[latencies.len() * 99 / 100],
        per_second,
    }
}

fn main() {
    let events: usize = std::env::var("SUBCAST_BENCH_EVENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(5000);
    let redis_url =
        std::env::var("SUBCAST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let postgres_url = std::env::var("SUBCAST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let nats_url = std::env::var("SUBCAST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned());
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let rows =
        tokio.block_on(async {
            let runtime = tokio_runtime();
            let mut rows = Vec::new();
            let redis_node = |config: RedisConfig| {
                let (url, runtime) = (redis_url.clone(), runtime.clone());
                async move {
                    Arc::new(RedisBus::connect(&url, runtime, config).await.unwrap()) as Arc<dyn EventBus>
                }
            };
            let postgres_node = |config: PostgresConfig| {
                let (url, runtime) = (postgres_url.clone(), runtime.clone());
                async move {
                    Arc::new(PostgresBus::connect(&url, runtime, config).await.unwrap()) as Arc<dyn EventBus>
                }
            };
            for (name, config) in [
                ("redis (pub/sub)", RedisConfig::default()),
                ("redis (replay stream)", RedisConfig::default().replay(10_000)),
            ] {
                let (a, b) = (redis_node(config.clone()).await, redis_node(config).await);
                rows.push(measure(name, a, b, events).await);
            }
            #[cfg(feature = "cluster")]
            {
                let cluster_url = std::env::var("SUBCAST_REDIS_CLUSTER_URL").unwrap_or_else(|_| {
                    "redis+cluster://127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003".to_owned()
                });
                let cluster_node = |config: RedisConfig| {
                    let (url, runtime) = (cluster_url.clone(), runtime.clone());
                    async move {
                        let bus = subcast_redis::RedisClusterBus::connect(&url, runtime, config).await;
                        Arc::new(bus.unwrap()) as Arc<dyn EventBus>
                    }
                };
                for (name, config) in [
                    ("redis cluster (sharded pub/sub)", RedisConfig::default()),
                    (
                        "redis cluster (replay stream)",
                        RedisConfig::default().replay(10_000),
                    ),
                ] {
                    let (a, b) = (cluster_node(config.clone()).await, cluster_node(config).await);
                    rows.push(measure(name, a, b, events).await);
                }
            }
            for (name, config) in [
                ("postgres (default)", PostgresConfig::default()),
                (
                    "postgres (synchronous_commit on)",
                    PostgresConfig::default().synchronous_commit(true),
                ),
            ] {
                let (a, b) = (postgres_node(config.clone()).await, postgres_node(config).await);
                rows.push(measure(name, a, b, events).await);
            }
            let nats_node = |config: NatsConfig| {
                let (url, runtime) = (nats_url.clone(), runtime.clone());
                async move {
                    Arc::new(NatsBus::connect(&url, runtime, config).await.unwrap()) as Arc<dyn EventBus>
                }
            };
            let stream = unique("BENCH");
            for (name, config) in [
                ("nats (core)", NatsConfig::default()),
                (
                    "nats (jetstream replay)",
                    NatsConfig::default().jetstream(JetStreamConfig::default().stream(stream.clone())),
                ),
            ] {
                let (a, b) = (nats_node(config.clone()).await, nats_node(config).await);
                rows.push(measure(name, a, b, events).await);
            }
            if let Ok(client) = async_nats::connect(nats_url.as_str()).await {
                let _ = async_nats::jetstream::new(client).delete_stream(&stream).await;
            }
            rows
        });
    println!("publish on node A → frame on node B, {events} events, loopback");
    println!("{:<36} {:>10} {:>10} {:>12}", "bus", "p50", "p99", "events/s");
    for row in rows {
        println!(
            "{:<36} {:>8.3}ms {:>8.3}ms {:>12.0}",
            row.name,
            row.p50.as_secs_f64() * 1e3,
            row.p99.as_secs_f64() * 1e3,
            row.per_second
        );
    }
}
