//! Reaching the Redis server: URL parsing, sockets from the chosen runtime, timeouts.
//!
//! - [`Target`]: where to connect and how to greet the server (RESP3 always).
//! - [`connect`]: one multiplexed connection and its driver future, within a timeout.

use std::pin::Pin;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ConnectionAddr, IntoConnectionInfo, ProtocolVersion, PushInfo};
use subcast_core::runtime::{within, BoxFuture};
use subcast_core::{Error, Result, Runtime};

#[cfg(not(any(feature = "tokio", feature = "smol")))]
compile_error!("subcast-redis needs the `tokio` or the `smol` feature to open sockets");

/// Where the bus connects.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    host: String,
    port: u16,
    settings: redis::RedisConnectionInfo,
}

impl Target {
    /// Parse a `redis://` URL; `rediss://` and Unix sockets are refused with a clear error.
    pub fn parse(url: &str) -> Result<Target> {
        let scheme = url.split("://").next().unwrap_or_default();
        if !matches!(scheme, "redis" | "rediss") || !url.contains("://") {
            return Err(Error::Bus(format!(
                "invalid Redis URL: scheme must be redis:// or rediss://, got {scheme:?}"
            )));
        }
        if scheme == "rediss" {
            return Err(Error::Bus(
                "rediss:// (TLS) is not supported by subcast-redis yet; use redis:// through a TLS tunnel"
                    .to_owned(),
            ));
        }
        let info = url
            .into_connection_info()
            .map_err(|e| Error::Bus(format!("invalid Redis URL: {e}")))?;
        match info.addr() {
            ConnectionAddr::Tcp(host, port) => Ok(Target {
                host: host.clone(),
                port: *port,
                settings: info.redis_settings().clone().set_protocol(ProtocolVersion::RESP3),
            }),
            other => Err(Error::Bus(format!("unsupported Redis address {other}"))),
        }
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
            .map_err(|e| Error::Bus(format!("cannot connect to Redis at {address}: {e}")))?;
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
            .map_err(|e| Error::Bus(format!("Redis at {address} refused the connection: {e}")))?;
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

type Socket = Pin<Box<dyn redis::aio::AsyncStream + Send + Sync>>;

#[cfg(all(feature = "tokio", not(feature = "smol")))]
async fn open_socket(host: &str, port: u16) -> std::io::Result<Socket> {
    let stream = tokio::net::TcpStream::connect((host, port)).await?;
    stream.set_nodelay(true)?;
    Ok(Box::pin(stream))
}

#[cfg(feature = "smol")]
async fn open_socket(host: &str, port: u16) -> std::io::Result<Socket> {
    use tokio_util::compat::FuturesAsyncReadCompatExt;
    let stream = async_net::TcpStream::connect((host, port)).await?;
    stream.set_nodelay(true)?;
    Ok(Box::pin(stream.compat()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_urls_are_parsed_and_others_refused() {
        let target = Target::parse("redis://127.0.0.1:6380/2").unwrap();
        assert_eq!(target.address(), "127.0.0.1:6380");
        for bad in ["http://x", "127.0.0.1:6379", "redis://", "rediss://h:1"] {
            let error = Target::parse(bad).unwrap_err().to_string();
            assert!(
                error.contains("Redis") || error.contains("rediss"),
                "{bad}: {error}"
            );
        }
    }
}
