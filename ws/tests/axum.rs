//! The connection loop over real sockets: an axum server on loopback, a tokio-tungstenite
//! client.
#![cfg(feature = "axum")]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use subcast_core::{Event, GraphQLError, SecurityContext, SubscriptionExecutor};
use subcast_tokio::TokioRuntime;
use subcast_ws::{Accepted, Endpoint, Refused};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

const WAIT: Duration = Duration::from_secs(10);

/// An endpoint whose `on_connect` reads `{"tenant", "user"}` and refuses a missing user.
fn endpoint(executor: &Arc<SubscriptionExecutor>) -> Endpoint {
    Endpoint::new(executor.clone(), Arc::new(TokioRuntime::current())).on_connect(|init| async move {
        let params = init.payload.unwrap_or_default();
        let Some(user) = params.get("user").and_then(Value::as_str) else {
            return Err(Refused::new("Forbidden: no user"));
        };
        let mut context = SecurityContext::new(user);
        if let Some(tenant) = params.get("tenant").and_then(Value::as_str) {
            context = context.with_tenant(tenant);
        }
        Ok(Accepted::new(context))
    })
}

async fn serve(endpoint: Endpoint) -> SocketAddr {
    let app = Router::new()
        .route("/graphql", get(subcast_ws::axum::handler))
        .with_state(endpoint);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

async fn connect_with(addr: SocketAddr, protocol: Option<&str>) -> Client {
    let mut request = format!("ws://{addr}/graphql").into_client_request().unwrap();
    if let Some(protocol) = protocol {
        request
            .headers_mut()
            .insert("sec-websocket-protocol", protocol.parse().unwrap());
    }
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

async fn connect(addr: SocketAddr) -> Client {
    connect_with(addr, Some("graphql-transport-ws")).await
}

async fn send(client: &mut Client, message: Value) {
    client.send(Message::text(message.to_string())).await.unwrap();
}

/// The next message, which must arrive within [`WAIT`].
async fn next(client: &mut Client) -> Message {
    tokio::time::timeout(WAIT, client.next())
        .await
        .expect("a message in time")
        .expect("the socket open")
        .expect("a readable message")
}

/// The next message, which must be a text message holding JSON.
async fn next_json(client: &mut Client) -> Value {
    match next(client).await {
        Message::Text(text) => serde_json::from_str(&text).unwrap(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

async fn close_code(client: &mut Client) -> u16 {
    match next(client).await {
        Message::Close(Some(frame)) => frame.code.into(),
        other => panic!("expected a close frame, got {other:?}"),
    }
}

/// Poll `condition` until it holds, failing after [`WAIT`].
async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let polled = async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(WAIT, polled)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting until {what}"));
}

async fn init(client: &mut Client, tenant: &str, user: &str) {
    send(
        client,
        json!({"type": "connection_init", "payload": {"tenant": tenant, "user": user}}),
    )
    .await;
    assert_eq!(next_json(client).await, json!({"type": "connection_ack"}));
}

async fn subscribe(client: &mut Client, id: &str) {
    let query = "subscription { orders { id total } }";
    send(
        client,
        json!({"id": id, "type": "subscribe", "payload": {"query": query}}),
    )
    .await;
}

fn order(tenant: &str, id: &str) -> Arc<Event> {
    Arc::new(
        Event::new(
            "orderPlaced",
            "orders",
            json!({"id": id, "total": 3, "secret": "x"}),
        )
        .with_tenant(tenant),
    )
}

fn within<F: Future>(future: F) -> tokio::time::Timeout<F> {
    tokio::time::timeout(WAIT, future)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_event_arrives_as_a_text_next_frame_until_the_client_completes() {
    let executor = Arc::new(SubscriptionExecutor::default());
    let addr = serve(endpoint(&executor)).await;
    let mut client = connect(addr).await;
    init(&mut client, "acme", "alice").await;
    subscribe(&mut client, "1").await;
    wait_until("the subscription is registered", || {
        executor.stats().subscriptions == 1
    })
    .await;

    executor
        .dispatch_event_to_subscriptions(&order("acme", "o-1"))
        .unwrap();
    assert_eq!(
        next_json(&mut client).await,
        json!({"id": "1", "type": "next", "payload": {"data": {"orders": {"id": "o-1", "total": 3}}}})
    );

    send(&mut client, json!({"id": "1", "type": "complete"})).await;
    wait_until("the subscription ends", || executor.stats().subscriptions == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_of_another_tenant_is_not_written_to_the_socket() {
    let executor = Arc::new(SubscriptionExecutor::default());
    let addr = serve(endpoint(&executor)).await;
    let mut client = connect(addr).await;
    init(&mut client, "acme", "alice").await;
    subscribe(&mut client, "1").await;
    wait_until("the subscription is registered", || {
        executor.stats().subscriptions == 1
    })
    .await;

    executor
        .dispatch_event_to_subscriptions(&order("globex", "g-1"))
        .unwrap();
    executor
        .dispatch_event_to_subscriptions(&order("acme", "a-1"))
        .unwrap();
    let frame = next_json(&mut client).await;
    assert_eq!(frame["payload"]["data"]["orders"]["id"], "a-1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_of_every_subscription_of_a_connection_arrive_in_order() {
    let executor = Arc::new(SubscriptionExecutor::default());
    let addr = serve(endpoint(&executor)).await;
    let mut client = connect(addr).await;
    init(&mut client, "acme", "alice").await;
    subscribe(&mut client, "a").await;
    subscribe(&mut client, "b").await;
    wait_until("both subscriptions are registered", || {
        executor.stats().subscriptions == 2
    })
    .await;

    for n in 0..50 {
        executor
            .dispatch_event_to_subscriptions(&order("acme", &n.to_string()))
            .unwrap();
    }
    let mut seen: Vec<(String, String)> = Vec::new();
    while seen.len() < 100 {
        let frame = next_json(&mut client).await;
        let id = frame["payload"]["data"]["orders"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        seen.push((frame["id"].as_str().unwrap().to_owned(), id));
    }
    for sub in ["a", "b"] {
        let ids: Vec<&str> = seen
            .iter()
            .filter(|(s, _)| s == sub)
            .map(|(_, id)| id.as_str())
            .collect();
        let expected: Vec<String> = (0..50).map(|n| n.to_string()).collect();
        assert_eq!(ids, expected, "frames of {sub}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_the_server_ends_gets_complete() {
    let executor = Arc::new(SubscriptionExecutor::default());
    let addr = serve(endpoint(&executor)).await;
    let mut client = connect(addr).await;
    init(&mut client, "acme", "alice").await;
    subscribe(&mut client, "1").await;
    wait_until("the subscription is registered", || {
        executor.stats().subscriptions == 1
    })
    .await;

    let connection = {
        // The connection id is the endpoint's: find the subscription by the only one there.
        let mut found = None;
        for n in 0..10_000 {
            if let Some(key) = executor.subscription_key(&format!("ws-{n}"), "1") {
                found = Some(key);
                break;
            }
        }
        found.expect("the subscription's key")
    };
    executor.complete_subscription(connection).unwrap();
    assert_eq!(
        next_json(&mut client).await,
        json!({"id": "1", "type": "complete"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_frame_ends_the_subscription_and_frees_its_id() {
    let executor = Arc::new(SubscriptionExecutor::default());
    let addr = serve(endpoint(&executor)).await;
    let mut client = connect(addr).await;
    init(&mut client, "acme", "alice").await;
    subscribe(&mut client, "1").await;
    wait_until("the subscription is registered", || {
        executor.stats().subscriptions == 1
    })
    .await;

    executor.fail_channel("orders", GraphQLError::new("GONE", "the channel is gone"));
    let error = next_json(&mut client).await;
    assert_eq!(
        (error["id"].as_str(), error["type"].as_str()),
        (Some("1"), Some("error"))
    );
    wait_until("the ended subscription is unregistered", || {
        executor.stats().subscriptions == 0
    })
    .await;

    // The id is free again: subscribing with it is not a duplicate (4409).
    subscribe(&mut client, "1").await;
    wait_until("the subscription is registered again", || {
        executor.stats().subscriptions == 1
    })
    .await;
    executor
        .dispatch_event_to_subscriptions(&order("acme", "o-2"))
        .unwrap();
    assert_eq!(
        next_json(&mut client).await["payload"]["data"]["orders"]["id"],
        "o-2"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_subscription_gets_an_error_with_the_executor_code() {
    let executor = Arc::new(SubscriptionExecutor::default());
    let addr = serve(endpoint(&executor)).await;
    let mut client = connect(addr).await;
    init(&mut client, "acme", "alice").await;
    send(
        &mut client,
        json!({"id": "1", "type": "subscribe", "payload": {"query": "subscription {"}}),
    )
    .await;
    let error = next_json(&mut client).await;
    assert_eq!(error["type"], "error");
    assert_eq!(
        error["payload"][0]["extensions"]["code"],
        "GRAPHQL_VALIDATION_FAILED"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_before_the_ack_closes_with_4401() {
    let executor = Arc::new(SubscriptionExecutor::default());
    let addr = serve(endpoint(&executor)).await;
    let mut client = connect(addr).await;
    subscribe(&mut client, "1").await;
    assert_eq!(close_code(&mut client).await, 4401);
    assert_eq!(executor.stats().subscriptions, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_closes_with_4403() {
    let executor = Arc::new(SubscriptionExecutor::default());
    let addr = serve(endpoint(&executor)).await;
    let mut client = connect(addr).await;
    send(
        &mut client,
        json!({"type": "connection_init", "payload": {"tenant": "acme"}}),
    )
    .await;
    assert_eq!(close_code(&mut client).await, 4403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_credentials_close_with_4403_and_end_the_subscriptions() {
    let executor = Arc::new(SubscriptionExecutor::default());
    let endpoint = Endpoint::new(executor.clone(), Arc::new(TokioRuntime::current())).on_connect(|_| async {
        Ok(Accepted::new(SecurityContext::new("alice")).valid_for(Duration::from_millis(200)))
    });
    let addr = serve(endpoint).await;
    let mut client = connect(addr).await;
    send(&mut client, json!({"type": "connection_init"})).await;
    assert_eq!(next_json(&mut client).await["type"], "connection_ack");
    subscribe(&mut client, "1").await;
    assert_eq!(close_code(&mut client).await, 4403);
    wait_until("the subscription ends", || executor.stats().subscriptions == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_without_the_subprotocol_is_closed_with_4406() {
    let executor = Arc::new(SubscriptionExecutor::default());
    let addr = serve(endpoint(&executor)).await;
    let mut client = connect_with(addr, None).await;
    assert_eq!(close_code(&mut client).await, 4406);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binary_message_closes_with_4400() {
    let executor = Arc::new(SubscriptionExecutor::default());
    let addr = serve(endpoint(&executor)).await;
    let mut client = connect(addr).await;
    client.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    assert_eq!(close_code(&mut client).await, u16::from(CloseCode::from(4400)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_abruptly_dropped_connections_leave_no_subscription_behind() {
    const CONNECTIONS: usize = 1000;
    let executor = Arc::new(SubscriptionExecutor::default());
    let addr = serve(endpoint(&executor)).await;
    let mut clients = Vec::with_capacity(CONNECTIONS);
    for n in 0..CONNECTIONS {
        let mut client = within(connect(addr)).await.expect("connected in time");
        init(&mut client, "acme", &format!("user-{n}")).await;
        subscribe(&mut client, "1").await;
        clients.push(client);
    }
    wait_until("every subscription is registered", || {
        executor.stats().subscriptions == CONNECTIONS
    })
    .await;
    assert_eq!(
        executor.metrics_snapshot().active_subscriptions,
        CONNECTIONS as u64
    );

    // Dropping the streams closes the TCP connections without a close frame.
    drop(clients);
    wait_until("every subscription ended", || {
        let stats = executor.stats();
        stats.subscriptions == 0 && stats.connections == 0
    })
    .await;
    assert_eq!(executor.metrics_snapshot().active_subscriptions, 0);
    assert!(executor
        .prometheus_metrics()
        .lines()
        .any(|line| line.starts_with("subcast_active_subscriptions") && line.ends_with(" 0")));
}

/// The next close frame, as (code, reason).
async fn close_frame(client: &mut Client) -> (u16, String) {
    match next(client).await {
        Message::Close(Some(frame)) => (frame.code.into(), frame.reason.to_string()),
        other => panic!("expected a close frame, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_every_connection_with_1001_and_ends_their_subscriptions() {
    let executor = Arc::new(SubscriptionExecutor::default());
    let endpoint = endpoint(&executor);
    let addr = serve(endpoint.clone()).await;
    let mut subscribed = connect(addr).await;
    init(&mut subscribed, "acme", "alice").await;
    subscribe(&mut subscribed, "1").await;
    let mut idle = connect(addr).await;
    init(&mut idle, "acme", "bob").await;
    wait_until("the subscription is registered", || {
        executor.stats().subscriptions == 1
    })
    .await;

    within(endpoint.shutdown())
        .await
        .expect("every connection closed in time");

    assert_eq!(close_frame(&mut subscribed).await, (1001, "Going away".into()));
    assert_eq!(close_frame(&mut idle).await, (1001, "Going away".into()));
    assert_eq!(executor.stats().subscriptions, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_opened_after_shutdown_is_closed_with_1001() {
    let executor = Arc::new(SubscriptionExecutor::default());
    let endpoint = endpoint(&executor);
    let addr = serve(endpoint.clone()).await;
    within(endpoint.shutdown())
        .await
        .expect("no connection to wait for");
    assert!(endpoint.is_shutting_down());

    let mut late = connect(addr).await;
    assert_eq!(close_code(&mut late).await, 1001);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shutdown_future_resolves_once_the_connections_have_closed() {
    let executor = Arc::new(SubscriptionExecutor::default());
    let endpoint = endpoint(&executor);
    // The router holds a clone; the application keeps the original to shut down with.
    let addr = serve(endpoint.clone()).await;
    let mut client = connect(addr).await;
    init(&mut client, "acme", "alice").await;

    let shutdown = tokio::spawn(endpoint.shutdown());
    assert_eq!(close_code(&mut client).await, 1001);
    within(shutdown)
        .await
        .expect("the shutdown resolved in time")
        .expect("the shutdown task did not fail");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_over_the_limit_closes_with_1009() {
    let executor = Arc::new(SubscriptionExecutor::default());
    let endpoint =
        endpoint(&executor).protocol(subcast_core::ProtocolConfig::default().max_message_bytes(1024));
    let addr = serve(endpoint).await;
    let mut client = connect(addr).await;
    init(&mut client, "acme", "alice").await;
    let query = format!("subscription {{ orders {{ id {} }} }}", "total ".repeat(1000));
    send(
        &mut client,
        json!({"id": "1", "type": "subscribe", "payload": {"query": query}}),
    )
    .await;
    assert_eq!(close_code(&mut client).await, 1009);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_close_code_survives_a_client_that_keeps_sending() {
    let executor = Arc::new(SubscriptionExecutor::default());
    let addr = serve(endpoint(&executor)).await;
    let mut client = connect(addr).await;
    init(&mut client, "acme", "alice").await;
    // Far over the message rate: the server closes with 4429 while pings are still arriving.
    for _ in 0..1000 {
        client
            .feed(Message::text(json!({"type": "ping"}).to_string()))
            .await
            .unwrap();
    }
    client.flush().await.unwrap();
    let code = loop {
        match next(&mut client).await {
            Message::Close(Some(frame)) => break u16::from(frame.code),
            Message::Text(_) => continue,
            other => panic!("expected pongs then a close frame, got {other:?}"),
        }
    };
    assert_eq!(code, 4429);
}
