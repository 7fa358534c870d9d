//! The WebSocket messages the connection loop reads and writes, independent of any
//! WebSocket library.

use bytes::Bytes;

/// One WebSocket message, as an adapter converts it to and from its library's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsMessage {
    /// A text message. Always valid UTF-8: the loop writes graphql-transport-ws frames, and
    /// the WebSocket library validates what it reads. Held as [`Bytes`] so a frame reaches
    /// the socket without a copy.
    Text(Bytes),
    /// A binary message (graphql-transport-ws has none: a client that sends one is closed
    /// with 4400).
    Binary(Bytes),
    /// A WebSocket ping (the library answers it; the loop ignores it).
    Ping(Bytes),
    /// A WebSocket pong.
    Pong(Bytes),
    /// A close frame with its code and reason (1005, "No Status Received", when the peer
    /// sent none).
    Close {
        /// The close code.
        code: u16,
        /// The reason, at most 123 bytes of UTF-8.
        reason: String,
    },
}

impl WsMessage {
    /// A text message of `text`.
    pub fn text(text: impl Into<String>) -> Self {
        WsMessage::Text(Bytes::from(text.into()))
    }

    /// The text of a text message.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            WsMessage::Text(bytes) => std::str::from_utf8(bytes).ok(),
            _ => None,
        }
    }
}
