//! How a [`PostgresBus`](crate::PostgresBus) names its channels, keeps its outbox and reconnects.
//!
//! - [`PostgresConfig`]: outbox schema and table, retention, timeouts, reconnection backoff,
//!   buffer bounds. [`PostgresBus::connect`](crate::PostgresBus::connect) refuses a
//!   configuration that [`PostgresConfig::validate`] refuses, with an error naming the field.

use std::time::Duration;

use subcast_core::backend::ServerSettings;
pub use subcast_core::backend::DEFAULT_RECEIVED_CAPACITY;
use subcast_core::Backoff;
use subcast_core::Result;

/// Longest retention: PostgreSQL intervals end near 292,000 years; a century is plenty
/// (`None` keeps events forever).
pub const MAX_RETENTION: Duration = Duration::from_secs(100 * 366 * 24 * 3600);

/// Longest identifier PostgreSQL keeps (NAMEDATALEN - 1).
const MAX_IDENTIFIER: usize = 63;

/// Settings of a [`PostgresBus`](crate::PostgresBus).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use subcast_postgres::PostgresConfig;
///
/// let config = PostgresConfig::default()
///     .outbox("events", "subcast_outbox")
///     .retention(Some(Duration::from_secs(600)));
/// assert_eq!(config.schema, "events");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PostgresConfig {
    /// Schema of the outbox table, created if missing (default `public`).
    pub schema: String,
    /// Name of the outbox table, created if missing (default `subcast_outbox`).
    pub table: String,
    /// Prepended to channel names to form NOTIFY channels; at most 15 bytes (default `subcast:`).
    ///
    /// Buses sharing a database must use prefixes of which none starts another, or their
    /// channels may meet.
    pub channel_prefix: String,
    /// How long published events stay in the outbox for replay; `None` keeps them (default 1 h).
    ///
    /// A node that replays from before a deleted event receives a gap notice. Each channel
    /// keeps one small row (its newest position) so quiet channels replay without one.
    pub retention: Option<Duration>,
    /// How often old outbox rows are deleted (default 60 s).
    pub cleanup_interval: Duration,
    /// Longest wait for connecting or for one statement (default 5 s).
    pub timeout: Duration,
    /// Delays between reconnection attempts: the first doubles up to the longest (default
    /// 50 ms and 5 s).
    pub reconnect: Backoff,
    /// Wait for the outbox row to be flushed to disk before a publish returns (default `false`).
    ///
    /// With `false` the publishing session runs with `synchronous_commit = off`: a publish
    /// costs no disk flush (about 0.1 ms instead of a few ms on ordinary disks), and a
    /// server crash may lose the last events written; nodes then receive a gap notice.
    /// Lost connections lose nothing either way.
    pub synchronous_commit: bool,
    /// Notifications that may wait for the bus's processing task (default
    /// [`DEFAULT_RECEIVED_CAPACITY`]). The listening session is always read (it also runs
    /// the bus's queries, and a session that stops reading would hold back PostgreSQL's
    /// notification queue for every listener); a notification that finds this buffer full is
    /// dropped and its channel read again from the outbox.
    pub received_capacity: usize,
    /// Messages each local stream holds (default
    /// [`DEFAULT_STREAM_CAPACITY`](subcast_core::DEFAULT_STREAM_CAPACITY)). When a
    /// stream's consumer is slower than the channel, the channel is held and read again from
    /// the outbox, by its cursor, once the consumer has caught up: nothing is lost while the
    /// outbox keeps the events ([`PostgresConfig::retention`]).
    pub stream_capacity: usize,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        let server = ServerSettings::default();
        PostgresConfig {
            schema: "public".to_owned(),
            table: "subcast_outbox".to_owned(),
            channel_prefix: "subcast:".to_owned(),
            retention: Some(Duration::from_secs(3600)),
            cleanup_interval: Duration::from_secs(60),
            timeout: server.timeout,
            reconnect: server.reconnect,
            synchronous_commit: false,
            received_capacity: server.received_capacity,
            stream_capacity: server.stream_capacity,
        }
    }
}

impl PostgresConfig {
    /// Set the schema and name of the outbox table.
    pub fn outbox(mut self, schema: impl Into<String>, table: impl Into<String>) -> Self {
        self.schema = schema.into();
        self.table = table.into();
        self
    }

    /// Set how long events stay in the outbox (`None`: forever).
    pub fn retention(mut self, retention: Option<Duration>) -> Self {
        self.retention = retention;
        self
    }

    /// Choose whether publishes wait for the outbox row to reach the disk.
    pub fn synchronous_commit(mut self, synchronous: bool) -> Self {
        self.synchronous_commit = synchronous;
        self
    }

    /// Check every field: what [`PostgresBus::connect`](crate::PostgresBus::connect) refuses.
    ///
    /// Schema and table are 1 to 63 bytes; the channel prefix at most 15 bytes; no name
    /// holds a NUL byte. Timeouts, backoffs and the cleanup interval are positive (zero
    /// would loop without pause), the longest backoff at least the first, the retention at
    /// most [`MAX_RETENTION`], the buffers at least 1 message.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use subcast_postgres::PostgresConfig;
    ///
    /// assert!(PostgresConfig::default().validate().is_ok());
    /// let error = PostgresConfig::default().retention(Some(Duration::MAX)).validate().unwrap_err();
    /// assert!(error.to_string().contains("retention"));
    /// ```
    pub fn validate(&self) -> Result<()> {
        for (field, name) in [("schema", &self.schema), ("table", &self.table)] {
            if name.is_empty() || name.len() > MAX_IDENTIFIER || name.contains('\0') {
                return Self::refuse(field, "must be 1 to 63 bytes without NUL");
            }
        }
        if self.channel_prefix.len() > crate::outbox::MAX_PREFIX || self.channel_prefix.contains('\0') {
            return Self::refuse("channel_prefix", "must be at most 15 bytes without NUL");
        }
        if self.retention.is_some_and(|retention| retention > MAX_RETENTION) {
            return Self::refuse(
                "retention",
                "must be at most 100 years (None keeps events forever)",
            );
        }
        if self.cleanup_interval.is_zero() {
            return Self::refuse("cleanup_interval", "must be positive");
        }
        self.validate_settings()
    }
}

subcast_core::server_config!(
    PostgresConfig,
    "postgres",
    ///
    /// Memory held by a bus handle is at most `received` notifications (each under 8,000
    /// bytes) plus `per_stream × channels in use` events, each as large as the largest
    /// event published; a replay reads no more than its streams have room for.
);
