//! Embedding subcast in a host with no async runtime at all: plain threads.
//!
//! The host lends subcast the smallest possible [`Runtime`] (a thread per task), serves
//! each subscriber on a thread of its own with the blocking `recv_timeout`, and publishes
//! from the main thread on a second node sharing the bus, as another process would. It prints the frames each subscriber received and exits 0.
//!
//! Run: `cargo run --example embed_threads`

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::future::block_on;
use serde_json::json;
use subcast::BoxFuture;
use subcast::{Error, Event, EventBus, ExecutorConfig, InMemoryBus, Node, Runtime, SubscriptionRequest};

/// The host's runtime: each task on its own thread. No tokio, no smol.
#[derive(Debug)]
struct ThreadPerTask;

impl Runtime for ThreadPerTask {
    fn spawn(&self, future: BoxFuture<'static, ()>) {
        std::thread::spawn(move || block_on(future));
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        // Only used between attempts to resubscribe a lost bus channel.
        Box::pin(async move { std::thread::sleep(duration) })
    }

    fn now(&self) -> Instant {
        Instant::now()
    }
}

const EVENTS: usize = 3;

fn main() -> Result<(), Error> {
    let bus: Arc<dyn EventBus> = Arc::new(InMemoryBus::new());
    let runtime: Arc<dyn Runtime> = Arc::new(ThreadPerTask);
    let node = |config| {
        let builder = Node::builder().bus(bus.clone()).runtime(runtime.clone());
        block_on(builder.executor_config(config).build())
    };
    let publisher = node(ExecutorConfig::default())?;
    let listener = node(ExecutorConfig::default().allow_anonymous(true))?;
    let executor = listener.executor();

    let subscribers: Vec<_> = ["alice", "bob"]
        .into_iter()
        .map(|name| {
            let query = "subscription { ticks { n } }";
            let key = executor.register_subscription(SubscriptionRequest::new(name, "1", query))?;
            let executor = executor.clone();
            Ok(std::thread::spawn(move || {
                let mut frames = Vec::new();
                while frames.len() < EVENTS {
                    match executor.recv_timeout(key, Duration::from_secs(10)) {
                        Ok(Some(frame)) => frames.push(String::from_utf8_lossy(&frame).into_owned()),
                        Ok(None) => break,
                        Err(error) => {
                            eprintln!("{name}: {error}");
                            break;
                        }
                    }
                }
                (name, frames)
            }))
        })
        .collect::<Result<_, Error>>()?;

    if !block_on(listener.channel_ready("ticks")) {
        return Err(Error::Closed("event pump"));
    }
    for n in 0..EVENTS {
        // The listener's pump receives it from the bus and dispatches it.
        block_on(publisher.publish(Event::new("tick", "ticks", json!({ "n": n }))))?;
    }

    let mut received = 0;
    for subscriber in subscribers {
        let (name, frames) = subscriber.join().expect("a subscriber thread panicked");
        for frame in &frames {
            println!("{name} <- {frame}");
        }
        received += frames.len();
    }
    block_on(publisher.shutdown());
    let stats = block_on(listener.shutdown()).pump.unwrap_or_default();
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
