//! A graphql-transport-ws server on axum: `/graphql` (WebSocket), `/metrics` (Prometheus)
//! and `POST /publish`, with a demo order published on channel `orders` every second,
//! alternating between tenants `acme` and `globex`. `/` serves a live page (examples/live):
//! pick a tenant and a user, watch that tenant's orders arrive, publish one, and follow the
//! engine's metrics.
//!
//! Clients authenticate with `connectionParams` `{"tenant": "acme", "user": "alice"}`; a
//! subscriber receives only its tenant's orders:
//!
//! ```text
//! subscription { orders { id tenant total } }
//! ```
//!
//! Publish one yourself (the answer comes once it is queued for the local subscribers):
//!
//! ```text
//! curl -d '{"tenant": "acme", "channel": "orders", "data": {"id": "o-1", "total": 5}}' localhost:4000/publish
//! ```
//!
//! Ctrl-C or SIGTERM closes every connection with 1001 `Going away`; graphql-ws clients
//! reconnect.
//!
//! Run: `cargo run --example server --features ws-axum -- 4000`. Flags, for tests and
//! experiments (milliseconds; 0 turns the timer off): `--port N` (0 picks a free port),
//! `--publish-interval-ms N` (1000), `--keep-alive-ms N` (12000), `--pong-timeout-ms N`
//! (12000), `--init-timeout-ms N` (3000), `--auth-expiry-ms N` (none), `--max-subscriptions N`
//! (100), `--extension-channels 1` (off: for benchmarks only, each subscription listens on
//! the channel named by its subscribe message's `extensions.channel`, which lets any client
//! pick any channel of its tenant), `--read-buffer-bytes N` (4096: each connection's WebSocket read
//! buffer, `Endpoint::read_buffer_bytes`).
//!
//! `POST /publish` also takes a JSON array of events, published in order (the load
//! generator of `scripts/bench-e2e` sends batches).

mod demo;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::http::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::Router;
use subcast::{Node, Runtime, TokioRuntime};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::io::Result<()> {
    let options = match demo::Options::parse(std::env::args().skip(1), |_, _| Ok(false)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}\nusage: server {}", demo::USAGE);
            std::process::exit(2);
        }
    };
    let runtime: Arc<dyn Runtime> = Arc::new(TokioRuntime::current());
    // One node on its own in-memory bus; `.bus_url("redis://…")` would spread it over many.
    let node = Node::builder()
        .runtime(runtime.clone())
        .build()
        .await
        .map_err(std::io::Error::other)?;
    let node = Arc::new(node);
    let executor = node.executor().clone();

    let endpoint = demo::endpoint(executor.clone(), runtime, &options);

    let metrics = executor.clone();
    let publisher = node.clone();
    let app = Router::new()
        .route("/graphql", get(subcast::ws::axum::handler))
        .with_state(endpoint.clone())
        .route(
            "/metrics",
            get(move || {
                let executor = metrics.clone();
                async move { executor.prometheus_metrics() }
            }),
        )
        .route(
            "/publish",
            post(move |body: String| {
                let node = publisher.clone();
                async move { publish(&node, &body).await }
            }),
        );
    let app = LIVE_PAGE.iter().fold(app, |app, &(path, content_type, body)| {
        app.route(
            path,
            get(move || async move { live_page_file(content_type, body) }),
        )
    });

    if let Some(interval) = options.publish_interval {
        tokio::spawn(publish_demo_orders(node, interval));
    }

    let stop = stop_signal()?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", options.port)).await?;
    let address = listener.local_addr()?;
    // Small frames go out at once instead of waiting for the previous one's ACK.
    let listener = listener.tap_io(|stream| {
        let _ = stream.set_nodelay(true);
    });
    println!(
        "graphql-transport-ws on ws://{address}/graphql, metrics on /metrics, live page on http://{address}/"
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            stop.await;
            // Clients reconnect after 1001: to another node, or to this one restarted.
            if tokio::time::timeout(Duration::from_secs(5), endpoint.shutdown())
                .await
                .is_err()
            {
                eprintln!("some connections did not close within 5 s");
            }
        })
        .await
}

/// The live page's files, compiled in so that the server needs nothing beside its binary:
/// path, content type, body. `graphql-ws.min.js` is the browser build of the graphql-ws
/// client, copied from its npm package (tests/browser checks the copy against the pinned
/// release).
const LIVE_PAGE: [(&str, &str, &str); 5] = [
    ("/", "text/html; charset=utf-8", include_str!("live/index.html")),
    (
        "/live.js",
        "text/javascript; charset=utf-8",
        include_str!("live/live.js"),
    ),
    (
        "/live.css",
        "text/css; charset=utf-8",
        include_str!("live/live.css"),
    ),
    ("/favicon.svg", "image/svg+xml", include_str!("live/favicon.svg")),
    (
        "/graphql-ws.min.js",
        "text/javascript; charset=utf-8",
        include_str!("live/graphql-ws.min.js"),
    ),
];

/// One file of the live page. The policy keeps the page on this origin: its own scripts
/// only, and connections (fetch, WebSocket) back to this server only.
fn live_page_file(
    content_type: &'static str,
    body: &'static str,
) -> ([(axum::http::HeaderName, &'static str); 3], &'static str) {
    let headers = [
        (CONTENT_TYPE, content_type),
        (CONTENT_SECURITY_POLICY, "default-src 'self'; connect-src 'self'"),
        (X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    (headers, body)
}

/// `POST /publish` with `{"tenant", "channel", "data", "type"?}`, or an array of them
/// published in order: answer with how many subscriptions they matched and reached.
async fn publish(node: &Node, body: &str) -> (StatusCode, String) {
    match demo::publish(node, body).await {
        Ok(answer) => (StatusCode::OK, answer.to_string()),
        Err((status, error)) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            error,
        ),
    }
}

/// An order every `interval`, alternating between tenants `acme` and `globex`.
async fn publish_demo_orders(node: Arc<Node>, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    for n in 0u64.. {
        ticks.tick().await;
        if let Err(error) = node.publish(demo::demo_order(n)).await {
            eprintln!("publishing order-{n} failed: {error}");
        }
    }
}

/// Resolves on Ctrl-C or, on Unix, SIGTERM. Listens from the call on, so a signal sent as
/// soon as the server announces itself is not missed.
fn stop_signal() -> std::io::Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
