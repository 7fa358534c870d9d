//! How a [`RedisBus`](crate::RedisBus) names its channels, replays and reconnects.
//!
//! - [`RedisConfig`]: key prefix, optional replay stream length, timeouts, reconnection backoff,
//!   and (feature `tls`) the certificates a `rediss://` server's certificate must chain to.

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
    /// PEM certificates (CAs) that a `rediss://` server's certificate must chain to; with
    /// `None` (the default), the Mozilla roots bundled by the `webpki-roots` crate are
    /// trusted (never the operating system's store).
    #[cfg(feature = "tls")]
    pub tls_root_certificates: Option<Vec<u8>>,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            prefix: "subcast:".to_owned(),
            replay_len: None,
            timeout: Duration::from_secs(5),
            reconnect_min: Duration::from_millis(50),
            reconnect_max: Duration::from_secs(5),
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
