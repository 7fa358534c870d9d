//! Serve graphql-transport-ws over async-tungstenite, on any runtime whose sockets speak
//! `futures-io` (smol's do; tokio's through a compat wrapper).
//!
//! - [`accept`]: run the WebSocket handshake on an accepted stream, then serve it.
//! - [`serve_socket`]: serve a socket whose handshake you ran yourself.
//!
//! Only the sub-protocol `graphql-transport-ws` is served: a handshake that does not offer
//! it is completed, then closed with 4406.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use async_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use async_tungstenite::tungstenite::http::HeaderValue;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WireCloseCode;
use async_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use async_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};
use async_tungstenite::WebSocketStream;
use futures_lite::{AsyncRead, AsyncWrite};
use futures_util::{Sink, SinkExt, Stream};
use subcast_core::{CloseCode, SUBPROTOCOL};

use crate::{Endpoint, RequestInfo, ServeError, WsMessage};

/// Why [`accept`] returned early.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    /// The WebSocket handshake failed.
    #[error("WebSocket handshake failed: {0}")]
    Handshake(#[source] WsError),
    /// The connection loop failed.
    #[error(transparent)]
    Serve(#[from] ServeError),
}

/// Run the WebSocket handshake on `stream`, selecting `graphql-transport-ws`, then serve
/// it with `endpoint` until it closes.
pub async fn accept<T>(endpoint: &Endpoint, stream: T) -> Result<(), AcceptError>
where
    T: AsyncRead + AsyncWrite + Unpin + Send,
{
    let limit = endpoint.protocol_config().max_message_bytes;
    let config = WebSocketConfig::default()
        .read_buffer_size(endpoint.read_buffer_size())
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit));
    let seen = Arc::new(Mutex::new(None));
    let callback = Handshake { seen: seen.clone() };
    let socket = async_tungstenite::accept_hdr_async_with_config(stream, callback, Some(config))
        .await
        .map_err(AcceptError::Handshake)?;
    let (request, offered) = seen
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .unwrap_or_default();
    if !offered {
        let mut socket = TungsteniteSocket(socket);
        let close = WsMessage::Close {
            code: CloseCode::SubprotocolNotAcceptable.as_u16(),
            reason: "Subprotocol not acceptable".into(),
        };
        let _ = socket.send(close).await;
        return Ok(());
    }
    serve_socket(endpoint, socket, request).await?;
    Ok(())
}

/// Serve `socket`, whose handshake selected `graphql-transport-ws`, with `endpoint`.
pub async fn serve_socket<T>(
    endpoint: &Endpoint,
    socket: WebSocketStream<T>,
    request: RequestInfo,
) -> Result<(), ServeError>
where
    T: AsyncRead + AsyncWrite + Unpin + Send,
{
    endpoint.serve(TungsteniteSocket(socket), request).await
}

/// Records the request and answers with the sub-protocol when the client offered it.
struct Handshake {
    seen: Arc<Mutex<Option<(RequestInfo, bool)>>>,
}

impl async_tungstenite::tungstenite::handshake::server::Callback for Handshake {
    fn on_request(self, request: &Request, mut response: Response) -> Result<Response, ErrorResponse> {
        let offered = request
            .headers()
            .get_all("sec-websocket-protocol")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .any(|protocol| protocol.trim() == SUBPROTOCOL);
        if offered {
            response
                .headers_mut()
                .insert("sec-websocket-protocol", HeaderValue::from_static(SUBPROTOCOL));
        }
        let info = RequestInfo {
            headers: request
                .headers()
                .iter()
                .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
                .collect(),
            path: request.uri().path().to_owned(),
            remote_addr: None,
        };
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = Some((info, offered));
        Ok(response)
    }
}

/// An async-tungstenite socket speaking [`WsMessage`].
struct TungsteniteSocket<T>(WebSocketStream<T>);

impl<T: AsyncRead + AsyncWrite + Unpin> Stream for TungsteniteSocket<T> {
    type Item = Result<WsMessage, WsError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            let message = match Pin::new(&mut self.0).poll_next(cx) {
                Poll::Ready(Some(Ok(message))) => message,
                Poll::Ready(Some(Err(error))) => return Poll::Ready(Some(Err(error))),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            };
            let message = match message {
                Message::Text(text) => WsMessage::Text(text.into()),
                Message::Binary(data) => WsMessage::Binary(data),
                Message::Ping(data) => WsMessage::Ping(data),
                Message::Pong(data) => WsMessage::Pong(data),
                Message::Close(Some(frame)) => WsMessage::Close {
                    code: frame.code.into(),
                    reason: frame.reason.to_string(),
                },
                Message::Close(None) => WsMessage::Close {
                    code: 1005,
                    reason: String::new(),
                },
                // Raw frames are never returned by a read.
                Message::Frame(_) => continue,
            };
            return Poll::Ready(Some(Ok(message)));
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> Sink<WsMessage> for TungsteniteSocket<T> {
    type Error = WsError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.0).poll_ready(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, message: WsMessage) -> Result<(), Self::Error> {
        let message = match message {
            WsMessage::Text(text) => Message::Text(Utf8Bytes::try_from(text)?),
            WsMessage::Binary(data) => Message::Binary(data),
            WsMessage::Ping(data) => Message::Ping(data),
            WsMessage::Pong(data) => Message::Pong(data),
            WsMessage::Close { code, reason } => Message::Close(Some(CloseFrame {
                code: WireCloseCode::from(code),
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
