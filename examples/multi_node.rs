//! Two nodes sharing one bus: Redis or PostgreSQL, chosen by URL.
//!
//! Each node is a `Node`: an executor with its own bus connection and event pump, as
//! separate server processes would have. A subscriber on each node; events published on node A reach both,
//! each exactly once: A's subscriber through `publish`'s local dispatch, B's through the bus.
//!
//! Run: `cargo run --example multi_node --features redis,postgres -- redis://127.0.0.1:6379`
//!  or: `cargo run --example multi_node --features redis,postgres -- postgres://postgres@127.0.0.1/test`

use std::time::Duration;

use serde_json::json;
use subcast::{
    Error, Event, Node, SecurityContext, SubscriptionExecutor, SubscriptionKey, SubscriptionRequest,
};

const EVENTS: usize = 3;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned());
    // A channel of this run only, so runs never see each other's events.
    let channel = format!("users-{:x}", std::process::id());

    let mut nodes = Vec::new();
    for name in ["A", "B"] {
        // On tokio, the default runtime is the current one.
        let node = Node::builder().bus_url(url.as_str()).build().await?;
        let executor = node.executor().clone();
        let request =
            SubscriptionRequest::new(format!("ws-{name}"), "1", "subscription { users { id name } }")
                .channels([channel.as_str()])
                .security_context(SecurityContext::new(format!("viewer-{name}")).with_tenant("acme"));
        let key = executor.register_subscription(request)?;
        if !node.channel_ready(&channel).await {
            return Err(Error::Closed("event pump"));
        }
        nodes.push((name, executor, key, node));
    }

    for (n, who) in ["Ada", "Grace", "Edsger"].into_iter().enumerate().take(EVENTS) {
        let data = json!({"id": n.to_string(), "name": who});
        let event = Event::new("userCreated", channel.as_str(), data).with_tenant("acme");
        nodes[0].3.publish(event).await?;
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
    for (name, _, _, node) in nodes {
        let stats = node.shutdown().await.pump.unwrap_or_default();
        println!(
            "node {name}: {} events from the bus, {} echoes of its own publishes skipped",
            stats.events_dispatched, stats.duplicates_skipped
        );
    }
    Ok(())
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
