//! Serve graphql-transport-ws from axum 0.8 (tokio).
//!
//! - [`handler`]: a ready route handler, with the [`Endpoint`] as the router's state.
//! - [`upgrade`]: the same inside a handler of your own (other state, other extractors).
//!
//! Only the sub-protocol `graphql-transport-ws` is served: a client that does not offer it
//! is upgraded, then closed with 4406 (as the reference server does).
//!
//! # Examples
//!
//! ```no_run
//! use std::sync::Arc;
//! use axum::{routing::get, Router};
//! use subcast_core::{SubscriptionExecutor, SecurityContext};
//! use subcast_ws::{Accepted, Endpoint};
//!
//! # async fn run() -> std::io::Result<()> {
//! let executor = Arc::new(SubscriptionExecutor::default());
//! let runtime = Arc::new(subcast_tokio::TokioRuntime::current());
//! let endpoint = Endpoint::new(executor, runtime)
//!     .on_connect(|_init| async { Ok(Accepted::new(SecurityContext::new("alice"))) });
//! let app = Router::new().route("/graphql", get(subcast_ws::axum::handler)).with_state(endpoint);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:4000").await?;
//! axum::serve(listener, app).await
//! # }
//! ```

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use futures_util::{Sink, SinkExt, Stream};
use subcast_core::{CloseCode, SUBPROTOCOL};

use crate::{Endpoint, RequestInfo, WsMessage};

/// Route handler: upgrade to a graphql-transport-ws socket served by the state's endpoint.
pub async fn handler(
    State(endpoint): State<Endpoint>,
    ws: WebSocketUpgrade,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    upgrade(endpoint, ws, request_info(&headers, &uri))
}

/// Upgrade to a graphql-transport-ws socket served by `endpoint`; `request` is what
/// `on_connect` will see of the HTTP request ([`request_info`] builds it).
pub fn upgrade(endpoint: Endpoint, ws: WebSocketUpgrade, request: RequestInfo) -> Response {
    // The library buffers at most one message of the protocol's limit.
    let limit = endpoint.protocol_config().max_message_bytes;
    let ws = ws
        .protocols([SUBPROTOCOL])
        .read_buffer_size(endpoint.read_buffer_size())
        .max_message_size(limit)
        .max_frame_size(limit);
    let offered = ws.selected_protocol().is_some();
    ws.on_upgrade(move |socket| async move {
        let mut socket = AxumSocket(socket);
        if !offered {
            let close = WsMessage::Close {
                code: CloseCode::SubprotocolNotAcceptable.as_u16(),
                reason: "Subprotocol not acceptable".into(),
            };
            let _ = socket.send(close).await;
            return;
        }
        // A socket error ends the connection; its subscriptions end either way.
        let _ = endpoint.serve(socket, request).await;
    })
}

/// What `on_connect` sees of an HTTP request: its headers (those with UTF-8 values) and path.
pub fn request_info(headers: &HeaderMap, uri: &Uri) -> RequestInfo {
    RequestInfo {
        headers: headers
            .iter()
            .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
            .collect(),
        path: uri.path().to_owned(),
        remote_addr: None,
    }
}

/// An axum socket speaking [`WsMessage`].
struct AxumSocket(WebSocket);

impl Stream for AxumSocket {
    type Item = Result<WsMessage, axum::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.0).poll_next(cx).map(|message| {
            message.map(|message| {
                message.map(|message| match message {
                    Message::Text(text) => WsMessage::Text(text.into()),
                    Message::Binary(data) => WsMessage::Binary(data),
                    Message::Ping(data) => WsMessage::Ping(data),
                    Message::Pong(data) => WsMessage::Pong(data),
                    Message::Close(frame) => match frame {
                        Some(CloseFrame { code, reason }) => WsMessage::Close {
                            code,
                            reason: reason.to_string(),
                        },
                        None => WsMessage::Close {
                            code: 1005,
                            reason: String::new(),
                        },
                    },
                })
            })
        })
    }
}

impl Sink<WsMessage> for AxumSocket {
    type Error = axum::Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.0).poll_ready(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, message: WsMessage) -> Result<(), Self::Error> {
        let message = match message {
            WsMessage::Text(text) => Message::Text(Utf8Bytes::try_from(text).map_err(axum::Error::new)?),
            WsMessage::Binary(data) => Message::Binary(data),
            WsMessage::Ping(data) => Message::Ping(data),
            WsMessage::Pong(data) => Message::Pong(data),
            WsMessage::Close { code, reason } => Message::Close(Some(CloseFrame {
                code,
                reason: reason.into(),
            })),
        };
        Pin::new(&mut self.0).start_send(message)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}
