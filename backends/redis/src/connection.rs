//! Reaching the Redis server: URL parsing, sockets from the chosen runtime, timeouts.
//!
//! - [`Target`]: where to connect, whether over TLS, and how to greet the server (RESP3 always).
//! - [`connect`]: one multiplexed connection and its driver future, within a timeout.

use std::pin::Pin;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ConnectionAddr, IntoConnectionInfo, ProtocolVersion, PushInfo};
use subcast_core::backend::within;
use subcast_core::BoxFuture;
use subcast_core::{Error, Result, Runtime};

use crate::config::RedisConfig;

#[cfg(not(any(feature = "tokio", feature = "smol")))]
compile_error!("subcast-redis needs the `tokio` or the `smol` feature to open sockets");

/// Where the bus connects.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    host: String,
    port: u16,
    settings: redis::RedisConnectionInfo,
    /// `Some` for `rediss://`.
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::ServerTls>,
}

impl Target {
    /// Parse a `redis://` or (with the `tls` feature) `rediss://` URL; anything else, and
    /// Unix sockets, are refused with a clear error.
    pub fn parse(url: &str, config: &RedisConfig) -> Result<Target> {
        let scheme = url.split("://").next().unwrap_or_default();
        if !matches!(scheme, "redis" | "rediss") || !url.contains("://") {
            return Err(Error::bus_message(
                "redis",
                format!("invalid Redis URL: scheme must be redis:// or rediss://, got {scheme:?}"),
            ));
        }
        let secure = scheme == "rediss";
        if secure && !cfg!(feature = "tls") {
            return Err(Error::bus_message(
                "redis",
                "rediss:// (TLS) needs the `tls` feature of subcast-redis (`redis-tls` of subcast)",
            ));
        }
        if secure && url.ends_with("#insecure") {
            return Err(Error::bus_message(
                "redis",
                "rediss://...#insecure is refused: subcast-redis always verifies the server certificate; \
                 trust a private CA with RedisConfig::tls_root_certificates"
                    .to_owned(),
            ));
        }
        // redis-rs parses `rediss://` only with its own TLS features; the TLS is ours, so it
        // reads the rest of the URL as plain.
        let plain = format!("redis{}", &url[scheme.len()..]);
        let info = plain
            .as_str()
            .into_connection_info()
            .map_err(|e| Error::bus("redis", format!("invalid Redis URL: {e}"), e))?;
        let ConnectionAddr::Tcp(host, port) = info.addr() else {
            return Err(Error::bus_message(
                "redis",
                format!("unsupported Redis address {}", info.addr()),
            ));
        };
        #[cfg(feature = "tls")]
        let tls = secure
            .then(|| crate::tls::ServerTls::new(host, config.tls_root_certificates.as_deref()))
            .transpose()?;
        #[cfg(not(feature = "tls"))]
        let _ = config;
        Ok(Target {
            host: host.clone(),
            port: *port,
            settings: info.redis_settings().clone().set_protocol(ProtocolVersion::RESP3),
            #[cfg(feature = "tls")]
            tls,
        })
    }

