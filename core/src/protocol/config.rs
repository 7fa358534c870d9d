//! Timers and limits of one graphql-transport-ws connection.

use std::time::Duration;

use crate::rate_limit::BucketConfig;

/// Timers and limits of a [`Connection`](super::Connection).
///
/// Durations too long to add to an `Instant` mean "never".
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use subcast_core::{BucketConfig, ProtocolConfig};
///
/// let config = ProtocolConfig::default()
///     .connection_init_timeout(Duration::from_secs(10))
///     .keep_alive(Some(Duration::from_secs(30)))
///     .max_subscriptions(20)
///     .message_rate(Some(BucketConfig::new(50, 10.0)));
/// assert_eq!(config.max_subscriptions, 20);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ProtocolConfig {
    /// How long a new connection may wait before `connection_init` (default 3 s, as the
    /// reference server); then it is closed with 4408.
    pub connection_init_timeout: Duration,
    /// How often the server sends a keep-alive `ping` (default 12 s, as the reference
    /// server's WebSocket adapter); `None` sends none.
    pub keep_alive: Option<Duration>,
    /// How long the server waits for a `pong` after its `ping` (default 12 s); then the
    /// connection is closed with 4504.
    pub pong_timeout: Duration,
    /// Longest text message accepted, in bytes (default 128 KiB: a 64 KiB document with
    /// room for variables); a longer one closes the connection with 1009. Give the same
    /// limit to the WebSocket library so it never buffers more.
    pub max_message_bytes: usize,
    /// Longest operation id, in bytes (default 256, the executor's limit); a longer one is an
    /// invalid message (4400).
    pub max_id_bytes: usize,
    /// Subscriptions one connection may hold at once (default 100); one more is answered
    /// with an `error` (`SUBSCRIPTION_LIMIT`) for that operation only.
    pub max_subscriptions: usize,
    /// Messages a client may send: a burst and a sustained rate (default 200, then 50 per
    /// second); exceeding it closes the connection with 4429. `None` sets no limit.
    pub message_rate: Option<BucketConfig>,
}

impl Default for ProtocolConfig {
    fn default() -> Self {
        ProtocolConfig {
            connection_init_timeout: Duration::from_secs(3),
            keep_alive: Some(Duration::from_secs(12)),
            pong_timeout: Duration::from_secs(12),
            max_message_bytes: 128 * 1024,
            max_id_bytes: crate::executor::MAX_ID_LEN,
            max_subscriptions: 100,
            message_rate: Some(BucketConfig::new(200, 50.0)),
        }
    }
}

impl ProtocolConfig {
    /// Set how long a connection may wait before `connection_init`.
    pub fn connection_init_timeout(mut self, timeout: Duration) -> Self {
        self.connection_init_timeout = timeout;
        self
    }

    /// Set how often a keep-alive `ping` is sent (`None`: never).
    pub fn keep_alive(mut self, interval: Option<Duration>) -> Self {
        self.keep_alive = interval;
        self
    }

    /// Set how long a `pong` may take.
    pub fn pong_timeout(mut self, timeout: Duration) -> Self {
        self.pong_timeout = timeout;
        self
    }

    /// Set the longest text message accepted, in bytes.
    pub fn max_message_bytes(mut self, bytes: usize) -> Self {
        self.max_message_bytes = bytes;
        self
    }

    /// Set the longest operation id, in bytes.
    pub fn max_id_bytes(mut self, bytes: usize) -> Self {
        self.max_id_bytes = bytes;
        self
    }

    /// Set how many subscriptions one connection may hold at once.
    pub fn max_subscriptions(mut self, max: usize) -> Self {
        self.max_subscriptions = max;
        self
    }

    /// Set the message rate limit (`None`: no limit).
    pub fn message_rate(mut self, bucket: Option<BucketConfig>) -> Self {
        self.message_rate = bucket;
        self
    }
}
