//! Every close code a graphql-transport-ws server sends, and close reasons that fit a close
//! frame.
//!
//! - [`CloseCode`]: the codes, with when each is used and whether the graphql-ws client
//!   reconnects after it.
//! - [`MAX_CLOSE_REASON_BYTES`]: the longest reason a close frame carries.

use std::fmt;

/// The WebSocket sub-protocol this module speaks; a handshake that does not offer it is
/// refused with [`CloseCode::SubprotocolNotAcceptable`].
pub const SUBPROTOCOL: &str = "graphql-transport-ws";

/// The longest close reason, in bytes: a close frame's payload is at most 125 bytes, two of
/// which hold the code.
pub const MAX_CLOSE_REASON_BYTES: usize = 123;

/// Why the server closes a graphql-transport-ws socket.
///
/// The numbers are those of the reference implementation (graphql-ws `CloseCode`) and of
/// RFC 6455. "Retried" says whether the graphql-ws client reconnects after the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseCode {
    /// 1001: the server shuts down ([`Connection::shutdown`](super::Connection::shutdown)).
    /// Retried.
    GoingAway,
    /// 1009: a message longer than
    /// [`ProtocolConfig::max_message_bytes`](super::ProtocolConfig::max_message_bytes), the
    /// code a WebSocket library sends for its own frame limit. Not retried: the same message
    /// would be refused again.
    MessageTooBig,
    /// 4400: an invalid message (not JSON, not an object, unknown or server-only type, a field
    /// of the wrong type or missing, an id over the limit, a binary message). Not retried.
    BadRequest,
    /// 4401: `subscribe` before `connection_ack`. Not retried.
    Unauthorized,
    /// 4403: the application refused the connection
    /// ([`Connection::refuse`](super::Connection::refuse)). Retried: access may be granted later.
    Forbidden,
    /// 4406: the handshake did not offer [`SUBPROTOCOL`]; sent by the I/O layer, which
    /// negotiates the sub-protocol. Not retried.
    SubprotocolNotAcceptable,
    /// 4408: no `connection_init` within
    /// [`ProtocolConfig::connection_init_timeout`](super::ProtocolConfig::connection_init_timeout).
    /// Retried.
    ConnectionInitialisationTimeout,
    /// 4409: `subscribe` with the id of an active subscription. Not retried.
    SubscriberAlreadyExists,
    /// 4429: a second `connection_init` ("Too many initialisation requests"), or more
    /// messages than [`ProtocolConfig::message_rate`](super::ProtocolConfig::message_rate)
    /// allows ("Too many messages"). Not retried, which is what a flood deserves.
    TooManyRequests,
    /// 4500: the server failed ([`Connection::internal_error`](super::Connection::internal_error)),
    /// or its I/O loop left actions undrained. Not retried.
    InternalServerError,
    /// 4504: no `pong` within
    /// [`ProtocolConfig::pong_timeout`](super::ProtocolConfig::pong_timeout) of a keep-alive
    /// `ping`. Retried.
    ///
    /// The protocol names no code for a silent peer, and the reference server leaves
    /// keep-alive to its WebSocket adapter, which drops the TCP connection (the client sees
    /// 1006, which a server may not send). 4504 is the protocol's own timeout code
    /// (graphql-ws calls it `ConnectionAcknowledgementTimeout`, the 504 "gateway timeout"
    /// class), the graphql-ws client reconnects after it, and it keeps a dead peer apart
    /// from a client that never initialised (4408) in logs.
    KeepAliveTimeout,
}

impl CloseCode {
    /// The number sent in the close frame.
    pub fn as_u16(self) -> u16 {
        match self {
            CloseCode::GoingAway => 1001,
            CloseCode::MessageTooBig => 1009,
            CloseCode::BadRequest => 4400,
            CloseCode::Unauthorized => 4401,
            CloseCode::Forbidden => 4403,
            CloseCode::SubprotocolNotAcceptable => 4406,
            CloseCode::ConnectionInitialisationTimeout => 4408,
            CloseCode::SubscriberAlreadyExists => 4409,
            CloseCode::TooManyRequests => 4429,
            CloseCode::InternalServerError => 4500,
            CloseCode::KeepAliveTimeout => 4504,
        }
    }

    /// Whether the graphql-ws client reconnects after this code (its
    /// `shouldRetryConnectOrThrow`).
    pub fn is_retried_by_client(self) -> bool {
        matches!(
            self,
            CloseCode::GoingAway
                | CloseCode::Forbidden
                | CloseCode::ConnectionInitialisationTimeout
                | CloseCode::KeepAliveTimeout
        )
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> u16 {
        code.as_u16()
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_u16())
    }
}

/// `reason` cut to at most [`MAX_CLOSE_REASON_BYTES`], on a character boundary.
pub(crate) fn close_reason(reason: &str) -> String {
    let mut end = reason.len().min(MAX_CLOSE_REASON_BYTES);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_is_cut_on_a_char_boundary() {
        let reason = "é".repeat(100);
        let cut = close_reason(&reason);
        assert_eq!(cut.len(), 122);
        assert!(cut.chars().all(|c| c == 'é'));
    }

    #[test]
    fn short_reason_is_kept() {
        assert_eq!(close_reason("Forbidden"), "Forbidden");
    }
}
