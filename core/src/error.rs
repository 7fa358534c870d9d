//! The one error type of subcast-core.
//!
//! - [`Error`]: every failure the engine reports, with the context a caller needs.
//! - [`Result`]: `std::result::Result<T, Error>`.
//! - [`Error::code`] / [`Error::to_error_frame`]: the machine-readable code of an error and
//!   the graphql-transport-ws `error` frame that refuses a subscription with it.

use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;

use crate::codes::{
    BAD_REQUEST, FIELD_FORBIDDEN, IDENTITY_MISMATCH, INSUFFICIENT_SCOPE, INTERNAL_ERROR, INVALID_CURSOR,
    INVALID_DOCUMENT, INVALID_FILTER, RATE_LIMITED, SUBSCRIPTION_LIMIT, UNAUTHENTICATED,
};
use crate::document::DocumentError;
use crate::frame::{FrameBody, FramePrefix, GraphQLError};
use crate::rate_limit::RateLimitKind;
use crate::security::filter::FilterError;

/// A backend's own error, boxed: the source of an [`Error::Bus`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

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

    /// The event's data nests arrays and objects deeper than the limit every node decodes.
    #[error("event data is nested deeper than {limit} levels of arrays and objects")]
    EventTooDeep {
        /// [`MAX_EVENT_DEPTH`](crate::MAX_EVENT_DEPTH).
        limit: usize,
    },

    /// A configuration value is out of its range.
    #[error("invalid configuration: `{setting}` {reason}")]
    InvalidConfig {
        /// The setting, e.g. `queue_capacity`.
        setting: &'static str,
        /// Why it was refused.
        reason: String,
    },

    /// Bytes received from a bus are not a valid subcast event.
    #[error("invalid event on the wire: {0}")]
    InvalidWireEvent(String),

    /// The bus failed to publish, subscribe or answer; [`Error::bus`] and
    /// [`Error::bus_message`] build it.
    #[error("event bus error: {message}")]
    Bus {
        /// The backend that failed: `"redis"`, `"postgres"`, `"memory"`, or `"runtime"` for
        /// a bus operation that outlived its time limit.
        bus: &'static str,
        /// What the bus was doing and what went wrong, the source's own text included.
        message: String,
        /// The backend's own error (e.g. a `redis::RedisError`), to inspect or downcast.
        #[source]
        source: Option<BoxError>,
    },

    /// No frame arrived within the timeout.
    #[error("no frame arrived within {0:?}")]
    Timeout(std::time::Duration),

    /// The bus or executor has been closed.
    #[error("{0} is closed")]
    Closed(&'static str),

    /// The subscription carries no security context and the executor refuses anonymous
    /// subscribers.
    #[error("a security context is required to subscribe")]
    Unauthenticated,

    /// The subscription reads a field the subscriber's roles may not read: it selects it,
    /// filters on it, or the per-event policies read it for it (owner, federation path).
    #[error("field `{field}` is not allowed for the subscriber's roles")]
    FieldForbidden {
        /// The field path, e.g. `users.email`, rooted at the root field or at a channel
        /// listened on.
        field: String,
    },

    /// The subscriber lacks a scope the root field, or a channel listened on, requires.
    #[error("subscribing to `{root_field}` requires the scope {scope:?}")]
    ScopeMissing {
        /// The root field subscribed to, or the channel listened on, that requires it.
        root_field: String,
        /// The missing scope.
        scope: String,
    },

    /// A variable or root argument names a user or tenant other than the subscriber's.
    #[error("`{name}` must be the subscriber's own {identity}")]
    IdentityMismatch {
        /// The variable or argument name.
        name: String,
        /// `"user id"` or `"tenant id"`.
        identity: &'static str,
    },

    /// A rate limit refused the subscribe.
    #[error("too many subscriptions created ({kind}); retry after {retry_after:?}")]
    RateLimited {
        /// The limit that refused.
        kind: RateLimitKind,
        /// When a token is available again.
        retry_after: Duration,
    },

    /// The connection or the user already holds the maximum number of subscriptions.
    #[error("subscription limit reached ({kind}): at most {limit}")]
    SubscriptionLimit {
        /// `ConnectionSubscriptions` or `UserSubscriptions`.
        kind: RateLimitKind,
        /// The configured maximum.
        limit: usize,
    },

    /// The subscription's event filter is invalid.
    #[error("invalid event filter: {0}")]
    InvalidFilter(#[from] FilterError),

    /// A client's resume cursor is malformed, foreign, or names a channel the subscription
    /// does not listen to.
    #[error("{0}")]
    InvalidCursor(#[from] CursorError),
}

impl Error {
    /// A bus failure caused by the backend's `source` error, kept for inspection;
    /// `message` says what failed and includes the source's text, as users read it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::error::Error as _;
    ///
    /// let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
    /// let error = subcast_core::Error::bus("redis", format!("cannot connect to Redis: {io}"), io);
    /// assert_eq!(error.to_string(), "event bus error: cannot connect to Redis: refused");
    /// let source = error.source().and_then(|s| s.downcast_ref::<std::io::Error>()).unwrap();
    /// assert_eq!(source.kind(), std::io::ErrorKind::ConnectionRefused);
    /// ```
    pub fn bus(bus: &'static str, message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Error::Bus {
            bus,
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// A bus failure with no underlying error (a refused configuration, a lost session).
    pub fn bus_message(bus: &'static str, message: impl Into<String>) -> Self {
        Error::Bus {
            bus,
            message: message.into(),
            source: None,
        }
    }

    /// The machine-readable code of this error, as sent in `extensions.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Document(_) => INVALID_DOCUMENT,
            Error::DuplicateSubscription { .. }
            | Error::UnknownSubscription(_)
            | Error::UnknownConnection(_)
            | Error::InvalidId { .. }
            | Error::InvalidChannel { .. }
            | Error::EventTooLarge { .. }
            | Error::EventTooDeep { .. }
            | Error::InvalidWireEvent(_) => BAD_REQUEST,
            Error::Unauthenticated => UNAUTHENTICATED,
            Error::FieldForbidden { .. } => FIELD_FORBIDDEN,
            Error::ScopeMissing { .. } => INSUFFICIENT_SCOPE,
            Error::IdentityMismatch { .. } => IDENTITY_MISMATCH,
            Error::RateLimited { .. } => RATE_LIMITED,
            Error::SubscriptionLimit { .. } => SUBSCRIPTION_LIMIT,
            Error::InvalidFilter(_) => INVALID_FILTER,
            Error::InvalidCursor(_) => INVALID_CURSOR,
            Error::Bus { .. } | Error::Timeout(_) | Error::Closed(_) | Error::InvalidConfig { .. } => {
                INTERNAL_ERROR
            }
        }
    }

    /// This error as a GraphQL error: the message, `extensions.code`, and the details a
    /// client can act on (`field`, `scope`, `kind`, `limit`, `retryAfterMs`).
    pub fn to_graphql_error(&self) -> GraphQLError {
        let mut error = GraphQLError::new(self.code(), self.to_string());
        let mut extend = |key: &str, value: Value| {
            error.extensions.insert(key.to_owned(), value);
        };
        match self {
            Error::FieldForbidden { field } => extend("field", field.as_str().into()),
            Error::ScopeMissing { scope, .. } => extend("scope", scope.as_str().into()),
            Error::IdentityMismatch { name, .. } => extend("argument", name.as_str().into()),
            Error::RateLimited { kind, retry_after } => {
                extend("kind", kind.as_str().into());
                let millis = u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX);
                extend("retryAfterMs", millis.into());
            }
            Error::SubscriptionLimit { kind, limit } => {
                extend("kind", kind.as_str().into());
                extend("limit", (*limit as u64).into());
            }
            _ => {}
        }
        error
    }

    /// This error as the GraphQL errors of an `error` frame: one per problem of a document
    /// refused by schema validation (each with `extensions.locations`, `[{line, column}]`),
    /// else the one [`to_graphql_error`](Self::to_graphql_error) gives.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::{DocumentLimits, Error, Schema, SubscriptionDocument};
    ///
    /// let schema = Schema::parse("type Query { a: Int } type Subscription { ticks(n: Int): Int }")?;
    /// let document = SubscriptionDocument::parse("subscription { ticks(m: 1, n: \"2\") }", None, &DocumentLimits::default())?;
    /// let error = Error::from(schema.validate(&document, &serde_json::Value::Null).unwrap_err());
    /// let errors = error.to_graphql_errors();
    /// assert_eq!(errors.len(), 2);
    /// assert_eq!(errors[1].extensions["locations"], serde_json::json!([{"line": 1, "column": 31}]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_graphql_errors(&self) -> Vec<GraphQLError> {
        let Error::Document(document) = self else {
            return vec![self.to_graphql_error()];
        };
        document
            .diagnostics()
            .into_iter()
            .map(|diagnostic| {
                let message = format!("invalid subscription document: {diagnostic}");
                let mut error = GraphQLError::new(self.code(), message);
                if let Some(position) = diagnostic.position {
                    let location = serde_json::json!([{"line": position.line, "column": position.column}]);
                    error.extensions.insert("locations".to_owned(), location);
                }
                error
            })
            .collect()
    }

    /// The graphql-transport-ws `error` frame refusing `subscription_id` with this error.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_core::Error;
    ///
    /// let error = Error::FieldForbidden { field: "users.email".into() };
    /// let frame: serde_json::Value = serde_json::from_slice(&error.to_error_frame("7")).unwrap();
    /// assert_eq!(frame["type"], "error");
    /// assert_eq!(frame["id"], "7");
    /// assert_eq!(frame["payload"][0]["extensions"]["code"], "FIELD_FORBIDDEN");
    /// assert_eq!(frame["payload"][0]["extensions"]["field"], "users.email");
    /// ```
    pub fn to_error_frame(&self, subscription_id: &str) -> Bytes {
        FramePrefix::new(subscription_id).splice(&FrameBody::error(&self.to_graphql_errors()))
    }
}

/// Why a client's cursor was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cursor: {0}")]
pub struct CursorError(pub String);
