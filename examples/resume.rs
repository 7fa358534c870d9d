//! Resume from a cursor: a graphql-transport-ws server whose clients lose nothing when their
//! connection drops, as long as the bus's history retains what they missed.
//!
//! The server publishes `{"n": 1}`, `{"n": 2}`, … on channel `ticks` every 100 ms over a bus
//! with history (Redis with replay by default; a `postgres://` or `nats://` URL works too,
//! NATS with JetStream). Every `next` frame carries `payload.extensions.cursor`; a client
//! that writes the last one into its subscribe payload's `extensions.cursor` gets what it
//! missed when it subscribes again, then live events, none twice.
//!
//! `examples/resume_client.mjs` is such a client, on the graphql-ws library (which re-sends
//! the same subscribe payload when it reconnects): it cuts its own connection after a few
//! ticks and checks that the numbers it reads after reconnecting follow on without a gap.
//!
//! ```text
//! cargo run --example resume --features ws-axum,redis -- 4001 redis://127.0.0.1:6379
//! (cd tests/conformance && npm ci) && node examples/resume_client.mjs ws://127.0.0.1:4001/graphql
//! ```

use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use serde_json::json;
use subcast::ws::Endpoint;
use subcast::{Event, ExecutorConfig, Node, RedisConfig, Runtime, TokioRuntime};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(4001);
    let bus_url = args.next().unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned());
    let runtime: Arc<dyn Runtime> = Arc::new(TokioRuntime::current());
    let node = Node::builder()
        .bus_url(bus_url.as_str())
        .redis_config(RedisConfig::default().replay(10_000))
        .runtime(runtime.clone())
        .executor_config(ExecutorConfig::default().allow_anonymous(true))
        .build()
        .await
        .map_err(std::io::Error::other)?;
    let node = Arc::new(node);

    let ready = node.clone();
    let endpoint = Endpoint::new(node.executor().clone(), runtime)
        .resume_from(node.bus().clone())
        // The pump subscribes a channel on its first subscription: replay once it listens.
        .channel_ready(move |channel| {
            let node = ready.clone();
            async move { node.channel_ready(&channel).await }
        });
    let app = Router::new()
        .route("/graphql", get(subcast::ws::axum::handler))
        .with_state(endpoint);

    let ticker = node.clone();
    tokio::spawn(async move {
        for n in 1u64.. {
            let tick = Event::new("tick", "ticks", json!({ "n": n }));
            if let Err(error) = ticker.publish(tick).await {
                eprintln!("publishing tick {n} failed: {error}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!(
        "resumable ticks on ws://{}/graphql over {bus_url}",
        listener.local_addr()?
    );
    axum::serve(listener, app).await
}
