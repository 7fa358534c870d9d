//! A graphql-transport-ws server on axum: `/graphql` (WebSocket) and `/metrics`
//! (Prometheus), with a demo order published on channel `orders` every second, alternating
//! between tenants `acme` and `globex`.
//!
//! Clients authenticate with `connectionParams` `{"tenant": "acme", "user": "alice"}`; a
//! subscriber receives only its tenant's orders:
//!
//! ```text
//! subscription { orders { id tenant total } }
//! ```
//!
//! Run: `cargo run --example server --features ws-axum -- 4000`

use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use subcast::ws::{Accepted, Endpoint, Refused};
use subcast::{
    Event, EventPump, InMemoryBus, PumpConfig, Runtime, SecurityContext, SubscriptionExecutor, TokioRuntime,
};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(4000);
    let executor = Arc::new(SubscriptionExecutor::default());
    let runtime: Arc<dyn Runtime> = Arc::new(TokioRuntime::current());
    let pump = EventPump::start(
        executor.clone(),
        Arc::new(InMemoryBus::new()),
        runtime.clone(),
        PumpConfig::default(),
    );

    let endpoint = Endpoint::new(executor.clone(), runtime).on_connect(|init| async move {
        let params = init.payload.unwrap_or_default();
        let text = |key: &str| params.get(key).and_then(Value::as_str).map(str::to_owned);
        match (text("tenant"), text("user")) {
            (Some(tenant), Some(user)) => Ok(Accepted::new(SecurityContext::new(user).with_tenant(tenant))),
            _ => Err(Refused::new(
                "Forbidden: connectionParams need a tenant and a user",
            )),
        }
    });
    let metrics = executor.clone();
    let app = Router::new()
        .route("/graphql", get(subcast::ws::axum::handler))
        .with_state(endpoint)
        .route(
            "/metrics",
            get(move || {
                let executor = metrics.clone();
                async move { executor.prometheus_metrics() }
            }),
        );

    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_secs(1));
        for n in 0u64.. {
            ticks.tick().await;
            let tenant = if n % 2 == 0 { "acme" } else { "globex" };
            let order = json!({"id": format!("order-{n}"), "tenant": tenant, "total": n % 100});
            let event = Event::new("orderPlaced", "orders", order).with_tenant(tenant);
            if let Err(error) = pump.publish(Arc::new(event)).await {
                eprintln!("publishing order-{n} failed: {error}");
            }
        }
    });

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!(
        "graphql-transport-ws on ws://{}/graphql, metrics on /metrics",
        listener.local_addr()?
    );
    axum::serve(listener, app).await
}
