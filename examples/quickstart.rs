//! Quickstart: the in-memory bus on tokio, two tenants, frames printed, a dispatch rate.
//!
//! Registers subscriptions the way a GraphQL WebSocket server does on `subscribe`
//! messages (with the subscriber's authenticated context), publishes events the way a
//! mutation does, prints the frames each subscriber receives — tenant isolation and field
//! projection at work — then measures one event's fan-out to 10,000 subscribers.
//!
//! Run: `cargo run --example quickstart`

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use subcast::{
    Error, Event, Node, SecurityContext, SubscriptionExecutor, SubscriptionKey, SubscriptionRequest,
};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    // `memory://` by default; `.bus_url("redis://127.0.0.1")` (feature `redis`) spans nodes.
    let node = Node::builder().build().await?;
    let executor = node.executor().clone();

    let subscribe = |connection: &str, id: &str, query: &str, context: SecurityContext| {
        executor
            .register_subscription(SubscriptionRequest::new(connection, id, query).security_context(context))
    };
    let alice = subscribe(
        "conn-alice",
        "1",
        "subscription { users { id name } }",
        SecurityContext::new("alice").with_tenant("acme"),
    )?;
    let bob = subscribe(
        "conn-bob",
        "1",
        "subscription OnUser { newUser: users { id __typename } }",
        SecurityContext::new("bob").with_tenant("acme"),
    )?;
    let carol = subscribe(
        "conn-carol",
        "1",
        "subscription { users { id name } }",
        SecurityContext::new("carol").with_tenant("globex"),
    )?;
    if !node.channel_ready("users").await {
        return Err(Error::Closed("event pump"));
    }

    for (tenant, name) in [("acme", "Ada"), ("globex", "Grace")] {
        let data = json!({"id": format!("{tenant}-1"), "name": name, "password_hash": "…"});
        let event = Event::new("userCreated", "users", data).with_tenant(tenant);
        let report = node.publish(event).await?;
        println!(
            "published userCreated for {tenant}: {} matched, {} delivered, {} refused by policy",
            report.matched,
            report.delivered,
            report.refused_total()
        );
    }
    for (who, key, expected) in [("alice", alice, 1), ("bob", bob, 1), ("carol", carol, 1)] {
        print_frames(&executor, who, key, expected).await?;
    }

    dispatch_rate(&executor)?;
    let stats = node.shutdown().await;
    println!("node stopped: {} events published", stats.bus.published);
    Ok(())
}

/// Await `expected` frames of one subscriber, as its WebSocket task would, and print them.
async fn print_frames(
    executor: &SubscriptionExecutor,
    who: &str,
    key: SubscriptionKey,
    expected: usize,
) -> Result<(), Error> {
    for _ in 0..expected {
        let frame = tokio::time::timeout(Duration::from_secs(5), executor.recv(key))
            .await
            .map_err(|_| Error::Timeout(Duration::from_secs(5)))??;
        if let Some(frame) = frame {
            println!("{who:>6} <- {}", String::from_utf8_lossy(&frame));
        }
    }
    Ok(())
}

/// One event to 10,000 subscribers of one tenant, frames queued and then drained.
fn dispatch_rate(executor: &SubscriptionExecutor) -> Result<(), Error> {
    const SUBSCRIBERS: usize = 10_000;
    const EVENTS: usize = 100;
    let keys: Vec<_> = (0..SUBSCRIBERS)
        .map(|n| {
            let context = SecurityContext::new(format!("user-{n}")).with_tenant("acme");
            let request = SubscriptionRequest::new(format!("load-{n}"), "1", "subscription { ticks { n } }")
                .security_context(context);
            executor.register_subscription(request)
        })
        .collect::<Result<_, _>>()?;
    let mut busy = Duration::ZERO;
    for n in 0..EVENTS {
        let event = Arc::new(Event::new("tick", "ticks", json!({"n": n})).with_tenant("acme"));
        let start = Instant::now();
        executor.dispatch_event_to_subscriptions(&event)?;
        busy += start.elapsed();
        for key in &keys {
            executor.next_response(*key)?;
        }
    }
    let frames = (SUBSCRIBERS * EVENTS) as f64;
    println!(
        "dispatch: {EVENTS} events x {SUBSCRIBERS} subscribers, {:.1} M frames/s ({:.0} ns per frame)",
        frames / busy.as_secs_f64() / 1e6,
        busy.as_nanos() as f64 / frames
    );
    Ok(())
}
