//! One keep-alive HTTP/1.1 connection owned by one virtual user (hyper's connection API).

use crate::load::url::BaseUrl;
use crate::metrics::FailureKind;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use tokio::net::TcpStream;

/// Largest response body kept for extraction and checks; longer bodies are drained and the rest dropped.
pub const BODY_CAP: usize = 10 * 1024 * 1024;

/// How the engine connects: target address and TLS settings, shared by every user.
pub struct Connector {
    base: BaseUrl,
    tls: Option<(tokio_rustls::TlsConnector, rustls::pki_types::ServerName<'static>)>,
}

/// A failed exchange, classified.
#[derive(Debug)]
pub struct Failure {
    /// Which kind of failure.
    pub kind: FailureKind,
    /// A short description.
    pub detail: String,
}

/// How https targets are verified.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TlsOptions {
    /// Also trust the certificates in this PEM file (a private CA or a self-signed service).
    pub ca_file: Option<std::path::PathBuf>,
    /// Accept any certificate: encryption without authentication, for test services only.
    pub insecure: bool,
}

/// Accepts every server certificate (`--insecure`); handshake signatures are still checked.
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

impl Connector {
    /// A connector for this base URL (TLS with the Mozilla roots for https, plus `tls_opts`).
    pub fn new(base: &BaseUrl, tls_opts: &TlsOptions) -> Result<Connector, String> {
        let tls = if base.tls {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            if let Some(ca) = &tls_opts.ca_file {
                use rustls::pki_types::pem::PemObject;
                let bad = |e: &dyn std::fmt::Display| format!("--ca-file {}: {e}", ca.display());
                let mut added = 0;
                for cert in rustls::pki_types::CertificateDer::pem_file_iter(ca).map_err(|e| bad(&e))? {
                    roots.add(cert.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
                    added += 1;
                }
                if added == 0 {
                    return Err(bad(&"no PEM certificate in it"));
                }
            }
            let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS setup: {e}"))?;
            let config = if tls_opts.insecure {
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
                    .with_no_client_auth()
            } else {
                builder.with_root_certificates(roots).with_no_client_auth()
            };
            let name = rustls::pki_types::ServerName::try_from(base.host.clone())
                .map_err(|_| format!("`{}` is not a valid TLS server name", base.host))?;
            Some((tokio_rustls::TlsConnector::from(Arc::new(config)), name))
        } else {
            None
        };
        Ok(Connector {
            base: base.clone(),
            tls,
        })
    }

    /// Opens a connection and starts its driver task.
    pub async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, Failure> {
        let connect_err = |e: String| Failure {
            kind: FailureKind::Connect,
            detail: e,
        };
        let tcp = TcpStream::connect((self.base.host.as_str(), self.base.port))
            .await
            .map_err(|e| connect_err(format!("connect to {}:{}: {e}", self.base.host, self.base.port)))?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => handshake(TokioIo::new(tcp)).await,
            Some((tls, name)) => {
                let stream = tls
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| connect_err(format!("TLS handshake with {}: {e}", self.base.host)))?;
                handshake(TokioIo::new(stream)).await
            }
        }
    }
}

async fn handshake<T>(io: TokioIo<T>) -> Result<SendRequest<Full<Bytes>>, Failure>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (sender, conn) = http1::handshake(io).await.map_err(|e| Failure {
        kind: FailureKind::Connect,
        detail: format!("HTTP handshake: {e}"),
    })?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// Reads the whole body, kept up to [`BODY_CAP`] when `keep`, otherwise drained; returns its length.
pub async fn read_body(mut body: Incoming, keep: bool, buf: &mut Vec<u8>) -> Result<u64, Failure> {
    buf.clear();
    let mut len = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Failure {
            kind: FailureKind::Read,
            detail: format!("reading the body: {e}"),
        })?;
        if let Some(data) = frame.data_ref() {
            len += data.len() as u64;
            if keep {
                let room = BODY_CAP.saturating_sub(buf.len());
                buf.extend_from_slice(&data[..data.len().min(room)]);
            }
        }
    }
    Ok(len)
}
