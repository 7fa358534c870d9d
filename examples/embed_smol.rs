//! Embedding subcast in a smol application: no tokio runtime anywhere.
//!
//! The application owns its `async_executor::Executor` and drives it from `main`; subcast
//! borrows it through `SmolRuntime::new`. Each subscriber is a task awaiting its frames.
//! Two nodes share one in-memory bus: events published on one reach the other's
//! subscribers through its pump, as they would across processes over Redis. It prints the
//! frames each subscriber received and exits 0.
//!
//! Run: `cargo run --example embed_smol --features smol`

use std::sync::Arc;

use async_executor::Executor;
use serde_json::json;
use subcast::{Error, Event, EventBus, ExecutorConfig, InMemoryBus, Node, SmolRuntime, SubscriptionRequest};

const EVENTS: usize = 3;

fn main() -> Result<(), Error> {
    let executor = Arc::new(Executor::new());
    let runtime = Arc::new(SmolRuntime::new(executor.clone()));
    async_io::block_on(executor.run(run(executor.clone(), runtime)))
}

async fn run(tasks: Arc<Executor<'static>>, runtime: Arc<SmolRuntime>) -> Result<(), Error> {
    let bus: Arc<dyn EventBus> = Arc::new(InMemoryBus::new());
    let node = |config| {
        Node::builder()
            .bus(bus.clone())
            .runtime(runtime.clone())
            .executor_config(config)
    };
    let publisher = node(ExecutorConfig::default()).build().await?;
    let listener = node(ExecutorConfig::default().allow_anonymous(true))
        .build()
        .await?;
    let subscriptions = listener.executor();

    let mut subscribers = Vec::new();
    for name in ["alice", "bob"] {
        let query = "subscription { prices { symbol price } }";
        let key = subscriptions.register_subscription(SubscriptionRequest::new(name, "1", query))?;
        let queue = subscriptions.response_queue(key)?;
        subscribers.push(tasks.spawn(async move {
            let mut frames = Vec::new();
            while frames.len() < EVENTS {
                match queue.recv().await {
                    Some(frame) => frames.push(String::from_utf8_lossy(&frame).into_owned()),
                    None => break,
                }
            }
            (name, frames)
        }));
    }

    if !listener.channel_ready("prices").await {
        return Err(Error::Closed("event pump"));
    }
    for (n, symbol) in ["ACME", "INITECH", "HOOLI"].into_iter().enumerate().take(EVENTS) {
        let data = json!({ "symbol": symbol, "price": 100 + n });
        publisher
            .publish(Event::new("priceChanged", "prices", data))
            .await?;
    }

    let mut received = 0;
    for subscriber in subscribers {
        let (name, frames) = subscriber.await;
        for frame in &frames {
            println!("{name} <- {frame}");
        }
        received += frames.len();
    }
    publisher.shutdown().await;
    let stats = listener.shutdown().await.pump.unwrap_or_default();
    println!(
        "pump: {} events dispatched, {} frames queued",
        stats.events_dispatched, stats.frames_delivered
    );
    if received != 2 * EVENTS {
        eprintln!("expected {} frames, received {received}", 2 * EVENTS);
        std::process::exit(1);
    }
    Ok(())
}
