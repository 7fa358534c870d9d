//! async-graphql 7 with its own graphql-transport-ws server on axum: the Rust peer of
//! scripts/bench-e2e. The `orders` subscription reads a tokio broadcast channel per channel
//! name; `POST /publish` takes an array of `{"channel", "data"}` and sends each event to
//! its channel. A connection listens on `connectionParams.channel` (default `orders`).
//!
//! Run: `cargo run --release -- --port 4001`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::{Context, Data, EmptyMutation, Object, Schema, SimpleObject, Subscription};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::{State, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::Router;
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

#[derive(SimpleObject, Deserialize)]
struct Order {
    id: String,
    tenant: String,
    total: i64,
}

/// One broadcast channel per name, created on first use.
#[derive(Default)]
struct Channels(Mutex<HashMap<String, broadcast::Sender<Arc<Order>>>>);

impl Channels {
    fn sender(&self, name: &str) -> broadcast::Sender<Arc<Order>> {
        let mut channels = self.0.lock().expect("not poisoned");
        channels
            .entry(name.to_owned())
            .or_insert_with(|| broadcast::channel(1024).0)
            .clone()
    }
}

struct ChannelName(String);

struct Query;

#[Object]
impl Query {
    async fn ready(&self) -> bool {
        true
    }
}

struct Orders;

#[Subscription]
impl Orders {
    async fn orders(&self, ctx: &Context<'_>) -> impl Stream<Item = Arc<Order>> {
        let channels = ctx.data_unchecked::<Arc<Channels>>();
        let name = ctx.data_opt::<ChannelName>().map_or("orders", |c| c.0.as_str());
        // A lagging subscriber skips what it missed, as a broadcast channel does.
        BroadcastStream::new(channels.sender(name).subscribe()).filter_map(|order| async move { order.ok() })
    }
}

type OrdersSchema = Schema<Query, EmptyMutation, Orders>;

#[derive(Deserialize)]
struct Published {
    channel: String,
    data: Order,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::io::Result<()> {
    let mut port = 4001u16;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next().and_then(|v| v.parse().ok())) {
            ("--port", Some(value)) => port = value,
            _ => {
                eprintln!("usage: peer-async-graphql [--port N]");
                std::process::exit(2);
            }
        }
    }
    let channels = Arc::new(Channels::default());
    let schema = Schema::build(Query, EmptyMutation, Orders)
        .data(channels.clone())
        .finish();
    let app = Router::new()
        .route("/graphql", get(websocket))
        .with_state(schema)
        .route(
            "/publish",
            post(move |body: String| {
                let channels = channels.clone();
                async move { publish(&channels, &body) }
            }),
        );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("async-graphql on ws://{}/graphql", listener.local_addr()?);
    let listener = listener.tap_io(|stream| {
        let _ = stream.set_nodelay(true);
    });
    axum::serve(listener, app).await
}

async fn websocket(
    State(schema): State<OrdersSchema>,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |stream| {
            GraphQLWebSocket::new(stream, schema, protocol)
                .on_connection_init(|params: serde_json::Value| async move {
                    let mut data = Data::default();
                    if let Some(channel) = params.get("channel").and_then(|c| c.as_str()) {
                        data.insert(ChannelName(channel.to_owned()));
                    }
                    Ok(data)
                })
                .serve()
        })
}

fn publish(channels: &Channels, body: &str) -> (StatusCode, String) {
    let events: Vec<Published> = match serde_json::from_str(body) {
        Ok(events) => events,
        Err(error) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("need an array of {{channel, data}}: {error}"),
            )
        }
    };
    let mut delivered = 0;
    for event in events {
        // No receiver yet is not an error: nobody listens on that channel.
        delivered += channels
            .sender(&event.channel)
            .send(Arc::new(event.data))
            .unwrap_or(0);
    }
    (StatusCode::OK, format!(r#"{{"delivered":{delivered}}}"#))
}
