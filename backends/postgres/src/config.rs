//! How a [`PostgresBus`](crate::PostgresBus) names its channels, keeps its outbox and reconnects.
//!
//! - [`PostgresConfig`]: outbox schema and table, retention, timeouts, reconnection backoff.

use std::time::Duration;

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
    /// First delay between reconnection attempts; it doubles up to `reconnect_max` (default 50 ms).
    pub reconnect_min: Duration,
    /// Longest delay between reconnection attempts (default 5 s).
    pub reconnect_max: Duration,
    /// Wait for the outbox row to be flushed to disk before a publish returns (default `false`).
    ///
    /// With `false` the publishing session runs with `synchronous_commit = off`: a publish
    /// costs no disk flush (about 0.1 ms instead of a few ms on ordinary disks), and a
    /// server crash may lose the last events written; nodes then receive a gap notice.
    /// Lost connections lose nothing either way.
    pub synchronous_commit: bool,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        PostgresConfig {
            schema: "public".to_owned(),
            table: "subcast_outbox".to_owned(),
            channel_prefix: "subcast:".to_owned(),
            retention: Some(Duration::from_secs(3600)),
            cleanup_interval: Duration::from_secs(60),
            timeout: Duration::from_secs(5),
            reconnect_min: Duration::from_millis(50),
            reconnect_max: Duration::from_secs(5),
            synchronous_commit: false,
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

    /// Set the longest wait for connecting or for one statement.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Set the first and the longest delay between reconnection attempts.
    pub fn reconnect_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.reconnect_min = min;
        self.reconnect_max = max.max(min);
        self
    }

    /// Choose whether publishes wait for the outbox row to reach the disk.
    pub fn synchronous_commit(mut self, synchronous: bool) -> Self {
        self.synchronous_commit = synchronous;
        self
    }
}
