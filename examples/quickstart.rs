//! Quickstart: the in-memory bus, one executor, three subscribers, no async runtime.
//!
//! Registers subscriptions the way a GraphQL WebSocket server would on `subscribe`
//! messages, publishes events the way a mutation would, prints the frames each
//! subscriber receives, then measures the dispatch rate of one event to 10,000 subscribers.
//!
//! Run: `cargo run --example quickstart`

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use subcast::{Event, EventBus, InMemoryBus, SubscriptionExecutor, SubscriptionRequest};

fn main() -> Result<(), subcast::Error> {
    let bus = InMemoryBus::new();
    let executor = SubscriptionExecutor::default();

    let alice = executor.register_subscription(SubscriptionRequest::new(
        "conn-alice",
        "1",
        "subscription { users { id name } }",
    ))?;
    let bob = executor.register_subscription(SubscriptionRequest::new(
        "conn-bob",
        "1",
        "subscription OnUser { newUser: users { id __typename } }",
    ))?;
    let posts = executor.register_subscription(SubscriptionRequest::new(
        "conn-bob",
        "2",
        "subscription { posts { title } }",
    ))?;

    let created = Event::new(
        "userCreated",
        "users",
        json!({"id": "42", "name": "Ada", "password": "…"}),
    );
    let report = futures_lite::future::block_on(bus.publish_with_executor(Arc::new(created), &executor))?;
    println!("published userCreated: {report:?}");

    for (who, key) in [("alice", alice), ("bob", bob), ("bob/posts", posts)] {
        while let Some(frame) = executor.next_response(key)? {
            println!("{who:>10} <- {}", String::from_utf8_lossy(&frame));
        }
    }

    const SUBSCRIBERS: usize = 10_000;
    const EVENTS: usize = 100;
    let keys: Vec<_> = (0..SUBSCRIBERS)
        .map(|n| {
            executor.register_subscription(SubscriptionRequest::new(
                format!("load-{n}"),
                "1",
                "subscription { ticks { n } }",
            ))
        })
        .collect::<Result<_, _>>()?;
    let start = Instant::now();
    for n in 0..EVENTS {
        executor.dispatch_event_to_subscriptions(&Arc::new(Event::new("tick", "ticks", json!({"n": n}))))?;
        for key in &keys {
            executor.next_response(*key)?;
        }
    }
    let elapsed = start.elapsed();
    let frames = (SUBSCRIBERS * EVENTS) as f64;
    println!(
        "dispatched {EVENTS} events to {SUBSCRIBERS} subscribers each: {:.1} M frames/s ({:.0} ns per frame, queued and drained)",
        frames / elapsed.as_secs_f64() / 1e6,
        elapsed.as_nanos() as f64 / frames
    );
    Ok(())
}
