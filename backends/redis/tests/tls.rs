//! RedisBus over `rediss://` against a real TLS Redis: a `redis-server` of its own per test,
//! on a free port, with a CA and server certificate made for it.
#![cfg(feature = "tls")]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};
use subcast_bus_testing::*;
use subcast_core::EventBus;
use subcast_redis::{RedisBus, RedisConfig};

/// A certificate authority made for one test.
struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        params.distinguished_name.push(DnType::CommonName, name);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        TestCa { issuer }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A certificate for `hosts` signed by this CA, and its private key, both in PEM.
    fn issue(&self, hosts: &[&str]) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let hosts: Vec<String> = hosts.iter().map(|host| host.to_string()).collect();
        let certificate = CertificateParams::new(hosts)
            .unwrap()
            .signed_by(&key, &self.issuer)
            .unwrap();
        (certificate.pem(), key.serialize_pem())
    }
}

/// A `redis-server` accepting only TLS on 127.0.0.1, killed (and its files removed) on drop.
struct TlsRedis {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl TlsRedis {
    /// Start a server whose certificate for `localhost` is signed by `ca`.
    fn start(ca: &TestCa) -> TlsRedis {
        let dir = std::env::temp_dir().join(unique("subcast-redis-tls"));
        std::fs::create_dir_all(&dir).unwrap();
        let (certificate, key) = ca.issue(&["localhost"]);
        std::fs::write(dir.join("server.pem"), certificate).unwrap();
        std::fs::write(dir.join("server.key"), key).unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", "0", "--bind", "127.0.0.1"])
            .args(["--tls-port", &port.to_string()])
            .arg("--tls-cert-file")
            .arg(dir.join("server.pem"))
            .arg("--tls-key-file")
            .arg(dir.join("server.key"))
            .arg("--tls-ca-cert-file")
            .arg(dir.join("ca.pem"))
            .args(["--tls-auth-clients", "no", "--save", "", "--appendonly", "no"])
            .args(["--daemonize", "no", "--logfile", ""])
            .arg("--dir")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server (with TLS support) from PATH");
        let mut server = TlsRedis { child, port, dir };
        server.wait_until_ready();
        server
    }

    fn url(&self) -> String {
        format!("rediss://localhost:{}", self.port)
    }

    /// Read the server's log until it accepts connections; a thread keeps draining it so
    /// that the server never blocks on a full pipe.
    fn wait_until_ready(&mut self) {
        let log = self.child.stdout.take().unwrap();
        let (lines, received) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(log).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let mut seen = Vec::new();
        loop {
            match received.recv_timeout(PATIENCE) {
                Ok(line) if line.contains("Ready to accept connections") => return,
                Ok(line) => seen.push(line),
                Err(e) => panic!(
                    "redis-server on TLS port {} did not get ready ({e}); its log:\n{}",
                    self.port,
                    seen.join("\n")
                ),
            }
        }
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port nobody listened on a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .unwrap()
        .port()
}

fn trusting(ca: &TestCa) -> RedisConfig {
    RedisConfig::default().tls_root_certificates(ca.pem())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_published_over_rediss_reaches_every_subscriber_on_every_node_once() {
    let ca = TestCa::new("subcast test CA");
    let server = TlsRedis::start(&ca);
    let runtime = tokio_runtime();
    let bus_a = RedisBus::connect(&server.url(), runtime.clone(), trusting(&ca))
        .await
        .unwrap();
    let bus_b = RedisBus::connect(&server.url(), runtime.clone(), trusting(&ca))
        .await
        .unwrap();
    scenarios::an_event_reaches_every_subscriber_on_every_node_once(&runtime, &bus_a, &bus_b).await;
    bus_b.health_check().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_certificate_from_another_ca_fails_connect_with_a_tls_error() {
    let server = TlsRedis::start(&TestCa::new("the server's CA"));
    let stranger = TestCa::new("a CA the server never met");
    let error = RedisBus::connect(&server.url(), tokio_runtime(), trusting(&stranger))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("TLS handshake"), "{error}");
    assert!(error.contains(&format!("localhost:{}", server.port)), "{error}");
    assert!(error.contains("certificate"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_certificate_for_another_host_fails_connect_with_a_tls_error() {
    let ca = TestCa::new("subcast test CA");
    let server = TlsRedis::start(&ca);
    // The certificate names `localhost` only, not the address.
    let url = format!("rediss://127.0.0.1:{}", server.port);
    let error = RedisBus::connect(&url, tokio_runtime(), trusting(&ca))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("TLS handshake"), "{error}");
    assert!(error.contains("certificate"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_configured_roots_a_private_ca_is_not_trusted() {
    let server = TlsRedis::start(&TestCa::new("subcast test CA"));
    let error = RedisBus::connect(&server.url(), tokio_runtime(), RedisConfig::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("TLS handshake"), "{error}");
}
