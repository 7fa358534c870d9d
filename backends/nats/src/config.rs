//! How a [`NatsBus`](crate::NatsBus) names its subjects, authenticates, replays and reconnects.
//!
//! - [`NatsConfig`]: subject prefix, credentials (token, creds file), TLS roots, optional
//!   [`JetStreamConfig`], timeouts, reconnection backoff, buffer bounds.
//!   [`NatsBus::connect`](crate::NatsBus::connect) refuses a configuration that
//!   [`NatsConfig::validate`] refuses, with an error naming the field.
//! - [`JetStreamConfig`]: the stream that keeps events for replay and its retention limits.

use std::path::PathBuf;
use std::time::Duration;

use subcast_core::backend::ServerSettings;
pub use subcast_core::backend::DEFAULT_RECEIVED_CAPACITY;
use subcast_core::Backoff;
use subcast_core::Result;

use crate::subject::subject_problem;

/// The default stream name.
pub const DEFAULT_STREAM: &str = "SUBCAST";

/// Settings of a [`NatsBus`](crate::NatsBus).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use subcast_nats::{JetStreamConfig, NatsConfig};
///
/// let config = NatsConfig::default()
///     .prefix("app.events")
///     .jetstream(JetStreamConfig::default().max_age(Duration::from_secs(600)))
///     .timeout(Duration::from_secs(2));
/// assert!(config.validate().is_ok());
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NatsConfig {
    /// The first tokens of every subject the bus uses (default `subcast`): one or more
    /// `.`-separated tokens without whitespace, `*` or `>`.
    pub prefix: String,
    /// With `Some`, events are published through JetStream into a stream and replayed from
    /// it after a disconnection or an overflow; with `None` (the default), over core NATS
    /// only, and a loss is announced as a gap.
    pub jetstream: Option<JetStreamConfig>,
    /// Authenticate with this token (user and password go in the URL).
    pub token: Option<String>,
    /// Authenticate with this `.creds` file (a user JWT and its NKey seed).
    pub credentials_file: Option<PathBuf>,
    /// PEM file of CAs a `tls://` server's certificate must chain to; with `None` (the
    /// default), the operating system's certificate store.
    pub tls_root_certificates: Option<PathBuf>,
    /// Longest wait for connecting or for one operation (default 5 s).
    pub timeout: Duration,
    /// Delays between reconnection attempts: the first doubles up to the longest (default
    /// 50 ms and 5 s).
    pub reconnect: Backoff,
    /// Messages that may wait for the bus's processing task (default
    /// [`DEFAULT_RECEIVED_CAPACITY`]); what finds it full is replayed (JetStream) or
    /// counted in an `EVENTS_GAP` notice.
    pub received_capacity: usize,
    /// Messages each local stream holds (default
    /// [`DEFAULT_STREAM_CAPACITY`](subcast_core::DEFAULT_STREAM_CAPACITY)).
    pub stream_capacity: usize,
}

impl Default for NatsConfig {
    fn default() -> Self {
        let server = ServerSettings::default();
        NatsConfig {
            prefix: "subcast".to_owned(),
            jetstream: None,
            token: None,
            credentials_file: None,
            tls_root_certificates: None,
            timeout: server.timeout,
            reconnect: server.reconnect,
            received_capacity: server.received_capacity,
            stream_capacity: server.stream_capacity,
        }
    }
}

/// The JetStream stream a [`NatsBus`](crate::NatsBus) keeps events in for replay.
///
/// Every node of one deployment must use the same stream, prefix and limits: the first
/// node creates the stream, the others check that it matches.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use subcast_nats::JetStreamConfig;
///
/// let stream = JetStreamConfig::default().stream("EVENTS").max_messages(1_000_000);
/// assert_eq!(stream.max_age, Duration::from_secs(3600));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct JetStreamConfig {
    /// The stream's name (default [`DEFAULT_STREAM`]): letters, digits, `-` and `_`.
    pub stream: String,
    /// Events older than this are removed (default 1 hour).
    pub max_age: Duration,
    /// At most this many events are kept, the oldest removed first (default unlimited).
    pub max_messages: Option<u64>,
    /// At most this many bytes are kept, the oldest events removed first (default 256 MiB).
    pub max_bytes: Option<u64>,
}

impl Default for JetStreamConfig {
    fn default() -> Self {
        JetStreamConfig {
            stream: DEFAULT_STREAM.to_owned(),
            max_age: Duration::from_secs(3600),
            max_messages: None,
            max_bytes: Some(256 * 1024 * 1024),
        }
    }
}

impl JetStreamConfig {
    /// Set the stream's name.
    pub fn stream(mut self, name: impl Into<String>) -> Self {
        self.stream = name.into();
        self
    }

    /// Remove events older than `max_age`.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// Keep at most `max_messages` events.
    pub fn max_messages(mut self, max_messages: u64) -> Self {
        self.max_messages = Some(max_messages);
        self
    }

    /// Keep at most `max_bytes` bytes of events.
    pub fn max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = Some(max_bytes);
        self
    }
}

impl NatsConfig {
    /// Set the first tokens of every subject.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Publish through JetStream into `stream` and replay from it.
    pub fn jetstream(mut self, stream: JetStreamConfig) -> Self {
        self.jetstream = Some(stream);
        self
    }

    /// Authenticate with `token`.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Authenticate with the `.creds` file at `path`.
    pub fn credentials_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.credentials_file = Some(path.into());
        self
    }

    /// Trust the CAs in the PEM file at `path` for `tls://` servers.
    pub fn tls_root_certificates(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls_root_certificates = Some(path.into());
        self
    }

    /// Check every field: what [`NatsBus::connect`](crate::NatsBus::connect) refuses.
    ///
    /// The prefix must be a valid subject without wildcards (at most 128 bytes); a token
    /// and a creds file exclude each other; the stream name is 1–64 letters, digits, `-`
    /// or `_`; its limits are positive and at most `i64::MAX`; timeouts, backoffs and
    /// buffers as [`ServerSettings::problem`] says.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_nats::NatsConfig;
    ///
    /// let error = NatsConfig::default().prefix("a.*").validate().unwrap_err();
    /// assert!(error.to_string().contains("prefix"));
    /// ```
    pub fn validate(&self) -> Result<()> {
        if let Some(rule) = subject_problem(&self.prefix) {
            return Self::refuse("prefix", rule);
        }
        if self.token.is_some() && self.credentials_file.is_some() {
            return Self::refuse("token", "and credentials_file exclude each other");
        }
        if self.token.as_deref() == Some("") {
            return Self::refuse("token", "must not be empty");
        }
        if let Some(stream) = &self.jetstream {
            let name_ok = !stream.stream.is_empty()
                && stream.stream.len() <= 64
                && stream
                    .stream
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !name_ok {
                return Self::refuse("jetstream.stream", "must be 1 to 64 letters, digits, '-' or '_'");
            }
            if stream.max_age.is_zero() || i64::try_from(stream.max_age.as_nanos()).is_err() {
                return Self::refuse("jetstream.max_age", "must be positive and under 292 years");
            }
            let limit_ok = |limit: Option<u64>| limit.is_none_or(|n| n >= 1 && i64::try_from(n).is_ok());
            if !limit_ok(stream.max_messages) {
                return Self::refuse("jetstream.max_messages", "must be from 1 to i64::MAX");
            }
            if !limit_ok(stream.max_bytes) {
                return Self::refuse("jetstream.max_bytes", "must be from 1 to i64::MAX");
            }
        }
        self.validate_settings()
    }
}

subcast_core::server_config!(NatsConfig, "nats");
