//! How a [`RedisBus`](crate::RedisBus) names its channels, replays and reconnects.
//!
//! - [`RedisConfig`]: key prefix, optional replay stream length, timeouts, reconnection backoff.

use std::time::Duration;

/// Settings of a [`RedisBus`](crate::RedisBus).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use subcast_redis::RedisConfig;
///
/// let config = RedisConfig::default().prefix("app:").replay(10_000).timeout(Duration::from_secs(2));
/// assert_eq!(config.replay_len, Some(10_000));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RedisConfig {
    /// Prepended to every channel name to form the Redis channel and stream key (default `subcast:`).
    pub prefix: String,
    /// With `Some(n)`, every publish is also appended to a stream capped near `n` entries,
    /// and events missed during a disconnection are replayed from it (default `None`).
    pub replay_len: Option<usize>,
    /// Longest wait for connecting or for one command (default 5 s).
    pub timeout: Duration,
    /// First delay between reconnection attempts; it doubles up to `reconnect_max` (default 50 ms).
    pub reconnect_min: Duration,
    /// Longest delay between reconnection attempts (default 5 s).
    pub reconnect_max: Duration,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            prefix: "subcast:".to_owned(),
            replay_len: None,
            timeout: Duration::from_secs(5),
            reconnect_min: Duration::from_millis(50),
            reconnect_max: Duration::from_secs(5),
        }
    }
}

impl RedisConfig {
    /// Set the prefix of Redis channel names and stream keys.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Keep about `stream_len` events per channel in a stream and replay them after a disconnection.
    pub fn replay(mut self, stream_len: usize) -> Self {
        self.replay_len = Some(stream_len.max(1));
        self
    }

    /// Set the longest wait for connecting or for one command.
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
}
