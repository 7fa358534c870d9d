//! Resume from a cursor through the connection loop: the `subscribe` extension, the refusal
//! of a bad cursor, and the gap a bus without history answers with. (Replays from a real
//! history run in each bus's tests and in `examples/resume.rs`.)
#![cfg(feature = "tungstenite")]

use std::sync::Arc;
use std::time::Duration;

use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::Message;
use futures_util::StreamExt;
use serde_json::{json, Value};
use subcast_core::{
    Cursor, Event, EventBus, InMemoryBus, LogPosition, Runtime, SecurityContext, SubscriptionExecutor,
    EVENTS_GAP, INVALID_CURSOR,
};
use subcast_smol::SmolRuntime;
use subcast_ws::{Accepted, Endpoint};

const WAIT: Duration = Duration::from_secs(10);

type Client = async_tungstenite::WebSocketStream<smol::net::TcpStream>;

async fn next_json(client: &mut Client) -> Value {
    let message = futures_lite::future::or(async { client.next().await }, async {
        smol::Timer::after(WAIT).await;
        None
    })
    .await
    .expect("a message in time")
    .expect("a readable message");
    match message {
        Message::Text(text) => serde_json::from_str(&text).unwrap(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

async fn send(client: &mut Client, message: Value) {
    client.send(Message::text(message.to_string())).await.unwrap();
}

/// Serve one connection of `endpoint`, connect to it and acknowledge; run `test` on it.
fn with_client<F, Fut>(executor: Arc<SubscriptionExecutor>, resume_from: Option<Arc<dyn EventBus>>, test: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: std::future::Future<Output = Client>,
{
    let runtime = Arc::new(SmolRuntime::with_threads(1));
    let mut endpoint = Endpoint::new(executor, runtime as Arc<dyn Runtime>)
        .on_connect(|_| async { Ok(Accepted::new(SecurityContext::new("alice"))) });
    if let Some(bus) = resume_from {
        endpoint = endpoint.resume_from(bus);
    }
    smol::block_on(async {
        let listener = smol::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = smol::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            subcast_ws::tungstenite::accept(&endpoint, stream).await
        });
        let stream = smol::net::TcpStream::connect(addr).await.unwrap();
        let mut request = format!("ws://{addr}/graphql").into_client_request().unwrap();
        request
            .headers_mut()
            .insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
        let (mut client, _) = async_tungstenite::client_async(request, stream).await.unwrap();
        send(&mut client, json!({"type": "connection_init"})).await;
        assert_eq!(next_json(&mut client).await, json!({"type": "connection_ack"}));
        let mut client = test(client).await;
        client.close(None).await.unwrap();
        server.await.unwrap();
    });
}

fn subscribe_with_cursor(cursor: Value) -> Value {
    json!({"id": "1", "type": "subscribe", "payload": {
        "query": "subscription { ticks { n } }",
        "extensions": {"cursor": cursor},
    }})
}

#[test]
fn a_cursor_on_a_bus_without_history_gets_a_gap_then_live_events() {
    let executor = Arc::new(SubscriptionExecutor::default());
    let bus: Arc<dyn EventBus> = Arc::new(InMemoryBus::new());
    let dispatcher = executor.clone();
    with_client(executor, Some(bus), |mut client| async move {
        let cursor = Cursor::new("ticks", LogPosition::new(12, 0)).encode();
        send(&mut client, subscribe_with_cursor(json!(cursor))).await;
        let notice = next_json(&mut client).await;
        assert_eq!(notice["id"], "1");
        assert_eq!(notice["payload"]["errors"][0]["extensions"]["code"], EVENTS_GAP);
        let tick = Arc::new(Event::new("tick", "ticks", json!({"n": 13})));
        dispatcher.dispatch_event_to_subscriptions(&tick).unwrap();
        let live = next_json(&mut client).await;
        assert_eq!(live["payload"]["data"]["ticks"]["n"], 13, "{live}");
        client
    });
}

#[test]
fn an_endpoint_without_a_history_answers_a_cursor_with_a_gap() {
    let executor = Arc::new(SubscriptionExecutor::default());
    with_client(executor, None, |mut client| async move {
        let cursor = Cursor::new("ticks", LogPosition::new(12, 0)).encode();
        send(&mut client, subscribe_with_cursor(json!(cursor))).await;
        let notice = next_json(&mut client).await;
        assert_eq!(notice["payload"]["errors"][0]["extensions"]["code"], EVENTS_GAP);
        client
    });
}

#[test]
fn a_malformed_cursor_refuses_the_subscription_with_an_error_frame() {
    let executor = Arc::new(SubscriptionExecutor::default());
    let registry = executor.clone();
    let bus: Arc<dyn EventBus> = Arc::new(InMemoryBus::new());
    with_client(executor, Some(bus), |mut client| async move {
        for cursor in [json!("not-a-cursor"), json!(42)] {
            send(&mut client, subscribe_with_cursor(cursor)).await;
            let error = next_json(&mut client).await;
            assert_eq!(error["type"], "error", "{error}");
            assert_eq!(error["payload"][0]["extensions"]["code"], INVALID_CURSOR);
        }
        assert_eq!(registry.stats().subscriptions, 0);
        client
    });
}
