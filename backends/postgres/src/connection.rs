//! Reaching PostgreSQL: URL parsing, sockets from the chosen runtime, `connect_raw`, timeouts.
//!
//! - [`Target`]: the parsed URL and the address to dial.
//! - [`connect`]: one session and its [`Connection`], within a timeout; no tokio runtime needed.

use std::str::FromStr;
use std::time::Duration;

use subcast_core::backend::within;
use subcast_core::{Error, Result, Runtime};
use tokio_postgres::config::Host;
use tokio_postgres::tls::NoTlsStream;
use tokio_postgres::{Client, Config, Connection, NoTls};

#[cfg(not(any(feature = "tokio", feature = "smol")))]
compile_error!("subcast-postgres needs the `tokio` or the `smol` feature to open sockets");

/// The socket a session runs over.
#[cfg(all(feature = "tokio", not(feature = "smol")))]
pub(crate) type Socket = tokio::net::TcpStream;
/// The socket a session runs over: async-net's, seen through tokio's io traits.
#[cfg(feature = "smol")]
pub(crate) type Socket = tokio_util::compat::Compat<async_net::TcpStream>;

/// A session's driver half: poll it for the client to make progress.
pub(crate) type Driver = Connection<Socket, NoTlsStream>;

/// Where the bus connects, and as whom.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    config: Config,
    host: String,
    port: u16,
    application_name: String,
}

impl Target {
    /// Parse a `postgres://` or `postgresql://` URL; Unix sockets are refused with a clear error.
    pub fn parse(url: &str) -> Result<Target> {
        let scheme = url.split("://").next().unwrap_or_default();
        if !url.contains("://") || !matches!(scheme, "postgres" | "postgresql") {
            return Err(Error::bus_message(
                "postgres",
                format!(
                    "invalid PostgreSQL URL: scheme must be postgres:// or postgresql://, got {scheme:?}"
                ),
            ));
        }
        let config = Config::from_str(url)
            .map_err(|e| Error::bus("postgres", format!("invalid PostgreSQL URL: {e}"), e))?;
        let host = match config.get_hosts().first() {
            Some(Host::Tcp(host)) => host.clone(),
            Some(_) => {
                return Err(Error::bus_message(
                    "postgres",
                    "PostgreSQL over a Unix socket is not supported by subcast-postgres; use a TCP host",
                ))
            }
            None => "localhost".to_owned(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let application_name = config.get_application_name().unwrap_or("subcast").to_owned();
        Ok(Target {
            config,
            host,
            port,
            application_name,
        })
    }

    /// `host:port`, for messages.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The longest wait for connecting: the URL's `connect_timeout`, else `default`.
    pub fn connect_timeout(&self, default: Duration) -> Duration {
        self.config.get_connect_timeout().copied().unwrap_or(default)
    }
}

/// Open a session named `<application_name>:<role>` within `timeout`.
pub(crate) async fn connect(
    target: &Target,
    role: &str,
    runtime: &dyn Runtime,
    timeout: Duration,
) -> Result<(Client, Driver)> {
    let address = target.address();
    let mut config = target.config.clone();
    config.application_name(format!("{}:{role}", target.application_name));
    let attempt = async {
        let socket = open_socket(&target.host, target.port).await.map_err(|e| {
            Error::bus(
                "postgres",
                format!("cannot connect to PostgreSQL at {address}: {e}"),
                e,
            )
        })?;
        config.connect_raw(socket, NoTls).await.map_err(|e| {
            Error::bus(
                "postgres",
                format!("PostgreSQL at {address} refused the session: {}", describe(&e)),
                e,
            )
        })
    };
    let limit = target.connect_timeout(timeout);
    within(
        runtime,
        limit,
        &format!("connecting to PostgreSQL at {address}"),
        attempt,
    )
    .await?
}

#[cfg(all(feature = "tokio", not(feature = "smol")))]
async fn open_socket(host: &str, port: u16) -> std::io::Result<Socket> {
    let stream = tokio::net::TcpStream::connect((host, port)).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

#[cfg(feature = "smol")]
async fn open_socket(host: &str, port: u16) -> std::io::Result<Socket> {
    use tokio_util::compat::FuturesAsyncReadCompatExt;
    let stream = async_net::TcpStream::connect((host, port)).await?;
    stream.set_nodelay(true)?;
    Ok(stream.compat())
}

/// An error's text, with the server's message and detail when it is a database error.
pub(crate) fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{}: {} ({detail})", db.code().code(), db.message()),
            None => format!("{}: {}", db.code().code(), db.message()),
        },
        None => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_urls_are_parsed_and_others_refused() {
        let target = Target::parse("postgresql://postgres@db.example:5433/test?application_name=n1").unwrap();
        assert_eq!(target.address(), "db.example:5433");
        assert_eq!(target.application_name, "n1");
        assert_eq!(
            Target::parse("postgres://127.0.0.1/test").unwrap().address(),
            "127.0.0.1:5432"
        );
        for bad in ["redis://x", "host=localhost", "postgres://h:notaport/db"] {
            let error = Target::parse(bad).unwrap_err().to_string();
            assert!(error.contains("PostgreSQL URL"), "{bad}: {error}");
        }
    }
}
