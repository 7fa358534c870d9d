//! The one error type of subcast-core.
//!
//! - [`Error`]: every failure the engine reports, with the context a caller needs.
//! - [`Result`]: `std::result::Result<T, Error>`.

use crate::document::DocumentError;

/// `Result` with subcast's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every failure subcast-core reports.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The subscription document was rejected.
    #[error("invalid subscription document: {0}")]
    Document(#[from] DocumentError),

    /// The subscription id is already registered on this connection.
    #[error("subscription id {subscription_id:?} is already registered on connection {connection_id:?}")]
    DuplicateSubscription {
        /// The connection that already holds the id.
        connection_id: String,
        /// The id registered twice.
        subscription_id: String,
    },

    /// No subscription is registered under this key or id.
    #[error("unknown subscription {0}")]
    UnknownSubscription(String),

    /// No connection is registered under this id.
    #[error("unknown connection {0:?}")]
    UnknownConnection(String),

    /// An identifier (connection id, subscription id) is empty or too long.
    #[error("invalid {what}: {reason}")]
    InvalidId {
        /// Which identifier.
        what: &'static str,
        /// Why it was refused.
        reason: String,
    },

    /// A channel name is empty, too long or contains a NUL byte.
    #[error("invalid channel name {channel:?}: {reason}")]
    InvalidChannel {
        /// The refused name, truncated for display.
        channel: String,
        /// Why it was refused.
        reason: &'static str,
    },

    /// The event's data is larger than the configured limit.
    #[error("event data is {size} bytes, over the limit of {limit} bytes")]
    EventTooLarge {
        /// Encoded size of the data.
        size: usize,
        /// The configured limit.
        limit: usize,
    },

    /// Bytes received from a bus are not a valid subcast event.
    #[error("invalid event on the wire: {0}")]
    InvalidWireEvent(String),

    /// The bus failed to publish, subscribe or answer.
    #[error("event bus error: {0}")]
    Bus(String),

    /// No frame arrived within the timeout.
    #[error("no frame arrived within {0:?}")]
    Timeout(std::time::Duration),

    /// The bus or executor has been closed.
    #[error("{0} is closed")]
    Closed(&'static str),
}
