//! Test support: the helpers every bus's tests share, the PostgreSQL server to use, and
//! plain sessions for the tests themselves.

#![allow(dead_code)]

pub use subcast_bus_testing::*;

/// The PostgreSQL server the tests use (`SUBCAST_POSTGRES_URL`, default the local one).
pub fn postgres_url() -> String {
    std::env::var("SUBCAST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// `postgres_url()` with a unique `application_name`, to find this bus's sessions.
pub fn named_url(name: &str) -> String {
    let url = postgres_url();
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}application_name={name}")
}

/// A plain session for the test itself, driven on the current tokio runtime.
pub async fn raw_client() -> tokio_postgres::Client {
    let config: tokio_postgres::Config = postgres_url().parse().unwrap();
    let host = match &config.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(host) => host.clone(),
        #[allow(unreachable_patterns)]
        _ => panic!("tests need a TCP host"),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let socket = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .unwrap();
    let (client, connection) = config.connect_raw(socket, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}
