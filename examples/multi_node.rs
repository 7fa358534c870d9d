//! Two nodes sharing one bus: Redis or PostgreSQL, chosen by URL.
//!
//! Each node is an executor with its own bus connection and event pump, as separate server
//! processes would have. A subscriber on each node; events published on node A reach both,
//! each exactly once: A's subscriber through `publish`'s local dispatch, B's through the bus.
//!
//! Run: `cargo run --example multi_node --features redis,postgres -- redis://127.0.0.1:6379`
//!  or: `cargo run --example multi_node --features redis,postgres -- postgres://postgres@127.0.0.1/test`

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use subcast::{
    Error, Event, EventBus, EventPump, PostgresBus, PostgresConfig, PumpConfig, RedisBus, RedisConfig,
    Runtime, SecurityContext, SubscriptionExecutor, SubscriptionKey, SubscriptionRequest, TokioRuntime,
};

const EVENTS: usize = 3;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned());
    let runtime: Arc<dyn Runtime> = Arc::new(TokioRuntime::current());
    // A channel of this run only, so runs never see each other's events.
    let channel = format!("users-{:x}", std::process::id());

    let mut nodes = Vec::new();
    for name in ["A", "B"] {
        let bus = connect(&url, runtime.clone()).await?;
        let executor = Arc::new(SubscriptionExecutor::default());
        let request =
            SubscriptionRequest::new(format!("ws-{name}"), "1", "subscription { users { id name } }")
                .channels([channel.as_str()])
                .security_context(SecurityContext::new(format!("viewer-{name}")).with_tenant("acme"));
        let key = executor.register_subscription(request)?;
        let pump = EventPump::start(executor.clone(), bus, runtime.clone(), PumpConfig::default());
        if !pump.channel_ready(&channel).await {
            return Err(Error::Closed("event pump"));
        }
        nodes.push((name, executor, key, pump));
    }

    for (n, who) in ["Ada", "Grace", "Edsger"].into_iter().enumerate().take(EVENTS) {
        let data = json!({"id": n.to_string(), "name": who});
        let event = Event::new("userCreated", channel.as_str(), data).with_tenant("acme");
        nodes[0].3.publish(Arc::new(event)).await?;
    }

    for (name, executor, key, _) in &nodes {
        for frame in frames(executor, *key, EVENTS).await? {
            println!("node {name} <- {frame}");
        }
        if executor.next_response(*key)?.is_some() {
            eprintln!("node {name} received a frame twice");
            std::process::exit(1);
        }
    }
    for (name, _, _, pump) in nodes {
        let stats = pump.shutdown().await;
        println!(
            "node {name}: {} events from the bus, {} echoes of its own publishes skipped",
            stats.events_dispatched, stats.duplicates_skipped
        );
    }
    Ok(())
}

async fn connect(url: &str, runtime: Arc<dyn Runtime>) -> Result<Arc<dyn EventBus>, Error> {
    if url.starts_with("redis") {
        Ok(Arc::new(
            RedisBus::connect(url, runtime, RedisConfig::default()).await?,
        ))
    } else {
        Ok(Arc::new(
            PostgresBus::connect(url, runtime, PostgresConfig::default()).await?,
        ))
    }
}

async fn frames(
    executor: &SubscriptionExecutor,
    key: SubscriptionKey,
    n: usize,
) -> Result<Vec<String>, Error> {
    let mut frames = Vec::with_capacity(n);
    while frames.len() < n {
        match tokio::time::timeout(Duration::from_secs(10), executor.recv(key)).await {
            Ok(Ok(Some(frame))) => frames.push(String::from_utf8_lossy(&frame).into_owned()),
            Ok(Ok(None)) => break,
            Ok(Err(error)) => return Err(error),
            Err(_) => return Err(Error::Timeout(Duration::from_secs(10))),
        }
    }
    Ok(frames)
}
