//! Test support: the helpers every bus's tests share, the NATS server to use, unique
//! subjects and streams per test, and private NATS servers a test may kill.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub use subcast_bus_testing::*;
use subcast_nats::{JetStreamConfig, NatsBus, NatsConfig};

/// The NATS server the tests use (`SUBCAST_NATS_URL`, default the local one, JetStream on).
pub fn nats_url() -> String {
    std::env::var("SUBCAST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

/// A configuration with a prefix and (with `jetstream`) a stream no other test uses.
pub fn isolated(jetstream: bool) -> NatsConfig {
    let tag = unique("t");
    let config = NatsConfig::default().prefix(format!("subcast-test.{tag}"));
    match jetstream {
        true => config.jetstream(JetStreamConfig::default().stream(tag)),
        false => config,
    }
}

/// Connect to `url` on the calling tokio runtime.
pub async fn bus_at(url: &str, config: NatsConfig) -> NatsBus {
    NatsBus::connect(url, tokio_runtime(), config)
        .await
        .expect("connect to NATS")
}

/// Connect to the shared server.
pub async fn bus(config: NatsConfig) -> NatsBus {
    bus_at(&nats_url(), config).await
}

/// A raw client of the server at `url`.
pub async fn raw_client(url: &str) -> async_nats::Client {
    async_nats::connect(url).await.expect("raw NATS connection")
}

/// Wait until the server has routed everything `client` published so far: `flush` only
/// writes to the socket, while a message to ourselves comes back only after the server has
/// handled what came before it on this connection.
pub async fn round_trip(client: &async_nats::Client) {
    use futures_lite::StreamExt;
    let inbox = client.new_inbox();
    let mut echo = client
        .subscribe(inbox.clone())
        .await
        .expect("subscribe to an inbox");
    client
        .publish(inbox, bytes::Bytes::new())
        .await
        .expect("publish to the inbox");
    echo.next().await.expect("the echo comes back");
}

/// Delete the stream of `config`, if it has one.
pub async fn drop_stream(url: &str, config: &NatsConfig) {
    if let Some(stream) = &config.jetstream {
        let context = async_nats::jetstream::new(raw_client(url).await);
        let _ = context.delete_stream(&stream.stream).await;
    }
}

/// A nats-server of the test's own, with JetStream, on a free port and a store directory
/// that survive [`PrivateServer::restart`].
pub struct PrivateServer {
    port: u16,
    store: PathBuf,
    _dir: tempfile::TempDir,
    child: Option<Child>,
}

impl PrivateServer {
    pub async fn start() -> PrivateServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let dir = tempfile::tempdir().expect("a store directory");
        let mut server = PrivateServer {
            port,
            store: dir.path().to_owned(),
            _dir: dir,
            child: None,
        };
        server.launch().await;
        server
    }

    pub fn store(&self) -> &Path {
        &self.store
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kill the server at once (SIGKILL: no goodbye to its clients).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stop the server with SIGTERM: it closes every client connection mid-stream and
    /// writes its store to disk.
    pub fn terminate(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }

    /// Kill it (SIGKILL) and start it again on the same port and store.
    pub async fn restart(&mut self) {
        self.kill();
        self.launch().await;
    }

    /// Terminate it (SIGTERM, store kept) and start it again on the same port and store.
    pub async fn restart_gracefully(&mut self) {
        self.terminate();
        self.launch().await;
    }

    async fn launch(&mut self) {
        let child = Command::new(server_binary())
            .args(["-js", "-a", "127.0.0.1", "-p", &self.port.to_string(), "-sd"])
            .arg(&self.store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        self.child = Some(child);
        // Wait on the thing itself: the server answers a client's round trip.
        let url = self.url();
        within(PATIENCE, "the private nats-server answers", async {
            loop {
                if let Ok(client) = async_nats::connect(url.as_str()).await {
                    if client.flush().await.is_ok() {
                        return;
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn server_binary() -> &'static Path {
    let sbin = Path::new("/usr/sbin/nats-server");
    match sbin.exists() {
        true => sbin,
        false => Path::new("nats-server"),
    }
}
