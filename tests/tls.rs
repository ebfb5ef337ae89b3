//! https targets: a self-signed service is refused by default, trusted with `--ca-file` or accepted
//! with `--insecure`; TLS spoken to a plain HTTP port fails fast with a readable message.

use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use std::process::Command;
use std::sync::Arc;

/// A self-signed https server on 127.0.0.1 answering `{"ok":true}`; returns its port and the certificate PEM.
async fn tls_server() -> (u16, String) {
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let cert_pem = ck.cert.pem();
    let cert = ck.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let svc = hyper::service::service_fn(|_req| async {
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from_static(
                        b"{\"ok\":true}",
                    ))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    (port, cert_pem)
}

fn gate(dir: &std::path::Path, extra: &str) -> String {
    let p = dir.join(format!("g{}.yaml", extra.len()));
    std::fs::write(&p, format!("version: 1\nload: {{users: 2, run_time: 1s}}\nscenarios: {{A: {{think_time: 10ms..20ms, tasks: [{{request: GET /}}]}}}}\n{extra}")).unwrap();
    p.display().to_string()
}

async fn perfgate(args: Vec<String>) -> (Option<i32>, String, String) {
    tokio::task::spawn_blocking(move || {
        let o = Command::new(env!("CARGO_BIN_EXE_perfgate"))
            .args(&args)
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

/// A failed handshake is reported at once; a preflight that waited for an answer instead would take its
/// whole timeout. Process start on a loaded 2-core runner fits far below it.
const FAIL_FAST: std::time::Duration = perfgate::load::engine::PREFLIGHT_TIMEOUT;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_signed_services_need_trust_and_plain_ports_refuse_tls() {
    let (port, pem) = tls_server().await;
    let dir = std::env::temp_dir().join(format!("perfgate-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, &pem).unwrap();
    let g = gate(&dir, "");
    let url = format!("https://127.0.0.1:{port}");
    let run = |extra: &[&str]| {
        let mut a: Vec<String> = vec!["run".into(), g.clone(), "--host".into(), url.clone(), "-q".into()];
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };

    // Default: the unknown issuer is refused before any load, in one readable line.
    let (code, _, err) = perfgate(run(&[])).await;
    assert_eq!(code, Some(3), "{err}");
    assert!(
        err.contains(&format!("cannot reach {url}")) && err.contains("TLS handshake"),
        "{err}"
    );
    assert!(err.to_lowercase().contains("certificate"), "{err}");

    // Trusted CA file: every request succeeds.
    let (code, out, err) = perfgate(run(&["--ca-file", ca.to_str().unwrap()])).await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("GET /") && out.contains("0 (0.0%)"), "{out}");

    // Or in the gate file.
    let g2 = gate(&dir, &format!("tls: {{ca_file: {}}}\n", ca.display()));
    let (code, _, err) = perfgate(vec!["run".into(), g2, "--host".into(), url.clone(), "-q".into()]).await;
    assert_eq!(code, Some(0), "{err}");

    // Insecure: accepted without verification.
    let (code, out, err) = perfgate(run(&["--insecure"])).await;
    assert_eq!(code, Some(0), "{out}{err}");

    // A CA file that is not PEM is invalid input, not a failed run.
    let junk = dir.join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    let (code, _, err) = perfgate(run(&["--ca-file", junk.to_str().unwrap()])).await;
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("junk.pem"), "{err}");

    // A CA file (or --insecure) with a plain http target is not used: said before the run.
    let gp = gate(&dir, "# plain\n");
    let (code, _, err) = perfgate(vec![
        "run".into(),
        gp,
        "--host".into(),
        "http://127.0.0.1:9".into(),
        "--ca-file".into(),
        ca.to_str().unwrap().into(),
        "-q".into(),
    ])
    .await;
    assert_eq!(code, Some(3), "nothing listens on port 9: {err}");
    assert!(
        err.contains("warning: --ca-file is for https targets; http://127.0.0.1:9 is plain HTTP, so it is not used"),
        "{err}"
    );

    // https to a plain HTTP port: the handshake fails fast.
    let plain = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let plain_port = plain.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for s in plain.incoming().take(4).flatten() {
            let mut s = s;
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    let start = std::time::Instant::now();
    let (code, _, err) = perfgate(vec![
        "run".into(),
        g.clone(),
        "--host".into(),
        format!("https://127.0.0.1:{plain_port}"),
        "-q".into(),
    ])
    .await;
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("TLS handshake"), "{err}");
    assert!(err.contains("answered in plain HTTP, not TLS; use http://"), "{err}");
    assert!(!err.contains("InvalidContentType"), "{err}");
    let took = start.elapsed();
    assert!(
        took < FAIL_FAST,
        "TLS to a plain port must fail at once, not after the {FAIL_FAST:?} preflight timeout; took {took:?}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
