//! subcast-ws: the graphql-transport-ws endpoint of subcast, over any WebSocket.
//!
//! - [`Endpoint`]: the executor, the runtime, the protocol's limits and the application's
//!   hooks ([`Endpoint::on_connect`], [`Endpoint::on_subscribe`]); [`Endpoint::serve`] runs
//!   one socket's connection loop; [`Endpoint::shutdown`] closes every connection with
//!   1001 `Going away`; [`Endpoint::resume_from`] resumes a `subscribe` whose
//!   `extensions.cursor` names the last event its client read (see
//!   [`subcast_core::Resume`]).
//! - [`WsMessage`]: the messages an adapter converts to and from its WebSocket library's.
//! - [`Accepted`], [`Refused`], [`ConnectRequest`], [`RequestInfo`]: what `on_connect` reads
//!   and decides.
//! - `axum` (feature `axum`): a `WebSocketUpgrade` handler for axum 0.8 on tokio.
//! - `tungstenite` (feature `tungstenite`): serve a TCP (or TLS) stream through
//!   async-tungstenite, on any runtime.
//!
//! The protocol itself is [`subcast_core::Connection`], a state machine with no I/O; this
//! crate is the loop around it: one task per socket, woken once per batch of frames of all
//! its subscriptions ([`subcast_core::ConnectionInbox`]), writing each frame as a text
//! message and ending every subscription when the socket ends, however it ends.

#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

mod endpoint;
mod message;
mod serve;
mod shutdown;

#[cfg(feature = "axum")]
pub mod axum;
#[cfg(feature = "tungstenite")]
pub mod tungstenite;

pub use endpoint::{
    Accepted, ConnectRequest, Endpoint, Refused, RequestInfo, DEFAULT_AUTH_TIMEOUT, DEFAULT_READ_BUFFER_BYTES,
};
pub use message::WsMessage;
pub use serve::ServeError;
pub use subcast_core::SUBPROTOCOL;
