//! Embedding subcast in a smol application: no tokio runtime anywhere.
//!
//! The application owns its `async_executor::Executor` and drives it from `main`; subcast
//! borrows it through `SmolRuntime::new`. Each subscriber is a task awaiting its frames;
//! events are published on the bus as a mutation on any node would. It prints the frames
//! each subscriber received and exits 0.
//!
//! Run: `cargo run --example embed_smol --features smol`

use std::sync::Arc;

use async_executor::Executor;
use serde_json::json;
use subcast::{
    Error, Event, EventBus, EventPump, ExecutorConfig, InMemoryBus, PumpConfig, SmolRuntime,
    SubscriptionExecutor, SubscriptionRequest,
};

const EVENTS: usize = 3;

fn main() -> Result<(), Error> {
    let executor = Arc::new(Executor::new());
    let runtime = Arc::new(SmolRuntime::new(executor.clone()));
    async_io::block_on(executor.run(run(executor.clone(), runtime)))
}

async fn run(tasks: Arc<Executor<'static>>, runtime: Arc<SmolRuntime>) -> Result<(), Error> {
    let subscriptions = Arc::new(SubscriptionExecutor::new(
        ExecutorConfig::default().allow_anonymous(true),
    ));
    let bus = Arc::new(InMemoryBus::new());
    let pump = EventPump::start(subscriptions.clone(), bus.clone(), runtime, PumpConfig::default());

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

    if !pump.channel_ready("prices").await {
        return Err(Error::Closed("event pump"));
    }
    for (n, symbol) in ["ACME", "INITECH", "HOOLI"].into_iter().enumerate().take(EVENTS) {
        let data = json!({ "symbol": symbol, "price": 100 + n });
        bus.publish(Arc::new(Event::new("priceChanged", "prices", data)))
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
    let stats = pump.shutdown().await;
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