    /// `host:port`, for messages.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// A multiplexed connection and the future that drives its socket.
pub(crate) type Connected = (MultiplexedConnection, BoxFuture<'static, ()>);

/// Connect to `target` within `timeout`, handing server pushes to `on_push`.
pub(crate) async fn connect(
    target: &Target,
    runtime: &dyn Runtime,
    timeout: Duration,
    on_push: impl Fn(PushInfo) + Send + Sync + 'static,
) -> Result<Connected> {
    let address = target.address();
    let attempt = async {
        let socket = open_socket(&target.host, target.port)
            .await
            .map_err(|e| Error::bus("redis", format!("cannot connect to Redis at {address}: {e}"), e))?;
        let socket = secure(target, socket).await?;
        // Timeouts are ours (measured with the bus's runtime), never redis-rs's.
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(None)
            .set_response_timeout(None)
            .set_push_sender(move |info| {
                on_push(info);
                Ok::<(), ()>(())
            });
        let (connection, driver) = MultiplexedConnection::new_with_config(&target.settings, socket, config)
            .await
            .map_err(|e| {
                Error::bus(
                    "redis",
                    format!("Redis at {address} refused the connection: {e}"),
                    e,
                )
            })?;
        let driver: BoxFuture<'static, ()> = Box::pin(driver);
        Ok((connection, driver))
    };
    within(
        runtime,
        timeout,
        &format!("connecting to Redis at {address}"),
        attempt,
    )
    .await?
}

/// What redis-rs reads and writes: a TCP stream, or TLS over one.
type Socket = Pin<Box<dyn redis::aio::AsyncStream + Send + Sync>>;

/// A connected TCP stream of the chosen socket flavour, with tokio's I/O traits.
#[cfg(all(feature = "tokio", not(feature = "smol")))]
pub(crate) type PlainSocket = tokio::net::TcpStream;
/// A connected TCP stream of the chosen socket flavour, with tokio's I/O traits.
#[cfg(feature = "smol")]
pub(crate) type PlainSocket = tokio_util::compat::Compat<async_net::TcpStream>;

#[cfg(all(feature = "tokio", not(feature = "smol")))]
async fn open_socket(host: &str, port: u16) -> std::io::Result<PlainSocket> {
    let stream = tokio::net::TcpStream::connect((host, port)).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

#[cfg(feature = "smol")]
async fn open_socket(host: &str, port: u16) -> std::io::Result<PlainSocket> {
    use tokio_util::compat::FuturesAsyncReadCompatExt;
    let stream = async_net::TcpStream::connect((host, port)).await?;
    stream.set_nodelay(true)?;
    Ok(stream.compat())
}

/// Wrap `socket` in TLS when `target` is a `rediss://` server.
#[cfg(feature = "tls")]
async fn secure(target: &Target, socket: PlainSocket) -> Result<Socket> {
    match &target.tls {
        None => Ok(Box::pin(socket)),
        Some(tls) => {
            let stream = tls.handshake(socket).await.map_err(|e| {
                Error::bus(
                    "redis",
                    format!("TLS handshake with Redis at {} failed: {e}", target.address()),
                    e,
                )
            })?;
            Ok(Box::pin(stream))
        }
    }
}

#[cfg(not(feature = "tls"))]
async fn secure(_target: &Target, socket: PlainSocket) -> Result<Socket> {
    Ok(Box::pin(socket))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_urls_are_parsed_and_others_refused() {
        let config = RedisConfig::default();
        let target = Target::parse("redis://127.0.0.1:6380/2", &config).unwrap();
        assert_eq!(target.address(), "127.0.0.1:6380");
        for bad in [
            "http://x",
            "127.0.0.1:6379",
            "redis://",
            "rediss://",
            "rediss://h:1/#insecure",
        ] {
            let error = Target::parse(bad, &config).unwrap_err().to_string();
            assert!(
                error.contains("Redis") || error.contains("rediss"),
                "{bad}: {error}"
            );
        }
    }

    #[cfg(feature = "tls")]
    #[test]
    fn rediss_urls_are_parsed_with_tls() {
        let target = Target::parse("rediss://user:secret@localhost:6380/2", &RedisConfig::default()).unwrap();
        assert_eq!(target.address(), "localhost:6380");
        assert!(target.tls.is_some());
        assert!(Target::parse("redis://localhost", &RedisConfig::default())
            .unwrap()
            .tls
            .is_none());
    }

    #[cfg(not(feature = "tls"))]
    #[test]
    fn rediss_urls_without_the_tls_feature_name_the_feature() {
        let error = Target::parse("rediss://localhost:6380", &RedisConfig::default())
            .unwrap_err()
            .to_string();
        assert!(error.contains("`tls` feature"), "{error}");
    }
}
