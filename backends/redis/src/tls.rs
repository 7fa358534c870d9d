//! TLS for `rediss://` URLs (feature `tls`).
//!
//! - [`ServerTls`]: the server name to verify and the rustls client settings, built once per
//!   bus and used for every (re)connection.
//!
//! rustls runs on the `ring` provider, chosen explicitly rather than through rustls's
//! process-wide default so that another crate's provider choice cannot change or break
//! ours. Both socket flavours go through tokio-rustls: async-net sockets reach it through
//! the same tokio-util compat layer that hands them to redis-rs.

use std::fmt;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use subcast_core::{Error, Result};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::connection::PlainSocket;

/// How to secure connections to one Redis server.
#[derive(Clone)]
pub(crate) struct ServerTls {
    server_name: ServerName<'static>,
    connector: TlsConnector,
}

impl ServerTls {
    /// Verify `host` against `root_certificates` (PEM), or against webpki-roots without them.
    pub fn new(host: &str, root_certificates: Option<&[u8]>) -> Result<ServerTls> {
        let server_name = ServerName::try_from(host.to_owned()).map_err(|e| {
            Error::bus(
                "redis",
                format!("invalid TLS server name {host:?} in the Redis URL: {e}"),
                e,
            )
        })?;
        let roots = match root_certificates {
            Some(pem) => roots_from_pem(pem)?,
            None => RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            },
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::bus("redis", format!("cannot set up TLS for Redis: {e}"), e))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(ServerTls {
            server_name,
            connector: TlsConnector::from(Arc::new(config)),
        })
    }

    /// Run the TLS handshake over `stream`, verifying the server's certificate.
    pub async fn handshake(&self, stream: PlainSocket) -> std::io::Result<TlsStream<PlainSocket>> {
        self.connector.connect(self.server_name.clone(), stream).await
    }
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

fn roots_from_pem(pem: &[u8]) -> Result<RootCertStore> {
    let invalid = |what: String| {
        Error::bus_message(
            "redis",
            format!("invalid RedisConfig::tls_root_certificates: {what}"),
        )
    };
    let mut roots = RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(pem) {
        let certificate = certificate.map_err(|e| invalid(format!("bad PEM: {e}")))?;
        roots
            .add(certificate)
            .map_err(|e| invalid(format!("not a usable CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(invalid("no CERTIFICATE in the PEM".to_owned()));
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_certificates_without_a_certificate_are_refused() {
        for pem in [
            &b""[..],
            b"not pem",
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        ] {
            let error = ServerTls::new("localhost", Some(pem)).unwrap_err().to_string();
            assert!(error.contains("tls_root_certificates"), "{error}");
        }
    }

    #[test]
    fn hosts_and_ip_addresses_are_server_names() {
        for host in ["localhost", "redis.example.com", "127.0.0.1", "::1"] {
            ServerTls::new(host, None).unwrap();
        }
    }
}
