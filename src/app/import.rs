//! `perfgate import FORMAT FILE`: print a starter gate drafted from another format.

use super::{Error, Outcome};
use crate::gate::Gate;
use crate::import;
use std::path::Path;
use std::time::Duration;

/// The formats `perfgate import` reads.
#[derive(Debug, Clone)]
pub enum ImportFormat {
    /// An OpenAPI 3 description.
    Openapi,
    /// A locustfile.
    Locust,
    /// A browser recording (HAR 1.2).
    Har(import::har::Options),
}

/// How long fetching a description by URL may take, connection to last byte.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest description fetched by URL.
const FETCH_CAP: usize = 20 * 1024 * 1024;
/// Redirects followed when fetching by URL.
const MAX_REDIRECTS: usize = 5;

/// Reads `source` (a file, or for OpenAPI also an `http(s)://` URL), drafts a gate from it and prints
/// the gate on stdout and the importer's notes on stderr. An unreadable, unreachable or malformed
/// source is an input error (exit 2). The draft is validated before it is printed; a draft `validate`
/// would refuse is this importer's fault, so it is printed with a warning naming the problems rather
/// than withheld.
pub async fn import(format: ImportFormat, source: &Path) -> Result<Outcome, Error> {
    let file = source.display().to_string();
    let url = source
        .to_str()
        .filter(|s| s.starts_with("http://") || s.starts_with("https://"));
    let imported = match (format, url) {
        (ImportFormat::Openapi, Some(url)) => {
            let (text, origin) = fetch(url).await.map_err(|e| Error::input(format_args!("{url}: {e}")))?;
            import::openapi::import_served(url, &text, Some(&origin))
        }
        (format, _) => {
            let text = crate::input::read_text(source, crate::input::IMPORT_MAX)
                .map_err(|e| Error::input(format_args!("{file}: cannot read it: {e}")))?;
            match format {
                ImportFormat::Openapi => import::openapi::import(&file, &text),
                ImportFormat::Locust => import::locust::import(&file, &text),
                ImportFormat::Har(opts) => import::har::import(&file, &text, &opts),
            }
        }
    }
    .map_err(Error::input)?;
    crate::print_line(format_args!("{}", imported.gate));
    for n in &imported.notes {
        errln!("note: {n}");
    }
    if let Err(e) = Gate::parse("imported.yaml", &imported.gate) {
        errln!("warning: the imported gate does not validate (a perfgate bug; please report it):\n{e}");
    }
    Ok(Outcome::Pass)
}

/// GETs a description: its text and the origin (`scheme://authority`) of the URL that answered it.
/// Redirects are followed; a status other than 2xx, an HTML page, a body that is not text, or no
/// answer within [`FETCH_TIMEOUT`] is an error saying so.
async fn fetch(url: &str) -> Result<(String, String), String> {
    use http_body_util::{BodyExt, Empty, Limited};
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .build();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, Empty<bytes::Bytes>>(https);
    let work = async {
        let mut uri: hyper::Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
        for _ in 0..=MAX_REDIRECTS {
            let req = hyper::Request::get(uri.clone())
                .header(
                    hyper::header::USER_AGENT,
                    format!("perfgate/{}", env!("CARGO_PKG_VERSION")),
                )
                .header(
                    hyper::header::ACCEPT,
                    "application/json, application/yaml;q=0.9, */*;q=0.1",
                )
                .body(Empty::new())
                .map_err(|e| format!("not a URL: {e}"))?;
            let resp = client.request(req).await.map_err(|e| {
                let mut why = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    why = format!("{why}: {s}");
                    source = s.source();
                }
                format!("cannot fetch it: {why}")
            })?;
            let status = resp.status();
            if status.is_redirection() {
                let to = resp
                    .headers()
                    .get(hyper::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| format!("answered {status} without a Location"))?;
                uri = redirect(&uri, to)?;
                continue;
            }
            let kind = resp
                .headers()
                .get(hyper::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_ascii_lowercase();
            if !status.is_success() {
                return Err(format!(
                    "answered {status}: give the URL of the description (FastAPI serves it at /openapi.json)"
                ));
            }
            if kind.starts_with("text/html") {
                return Err(
                    "answered an HTML page, not a JSON or YAML description: give the URL of the description (FastAPI serves it at /openapi.json, not /docs)"
                        .into(),
                );
            }
            let body = Limited::new(resp.into_body(), FETCH_CAP)
                .collect()
                .await
                .map_err(|e| format!("cannot read the answer: {e}"))?
                .to_bytes();
            let text = String::from_utf8(body.to_vec())
                .map_err(|_| format!("answered `{kind}` that is not text, not a JSON or YAML description"))?;
            let origin = format!(
                "{}://{}",
                uri.scheme_str().unwrap_or("http"),
                uri.authority().map(|a| a.as_str()).unwrap_or("127.0.0.1")
            );
            return Ok((text, origin));
        }
        Err(format!("more than {MAX_REDIRECTS} redirects"))
    };
    match tokio::time::timeout(FETCH_TIMEOUT, work).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "no answer within {}s: is the service running?",
            FETCH_TIMEOUT.as_secs()
        )),
    }
}

/// The URI a `Location` header points to from `base`.
fn redirect(base: &hyper::Uri, to: &str) -> Result<hyper::Uri, String> {
    if to.starts_with("http://") || to.starts_with("https://") {
        return to.parse().map_err(|e| format!("redirected to `{to}`: {e}"));
    }
    let origin = format!(
        "{}://{}",
        base.scheme_str().unwrap_or("http"),
        base.authority().map(|a| a.as_str()).unwrap_or("")
    );
    let path = if to.starts_with('/') {
        to.to_string()
    } else {
        let dir = base.path().rsplit_once('/').map_or("", |(d, _)| d);
        format!("{dir}/{to}")
    };
    format!("{origin}{path}")
        .parse()
        .map_err(|e| format!("redirected to `{to}`: {e}"))
}
