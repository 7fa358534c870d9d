//! How a [`RedisBus`](crate::RedisBus) names its channels, replays and reconnects.
//!
//! - [`RedisConfig`]: key prefix, optional replay stream length, timeouts, reconnection backoff,
//!   buffer bounds, and (feature `tls`) the certificates a `rediss://` server's certificate
//!   must chain to. [`RedisBus::connect`](crate::RedisBus::connect) refuses a configuration
//!   that [`RedisConfig::validate`] refuses, with an error naming the field.

use std::time::Duration;

use subcast_core::backend::ServerSettings;
pub use subcast_core::backend::DEFAULT_RECEIVED_CAPACITY;
use subcast_core::Backoff;
use subcast_core::Result;

/// Largest replay stream length: Redis reads `MAXLEN` as a signed 64-bit integer.
const MAX_REPLAY_LEN: usize = i64::MAX as usize;

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
    /// Delays between reconnection attempts: the first doubles up to the longest (default
    /// 50 ms and 5 s).
    pub reconnect: Backoff,
    /// Pub/sub messages that may wait for the bus's processing task (default
    /// [`DEFAULT_RECEIVED_CAPACITY`]). The connection is always read, so Redis never holds
    /// output for this client; a message that finds this buffer full is dropped and
    /// announced: with replay, read again from the stream; without, counted in an
    /// `EVENTS_GAP` notice.
    pub received_capacity: usize,
    /// Messages each local stream holds (default
    /// [`DEFAULT_STREAM_CAPACITY`](subcast_core::DEFAULT_STREAM_CAPACITY)). When a
    /// stream's consumer is slower than the channel: with replay, the channel is held and
    /// read again from the stream once the consumer has caught up; without, what does not
    /// fit is dropped and announced with its count.
    pub stream_capacity: usize,
    /// PEM certificates (CAs) that a `rediss://` server's certificate must chain to; with
    /// `None` (the default), the Mozilla roots bundled by the `webpki-roots` crate are
    /// trusted (never the operating system's store).
    #[cfg(feature = "tls")]
    pub tls_root_certificates: Option<Vec<u8>>,
}

impl Default for RedisConfig {
    fn default() -> Self {
        let server = ServerSettings::default();
        RedisConfig {
            prefix: "subcast:".to_owned(),
            replay_len: None,
            timeout: server.timeout,
            reconnect: server.reconnect,
            received_capacity: server.received_capacity,
            stream_capacity: server.stream_capacity,
            #[cfg(feature = "tls")]
            tls_root_certificates: None,
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

    /// Check every field: what [`RedisBus::connect`](crate::RedisBus::connect) refuses.
    ///
    /// Timeouts and backoffs must be positive (a zero backoff would reconnect in a busy
    /// loop), the longest backoff at least the first, the replay length from 1 to
    /// `i64::MAX`, the buffers at least 1 message.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use subcast_redis::RedisConfig;
    ///
    /// assert!(RedisConfig::default().validate().is_ok());
    /// let error = RedisConfig::default().timeout(Duration::ZERO).validate().unwrap_err();
    /// assert!(error.to_string().contains("timeout"));
    /// ```
    pub fn validate(&self) -> Result<()> {
        if let Some(len) = self.replay_len {
            if len == 0 || len > MAX_REPLAY_LEN {
                return Self::refuse("replay_len", "must be from 1 to i64::MAX");
            }
        }
        self.validate_settings()
    }

    /// Trust only the CA certificates in `pem` (one or more `CERTIFICATE` blocks) for
    /// `rediss://` servers, instead of the bundled webpki roots; for a private CA.
    ///
    /// The PEM is read when connecting: a PEM without a usable certificate makes
    /// [`RedisBus::connect`](crate::RedisBus::connect) fail.
    ///
    /// # Examples
    ///
    /// ```
    /// use subcast_redis::RedisConfig;
    ///
    /// # let ca_pem = b"-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n".to_vec();
    /// // let ca_pem = std::fs::read("/etc/redis/ca.pem")?;
    /// let config = RedisConfig::default().tls_root_certificates(ca_pem);
    /// assert!(config.tls_root_certificates.is_some());
    /// ```
    #[cfg(feature = "tls")]
    pub fn tls_root_certificates(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls_root_certificates = Some(pem.into());
        self
    }
}

subcast_core::server_config!(
    RedisConfig,
    "redis",
    ///
    /// Memory held by a bus handle is at most `received + per_stream × channels in use`
    /// messages, each as large as the largest event published.
);
