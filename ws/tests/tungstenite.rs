//! The connection loop over async-tungstenite on smol: a real loopback socket, no tokio.
#![cfg(feature = "tungstenite")]

use std::sync::Arc;
use std::time::Duration;

use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::Message;
use futures_util::StreamExt;
use serde_json::{json, Value};
use subcast_core::{Event, Runtime, SecurityContext, SubscriptionExecutor};
use subcast_smol::SmolRuntime;
use subcast_ws::{Accepted, Endpoint};

const WAIT: Duration = Duration::from_secs(10);

async fn next_json<S>(client: &mut S) -> Value
where
    S: futures_util::Stream<Item = Result<Message, async_tungstenite::tungstenite::Error>> + Unpin,
{
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

#[test]
fn a_published_event_arrives_as_a_text_next_frame_over_async_tungstenite_on_smol() {
    let runtime = Arc::new(SmolRuntime::with_threads(1));
    let executor = Arc::new(SubscriptionExecutor::default());
    let endpoint = Endpoint::new(executor.clone(), runtime.clone() as Arc<dyn Runtime>)
        .on_connect(|_| async { Ok(Accepted::new(SecurityContext::new("alice").with_tenant("acme"))) });

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
        let (mut client, response) = async_tungstenite::client_async(request, stream).await.unwrap();
        assert_eq!(
            response.headers()["sec-websocket-protocol"],
            "graphql-transport-ws"
        );

        client
            .send(Message::text(json!({"type": "connection_init"}).to_string()))
            .await
            .unwrap();
        assert_eq!(next_json(&mut client).await, json!({"type": "connection_ack"}));
        let subscribe =
            json!({"id": "1", "type": "subscribe", "payload": {"query": "subscription { orders { id } }"}});
        client.send(Message::text(subscribe.to_string())).await.unwrap();
        // A ping is answered after the subscribe was handled: the subscription is registered.
        client
            .send(Message::text(json!({"type": "ping"}).to_string()))
            .await
            .unwrap();
        assert_eq!(next_json(&mut client).await, json!({"type": "pong"}));

        let event = Event::new("orderPlaced", "orders", json!({"id": "o-1"})).with_tenant("acme");
        executor
            .dispatch_event_to_subscriptions(&Arc::new(event))
            .unwrap();
        assert_eq!(
            next_json(&mut client).await,
            json!({"id": "1", "type": "next", "payload": {"data": {"orders": {"id": "o-1"}}}})
        );

        client.close(None).await.unwrap();
        server.await.unwrap();
        assert_eq!(executor.stats().subscriptions, 0);
    });
}
