//! The load engine's own HTTP/1.1 connection (`perfgate::load::client`) against real loopback servers
//! that answer with scripted raw bytes, so each test controls the exact framing: content-length,
//! chunked (extensions, trailers), read-until-close, HEAD/204/304, interim 1xx answers, keep-alive and
//! close rules, responses trickled a few bytes at a time, the body cap, and malformed or truncated
//! answers (which must fail as `read` failures, never panic or hang).

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use perfgate::http::{BaseUrl, TlsOptions};
use perfgate::load::client::{Conn, Connector, Failure, BODY_CAP, MAX_HEAD, MAX_HEADERS};
use perfgate::metrics::FailureKind;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::timeout;

/// Upper bound of any single await in these tests: a bug fails the test instead of hanging it.
const LIMIT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------------
// A scripted raw server
// ---------------------------------------------------------------------------------------------

/// One thing a scripted connection does, in order.
enum Step {
    /// Reads one complete request (head and content-length body) and logs its exact bytes.
    Read,
    /// Writes these bytes in one go.
    Send(Vec<u8>),
    /// Writes these bytes 1, 2 or 3 at a time with a short pause between writes.
    Trickle(Vec<u8>),
    /// Pauses.
    Sleep(u64),
    /// Waits until the test says so.
    Wait(Arc<Notify>),
    /// Closes the connection now (after the script the connection is otherwise held open until the
    /// client closes it).
    Close,
}

fn send(bytes: impl AsRef<[u8]>) -> Step {
    Step::Send(bytes.as_ref().to_vec())
}

/// A server on 127.0.0.1:0 whose n-th accepted connection runs the n-th script.
struct Scripted {
    addr: SocketAddr,
    /// Connections accepted so far.
    accepted: Arc<AtomicUsize>,
    /// Every request read, with the index of the connection it came on.
    requests: Log<(usize, Vec<u8>)>,
    task: JoinHandle<()>,
}

impl Scripted {
    async fn start(scripts: Vec<Vec<Step>>) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let requests = log::<(usize, Vec<u8>)>();
        let (count, reqs) = (accepted.clone(), requests.clone());
        let task = tokio::spawn(async move {
            let mut scripts = scripts.into_iter();
            while let Ok((stream, _)) = listener.accept().await {
                let n = count.fetch_add(1, Ordering::SeqCst);
                let script = scripts.next().unwrap_or_else(|| vec![Step::Close]);
                tokio::spawn(play(n, stream, script, reqs.clone()));
            }
        });
        Scripted {
            addr,
            accepted,
            requests,
            task,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn requests(&self) -> Vec<(usize, Vec<u8>)> {
        entries(&self.requests)
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Runs one connection's script. Server-side I/O errors end the script quietly: the client may
/// rightly have given up.
async fn play(conn: usize, mut stream: TcpStream, script: Vec<Step>, reqs: Log<(usize, Vec<u8>)>) {
    let _ = stream.set_nodelay(true);
    let mut pending = Vec::new();
    for step in script {
        match step {
            Step::Read => match timeout(LIMIT, read_request(&mut stream, &mut pending)).await {
                Ok(Some(req)) => reqs.lock().unwrap().push((conn, req)),
                _ => return,
            },
            Step::Send(b) => {
                if stream.write_all(&b).await.is_err() {
                    return;
                }
            }
            Step::Trickle(b) => {
                let mut i = 0;
                for k in (1..=3).cycle() {
                    if i >= b.len() {
                        break;
                    }
                    let j = (i + k).min(b.len());
                    if stream.write_all(&b[i..j]).await.is_err() {
                        return;
                    }
                    i = j;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            Step::Sleep(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
            Step::Wait(n) => n.notified().await,
            Step::Close => return,
        }
    }
    // Hold the connection open until the client closes it (bounded, in case it never does).
    let mut sink = [0u8; 1024];
    let _ = timeout(Duration::from_secs(30), async {
        while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
}

/// Reads one request: its head up to the blank line and as many body bytes as its content-length
/// says. `pending` carries bytes read past it. None at the end of the stream.
async fn read_request(stream: &mut TcpStream, pending: &mut Vec<u8>) -> Option<Vec<u8>> {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(i) = find(pending, b"\r\n\r\n") {
            let head_len = i + 4;
            let head = String::from_utf8_lossy(&pending[..head_len]).to_ascii_lowercase();
            let body_len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().expect("request content-length"));
            if pending.len() >= head_len + body_len {
                let rest = pending.split_off(head_len + body_len);
                return Some(std::mem::replace(pending, rest));
            }
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        pending.extend_from_slice(&chunk[..n]);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

// ---------------------------------------------------------------------------------------------
// The client side
// ---------------------------------------------------------------------------------------------

async fn connect(url: &str) -> Conn {
    let base = BaseUrl::parse(url).expect("base url");
    let connector = Connector::new(&base, &TlsOptions::default()).expect("connector");
    match timeout(LIMIT, connector.connect()).await {
        Ok(Ok(c)) => c,
        Ok(Err(f)) => panic!("connect to {url}: {f:?}"),
        Err(_) => panic!("connect to {url} did not finish within {LIMIT:?}"),
    }
}

/// A request encoded the way `User::encode` does: request line, `host`, headers, content-length for
/// a body, blank line, body.
fn request(method: &str, target: &str, host: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut w = format!("{method} {target} HTTP/1.1\r\nhost: {host}\r\n");
    for (k, v) in headers {
        w.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
        w.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    w.push_str("\r\n");
    let mut w = w.into_bytes();
    w.extend_from_slice(body);
    w
}

fn get(path: &str) -> Vec<u8> {
    request("GET", path, "127.0.0.1", &[], b"")
}

/// One exchange, bounded in time; returns the result and the kept body.
async fn exchange(conn: &mut Conn, req: &[u8], head: bool, keep: bool) -> (Result<(u16, u64), Failure>, Vec<u8>) {
    let mut body = Vec::new();
    match timeout(LIMIT, conn.exchange(req, head, keep, &mut body)).await {
        Ok(r) => (r.map(|a| (a.status, a.body)), body),
        Err(_) => panic!(
            "the exchange of `{}` did not finish within {LIMIT:?}",
            String::from_utf8_lossy(req.split(|&b| b == b'\r').next().unwrap_or_default())
        ),
    }
}

/// An exchange that must succeed with this status and body (kept).
async fn expect_ok(conn: &mut Conn, req: &[u8], head: bool, status: u16, body: &[u8]) {
    let (r, kept) = exchange(conn, req, head, true).await;
    let (s, len) = r.unwrap_or_else(|f| panic!("exchange failed: {f:?}"));
    assert_eq!(s, status, "status");
    assert_eq!(len, body.len() as u64, "body length");
    assert_eq!(
        String::from_utf8_lossy(&kept),
        String::from_utf8_lossy(body),
        "kept body"
    );
}

/// An exchange that must fail as a `read` failure whose detail contains `detail`; the connection
/// must not be reused afterwards.
async fn expect_read_failure(conn: &mut Conn, req: &[u8], detail: &str) {
    let (r, _) = exchange(conn, req, false, true).await;
    let f = match r {
        Ok(ok) => panic!("expected a read failure mentioning `{detail}`, got {ok:?}"),
        Err(f) => f,
    };
    assert_eq!(f.kind, FailureKind::Read, "failure kind of {f:?}");
    assert!(
        f.detail.contains(detail),
        "the detail `{}` should mention `{detail}`",
        f.detail
    );
    assert!(conn.is_closed(), "a connection that failed must not be reused");
}

fn ok_length(body: &str) -> Vec<u8> {
    format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}", body.len()).into_bytes()
}

/// A fixed pseudo-random body, so a misplaced byte shows.
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i.wrapping_mul(31) ^ (i >> 9)) as u8).collect()
}

// ---------------------------------------------------------------------------------------------
// Framing that works
// ---------------------------------------------------------------------------------------------

/// Case 1: two content-length exchanges on one keep-alive connection; the server sees one connection
/// and both requests byte for byte.
/// A head that repeats the last one byte for byte is not parsed again (`Conn` keeps the last parse):
/// every answer below must still be read by its own head, whatever the one before it said.
#[tokio::test]
async fn repeated_and_nearly_repeated_heads_are_each_read_by_their_own_bytes() {
    let head5 = "HTTP/1.1 200 OK\r\nDate: Thu, 03 Dec 2026 08:00:00 GMT\r\ncontent-length: 5\r\n\r\n";
    let head6 = "HTTP/1.1 200 OK\r\nDate: Thu, 03 Dec 2026 08:00:00 GMT\r\ncontent-length: 6\r\n\r\n";
    let chunked = "HTTP/1.1 200 OK\r\nDate: Thu, 03 Dec 2026 08:00:00 GMT\r\ntransfer-encoding: chunked\r\n\r\n";
    let server = Scripted::start(vec![vec![
        Step::Read,
        send(format!("{head5}first")),
        Step::Read,
        send(format!("{head5}again")),
        // The same bytes answering a HEAD: no body follows them.
        Step::Read,
        send(head5),
        // One byte differs: its own length.
        Step::Read,
        send(format!("{head6}sixsix")),
        // The first head again, a few bytes at a time: a partial head is no match.
        Step::Read,
        Step::Trickle(format!("{head5}third").into_bytes()),
        Step::Read,
        send(format!("{chunked}3\r\nabc\r\n0\r\n\r\n")),
        Step::Read,
        send(format!("{head5}fifth")),
        // A head the same up to its last line, which closes.
        Step::Read,
        send("HTTP/1.1 200 OK\r\nDate: Thu, 03 Dec 2026 08:00:00 GMT\r\ncontent-length: 5\r\nconnection: close\r\n\r\nlast."),
    ]])
    .await;
    let get = get("/r");
    let head = request("HEAD", "/r", "127.0.0.1", &[], b"");
    let mut conn = connect(&server.url()).await;
    expect_ok(&mut conn, &get, false, 200, b"first").await;
    expect_ok(&mut conn, &get, false, 200, b"again").await;
    expect_ok(&mut conn, &head, true, 200, b"").await;
    expect_ok(&mut conn, &get, false, 200, b"sixsix").await;
    expect_ok(&mut conn, &get, false, 200, b"third").await;
    expect_ok(&mut conn, &get, false, 200, b"abc").await;
    expect_ok(&mut conn, &get, false, 200, b"fifth").await;
    assert!(!conn.is_closed(), "keep-alive heads leave the connection open");
    expect_ok(&mut conn, &get, false, 200, b"last.").await;
    assert!(
        conn.is_closed(),
        "`connection: close` is read even after a head that began the same"
    );
    assert_eq!(
        server.accepted.load(Ordering::SeqCst),
        1,
        "every answer on one connection"
    );
}

/// Heads that all differ pause the comparison with the last head and, once they repeat again, resume
/// it: every body is read by its own head on either side of the pause.
#[tokio::test]
async fn heads_that_differ_then_repeat_are_each_read_by_their_own_bytes() {
    let answer = |i: usize| {
        let body = "x".repeat(1 + i % 7);
        let id = if i < 80 { i } else { 0 };
        format!(
            "HTTP/1.1 200 OK\r\nx-request-id: {id:04}\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let script = (0..100).flat_map(|i| [Step::Read, send(answer(i))]).collect();
    let server = Scripted::start(vec![script]).await;
    let get = get("/r");
    let mut conn = connect(&server.url()).await;
    for i in 0..100 {
        expect_ok(&mut conn, &get, false, 200, "x".repeat(1 + i % 7).as_bytes()).await;
    }
    assert_eq!(
        server.accepted.load(Ordering::SeqCst),
        1,
        "every answer on one connection"
    );
}

#[tokio::test]
async fn content_length_keep_alive_reuses_one_connection() {
    let json_body = br#"{"user":"alice","note":"caf\u00e9 \u00e9"}"#;
    let server = Scripted::start(vec![vec![
        Step::Read,
        send(ok_length("first")),
        Step::Read,
        send(b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"id\":\"r1\"}"),
    ]])
    .await;
    let host = server.addr.to_string();
    let get = request("GET", "/a?x=1", &host, &[("accept", "*/*")], b"");
    let post = request(
        "POST",
        "/runs",
        &host,
        &[("content-type", "application/json")],
        json_body,
    );

    let mut conn = connect(&server.url()).await;
    expect_ok(&mut conn, &get, false, 200, b"first").await;
    assert!(
        !conn.is_closed(),
        "a complete keep-alive response leaves the connection reusable"
    );
    expect_ok(&mut conn, &post, false, 201, br#"{"id":"r1"}"#).await;
    assert!(!conn.is_closed());

    assert_eq!(
        server.accepted.load(Ordering::SeqCst),
        1,
        "both requests on one connection"
    );
    let seen = server.requests();
    assert_eq!(
        seen,
        vec![(0, get.clone()), (0, post.clone())],
        "the server saw other bytes"
    );
    let first = String::from_utf8_lossy(&seen[0].1).to_string();
    assert!(first.starts_with("GET /a?x=1 HTTP/1.1\r\n"), "{first}");
    assert!(first.contains(&format!("\r\nhost: {host}\r\n")), "{first}");
    let second = &seen[1].1;
    let head_end = find(second, b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&second[..head_end]);
    assert!(head.starts_with("POST /runs HTTP/1.1\r\n"), "{head}");
    assert!(
        head.contains(&format!("content-length: {}\r\n", json_body.len())),
        "{head}"
    );
    assert_eq!(&second[head_end..], json_body);
    let v: serde_json::Value = serde_json::from_slice(&second[head_end..]).unwrap();
    assert_eq!(v, json!({"user": "alice", "note": "café é"}));
}

/// Case 2: a chunked body with several chunks, chunk extensions and trailers is reassembled, and
/// the connection carries a next exchange.
#[tokio::test]
async fn chunked_body_with_extensions_and_trailers() {
    let server = Scripted::start(vec![vec![
        Step::Read,
        send(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: x-checksum\r\n\r\n\
             5;foo=bar\r\nhello\r\n\
             1\r\n \r\n\
             A; name=\"quoted value\"\r\n0123456789\r\n\
             0\r\n\
             x-checksum: abc\r\n\
             x-other: 1\r\n\
             \r\n",
        ),
        Step::Read,
        // Lower-case hex, a zero-extension last chunk and no trailers.
        send("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nb\r\nhello world\r\n0;end\r\n\r\n"),
        Step::Read,
        send(ok_length("after")),
    ]])
    .await;
    let mut conn = connect(&server.url()).await;
    expect_ok(&mut conn, &get("/c1"), false, 200, b"hello 0123456789").await;
    assert!(!conn.is_closed(), "chunked with trailers fully read: reusable");
    expect_ok(&mut conn, &get("/c2"), false, 200, b"hello world").await;
    assert!(!conn.is_closed());
    expect_ok(&mut conn, &get("/c3"), false, 200, b"after").await;
    assert_eq!(server.accepted.load(Ordering::SeqCst), 1);
    assert_eq!(server.requests().len(), 3);
}

/// Case 3: a response written 1-3 bytes at a time across head and body (content-length, then
/// chunked) still parses right.
#[tokio::test]
async fn responses_trickled_in_tiny_writes() {
    let server = Scripted::start(vec![vec![
        Step::Read,
        Step::Trickle(b"HTTP/1.1 200 OK\r\nServer: slow\r\nContent-Length: 26\r\n\r\nabcdefghijklmnopqrstuvwxyz".to_vec()),
        Step::Read,
        Step::Trickle(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nt: v\r\n\r\n"
                .to_vec(),
        ),
    ]])
    .await;
    let mut conn = connect(&server.url()).await;
    expect_ok(&mut conn, &get("/slow"), false, 200, b"abcdefghijklmnopqrstuvwxyz").await;
    assert!(!conn.is_closed());
    expect_ok(&mut conn, &get("/slow-chunked"), false, 200, b"abc0123456789abcdef").await;
    assert!(!conn.is_closed());
}

/// Case 4: without content-length or chunked the body runs until the server closes; the connection
/// is then spent.
#[tokio::test]
async fn body_until_close() {
    let server = Scripted::start(vec![
        vec![
            Step::Read,
            send("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nhello "),
            Step::Sleep(20),
            send("world"),
            Step::Close,
        ],
        // HTTP/1.0 without a length, even claiming keep-alive, also runs until the close.
        vec![
            Step::Read,
            send("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\nold style"),
            Step::Close,
        ],
    ])
    .await;
    let mut conn = connect(&server.url()).await;
    expect_ok(&mut conn, &get("/stream"), false, 200, b"hello world").await;
    assert!(
        conn.is_closed(),
        "a body delimited by the close leaves nothing to reuse"
    );
    let mut conn = connect(&server.url()).await;
    expect_ok(&mut conn, &get("/old"), false, 200, b"old style").await;
    assert!(conn.is_closed());
}

/// Case 5: `Connection: close` and HTTP/1.0 without keep-alive end reuse (even while the server holds
/// the socket open); HTTP/1.0 with `Connection: keep-alive` keeps it.
#[tokio::test]
async fn connection_close_and_http10_keep_alive_rules() {
    let server = Scripted::start(vec![
        vec![
            Step::Read,
            send("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbye"),
        ],
        vec![Step::Read, send("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nold")],
        vec![
            Step::Read,
            send("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 4\r\n\r\nkept"),
            Step::Read,
            send("HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 5\r\n\r\nagain"),
        ],
        // Tokens in a list, any case.
        vec![
            Step::Read,
            send("HTTP/1.1 200 OK\r\nConnection: upgrade, CLOSE\r\nContent-Length: 2\r\n\r\nok"),
        ],
    ])
    .await;
    let mut conn = connect(&server.url()).await;
    expect_ok(&mut conn, &get("/close"), false, 200, b"bye").await;
    assert!(conn.is_closed(), "`Connection: close` must end reuse");

    let mut conn = connect(&server.url()).await;
    expect_ok(&mut conn, &get("/http10"), false, 200, b"old").await;
    assert!(conn.is_closed(), "HTTP/1.0 without keep-alive must end reuse");

    let mut conn = connect(&server.url()).await;
    expect_ok(&mut conn, &get("/http10-ka"), false, 200, b"kept").await;
    assert!(!conn.is_closed(), "HTTP/1.0 with `Connection: keep-alive` is reusable");
    expect_ok(&mut conn, &get("/http10-ka-2"), false, 200, b"again").await;
    assert!(!conn.is_closed());

    let mut conn = connect(&server.url()).await;
    expect_ok(&mut conn, &get("/list"), false, 200, b"ok").await;
    assert!(conn.is_closed(), "`close` within a token list must end reuse");
    assert_eq!(server.accepted.load(Ordering::SeqCst), 4);
}

/// Case 6: a HEAD answer with a content-length but no body, a 204 and a 304 (with a content-length)
/// complete with length 0 and leave the connection aligned for the next exchange.
#[tokio::test]
async fn head_204_and_304_have_no_body() {
    let server = Scripted::start(vec![vec![
        Step::Read,
        send("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nContent-Type: text/html\r\n\r\n"),
        Step::Read,
        send("HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n"),
        Step::Read,
        send("HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 50\r\n\r\n"),
        Step::Read,
        send(ok_length("next")),
    ]])
    .await;
    let mut conn = connect(&server.url()).await;
    let head = request("HEAD", "/page", "127.0.0.1", &[], b"");
    expect_ok(&mut conn, &head, true, 200, b"").await;
    assert!(!conn.is_closed(), "HEAD answered: reusable");
    expect_ok(&mut conn, &get("/nothing"), false, 204, b"").await;
    assert!(!conn.is_closed(), "204 answered: reusable");
    expect_ok(&mut conn, &get("/cached"), false, 304, b"").await;
    assert!(!conn.is_closed(), "304 answered: reusable");
    expect_ok(&mut conn, &get("/next"), false, 200, b"next").await;
    assert_eq!(server.accepted.load(Ordering::SeqCst), 1);
}

/// Case 7: interim `100 Continue` (and `103 Early Hints`) answers are skipped; the final 200 is
/// returned.
#[tokio::test]
async fn interim_1xx_answers_are_skipped() {
    let server = Scripted::start(vec![vec![
        Step::Read,
        send("HTTP/1.1 100 Continue\r\n\r\n"),
        Step::Sleep(10),
        send(
            "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n\
             HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal",
        ),
        Step::Read,
        send(ok_length("next")),
    ]])
    .await;
    let mut conn = connect(&server.url()).await;
    let post = request("POST", "/upload", "127.0.0.1", &[], b"data");
    expect_ok(&mut conn, &post, false, 200, b"final").await;
    assert!(!conn.is_closed());
    expect_ok(&mut conn, &get("/next"), false, 200, b"next").await;
}

/// Case 9: a server closing an idle keep-alive connection is noticed by `is_closed()` (so the engine
/// reconnects instead of failing); a new connection then works.
#[tokio::test]
async fn idle_close_is_seen_before_reuse() {
    let close_now = Arc::new(Notify::new());
    let server = Scripted::start(vec![
        vec![
            Step::Read,
            send(ok_length("one")),
            Step::Wait(close_now.clone()),
            Step::Close,
        ],
        vec![Step::Read, send(ok_length("two"))],
    ])
    .await;
    let mut conn = connect(&server.url()).await;
    expect_ok(&mut conn, &get("/one"), false, 200, b"one").await;
    assert!(!conn.is_closed(), "still open: the server has not closed yet");
    close_now.notify_one();
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The close arrives asynchronously; poll for it within a bound rather than assert a timing.
    let seen = timeout(LIMIT, async {
        while !conn.is_closed() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(seen.is_ok(), "is_closed() never noticed the server's close");
    assert!(conn.is_closed(), "once closed, it stays closed");

    let mut conn = connect(&server.url()).await;
    expect_ok(&mut conn, &get("/two"), false, 200, b"two").await;
    assert_eq!(server.accepted.load(Ordering::SeqCst), 2);
}

/// Case 10: a body over the 10 MiB cap with keep=true: the length is the full length, the kept bytes
/// stop at the cap, and the connection stays aligned.
#[tokio::test]
async fn body_over_the_cap_is_counted_in_full_and_kept_up_to_the_cap() {
    assert_eq!(BODY_CAP, 10 * 1024 * 1024);
    let n = 11 * 1024 * 1024;
    let big = pattern(n);
    let mut resp = format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n").into_bytes();
    resp.extend_from_slice(&big);
    // The same body chunked, in 1 MiB chunks.
    let mut chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for c in big.chunks(1024 * 1024) {
        chunked.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        chunked.extend_from_slice(c);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let server = Scripted::start(vec![vec![
        Step::Read,
        Step::Send(resp),
        Step::Read,
        Step::Send(chunked),
        Step::Read,
        send(ok_length("small")),
    ]])
    .await;
    let mut conn = connect(&server.url()).await;
    for path in ["/big", "/big-chunked"] {
        let (r, kept) = exchange(&mut conn, &get(path), false, true).await;
        let (status, len) = r.unwrap_or_else(|f| panic!("{path}: {f:?}"));
        assert_eq!((status, len), (200, n as u64), "{path}: the length counts every byte");
        assert_eq!(kept.len(), BODY_CAP, "{path}: kept bytes stop at the cap");
        assert!(
            kept[..] == big[..BODY_CAP],
            "{path}: the kept bytes are the body's first ones"
        );
        assert!(
            !conn.is_closed(),
            "{path}: the rest was drained, so the connection is reusable"
        );
    }
    expect_ok(&mut conn, &get("/small"), false, 200, b"small").await;
}

/// Case 11: a 1 MiB body with keep=false is counted, not kept, and the connection stays aligned.
#[tokio::test]
async fn large_body_not_kept_is_counted() {
    let n = 1024 * 1024;
    let mut resp = format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n").into_bytes();
    resp.extend_from_slice(&pattern(n));
    let server = Scripted::start(vec![vec![
        Step::Read,
        Step::Send(resp),
        Step::Read,
        send(ok_length("small")),
    ]])
    .await;
    let mut conn = connect(&server.url()).await;
    let mut kept = Vec::new();
    let req = get("/big");
    let a = timeout(LIMIT, conn.exchange(&req, false, false, &mut kept))
        .await
        .expect("bounded")
        .unwrap_or_else(|f| panic!("{f:?}"));
    assert_eq!((a.status, a.body), (200, n as u64));
    // Bytes on the wire both ways: the whole answer (head and body) read, the whole request written.
    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n").len() as u64;
    assert_eq!(a.received, head + n as u64, "every byte read is counted");
    assert_eq!(conn.sent(), req.len() as u64, "every byte written is counted");
    assert!(kept.is_empty(), "keep=false keeps nothing");
    assert!(!conn.is_closed());
    expect_ok(&mut conn, &get("/small"), false, 200, b"small").await;
}

// ---------------------------------------------------------------------------------------------
// Broken answers (case 8): read failures with a readable detail, no panic, no hang
// ---------------------------------------------------------------------------------------------

/// The server closes after reading the request, before any response.
#[tokio::test]
async fn closed_before_a_response() {
    let server = Scripted::start(vec![vec![Step::Read, Step::Close]]).await;
    let mut conn = connect(&server.url()).await;
    expect_read_failure(&mut conn, &get("/x"), "closed before a response").await;
}

/// The server closes in the middle of the status line and headers.
#[tokio::test]
async fn closed_in_the_middle_of_the_head() {
    let server = Scripted::start(vec![vec![
        Step::Read,
        send("HTTP/1.1 200 OK\r\nContent-Le"),
        Step::Close,
    ]])
    .await;
    let mut conn = connect(&server.url()).await;
    expect_read_failure(&mut conn, &get("/x"), "in the middle of the response head").await;
}

/// The server closes 60 bytes short of an announced 100-byte body; the detail says so.
#[tokio::test]
async fn closed_in_the_middle_of_a_length_body() {
    let server = Scripted::start(vec![vec![
        Step::Read,
        send(format!(
            "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{}",
            "x".repeat(40)
        )),
        Step::Close,
    ]])
    .await;
    let mut conn = connect(&server.url()).await;
    expect_read_failure(
        &mut conn,
        &get("/x"),
        "60 bytes before the end of the body (100 announced)",
    )
    .await;
}

/// The server closes in the middle of a chunked body.
#[tokio::test]
async fn closed_in_the_middle_of_a_chunked_body() {
    let server = Scripted::start(vec![vec![
        Step::Read,
        send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"),
        Step::Close,
    ]])
    .await;
    let mut conn = connect(&server.url()).await;
    expect_read_failure(&mut conn, &get("/x"), "in the middle of a chunked body").await;
}

/// An invalid chunk size fails at once, even though the server keeps the connection open.
#[tokio::test]
async fn invalid_chunk_size() {
    let server = Scripted::start(vec![vec![
        Step::Read,
        send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nmore\r\n"),
    ]])
    .await;
    let mut conn = connect(&server.url()).await;
    expect_read_failure(&mut conn, &get("/x"), "bad chunk size `zz`").await;
}

/// Something that is not HTTP instead of a status line.
#[tokio::test]
async fn garbage_instead_of_a_status_line() {
    let server = Scripted::start(vec![vec![Step::Read, send("SSH-2.0-OpenSSH_9.6\r\n\r\n")]]).await;
    let mut conn = connect(&server.url()).await;
    expect_read_failure(&mut conn, &get("/x"), "invalid HTTP response").await;
}

/// Two different content-length headers are refused (request smuggling territory); equal ones are
/// accepted.
#[tokio::test]
async fn two_different_content_lengths() {
    let server = Scripted::start(vec![
        vec![
            Step::Read,
            send("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
        ],
        vec![
            Step::Read,
            send("HTTP/1.1 200 OK\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\nhello"),
        ],
        // One header listing the same length twice is valid (RFC 9110 8.6); a list of two is not.
        vec![Step::Read, send("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello")],
        vec![
            Step::Read,
            send("HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello!"),
        ],
    ])
    .await;
    let mut conn = connect(&server.url()).await;
    expect_read_failure(&mut conn, &get("/x"), "two different content-length headers").await;
    let mut conn = connect(&server.url()).await;
    expect_ok(&mut conn, &get("/y"), false, 200, b"hello").await;
    let mut conn = connect(&server.url()).await;
    expect_ok(&mut conn, &get("/z"), false, 200, b"hello").await;
    let mut conn = connect(&server.url()).await;
    expect_read_failure(&mut conn, &get("/w"), "bad content-length").await;
}

/// A content-length that is not a number.
#[tokio::test]
async fn bad_content_length() {
    let server = Scripted::start(vec![vec![
        Step::Read,
        send("HTTP/1.1 200 OK\r\nContent-Length: five\r\n\r\nhello"),
    ]])
    .await;
    let mut conn = connect(&server.url()).await;
    expect_read_failure(&mut conn, &get("/x"), "bad content-length `five`").await;
}

/// A response head just over the limit (hyper's 400 KiB, one huge header) is refused rather than
/// buffered without bound.
#[tokio::test]
async fn head_over_the_limit() {
    assert_eq!(MAX_HEAD, 400 * 1024);
    let big = format!(
        "HTTP/1.1 200 OK\r\nX-Big: {}\r\nContent-Length: 2\r\n\r\nok",
        "a".repeat(MAX_HEAD)
    );
    let server = Scripted::start(vec![vec![Step::Read, send(big)]]).await;
    let mut conn = connect(&server.url()).await;
    expect_read_failure(&mut conn, &get("/x"), "its head is over 400 KiB").await;
}

/// A head well over 64 KiB but under the limit still parses: an 80 KiB `Set-Cookie`, as real
/// services send, and the connection stays aligned.
#[tokio::test]
async fn head_with_an_80_kib_header_parses() {
    let big = format!(
        "HTTP/1.1 200 OK\r\nSet-Cookie: session={}; Path=/\r\nContent-Length: 2\r\n\r\nok",
        "a".repeat(80 * 1024)
    );
    let server = Scripted::start(vec![vec![Step::Read, send(big), Step::Read, send(ok_length("next"))]]).await;
    let mut conn = connect(&server.url()).await;
    expect_ok(&mut conn, &get("/x"), false, 200, b"ok").await;
    assert!(!conn.is_closed());
    expect_ok(&mut conn, &get("/y"), false, 200, b"next").await;
}

/// A response with `n` headers (`X-H-i: i`) and a content-length among them.
fn many_headers(n: usize) -> String {
    let mut head = String::from("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n");
    for i in 1..n {
        head.push_str(&format!("X-H-{i}: {i}\r\n"));
    }
    head.push_str("\r\nok");
    head
}

/// 70 headers parse (more than the former 64); 101 are refused, like hyper's 100.
#[tokio::test]
async fn header_count_limit_is_100() {
    assert_eq!(MAX_HEADERS, 100);
    let server = Scripted::start(vec![
        vec![Step::Read, send(many_headers(70)), Step::Read, send(ok_length("next"))],
        vec![Step::Read, send(many_headers(100))],
        vec![Step::Read, send(many_headers(101))],
    ])
    .await;
    let mut conn = connect(&server.url()).await;
    expect_ok(&mut conn, &get("/70"), false, 200, b"ok").await;
    assert!(!conn.is_closed());
    expect_ok(&mut conn, &get("/next"), false, 200, b"next").await;
    let mut conn = connect(&server.url()).await;
    expect_ok(&mut conn, &get("/100"), false, 200, b"ok").await;
    let mut conn = connect(&server.url()).await;
    expect_read_failure(&mut conn, &get("/101"), "more than 100 headers").await;
}

// ---------------------------------------------------------------------------------------------
// Message framing (RFC 9112 6.3)
// ---------------------------------------------------------------------------------------------

/// Transfer-Encoding overrides Content-Length, even an invalid one: the chunked body is read.
#[tokio::test]
async fn chunked_wins_over_an_invalid_content_length() {
    let server = Scripted::start(vec![vec![
        Step::Read,
        send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: abc\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    ]])
    .await;
    let mut conn = connect(&server.url()).await;
    expect_ok(&mut conn, &get("/x"), false, 200, b"hello").await;
}

/// `chunked` that is not the final coding does not delimit the body: it runs until the close, and
/// the connection is spent.
#[tokio::test]
async fn chunked_not_last_reads_until_close() {
    let server = Scripted::start(vec![vec![
        Step::Read,
        send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n5\r\nhello"),
        Step::Sleep(20),
        send(" world"),
        Step::Close,
    ]])
    .await;
    let mut conn = connect(&server.url()).await;
    expect_ok(&mut conn, &get("/x"), false, 200, b"5\r\nhello world").await;
    assert!(
        conn.is_closed(),
        "a body delimited by the close leaves nothing to reuse"
    );
}

/// An HTTP/1.0 answer has no chunked coding: its body runs until the close.
#[tokio::test]
async fn http10_chunked_reads_until_close() {
    let raw = "5\r\nhello\r\n0\r\n\r\n";
    let server = Scripted::start(vec![vec![
        Step::Read,
        send(format!("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{raw}")),
        Step::Sleep(20),
        Step::Close,
    ]])
    .await;
    let mut conn = connect(&server.url()).await;
    expect_ok(&mut conn, &get("/x"), false, 200, raw.as_bytes()).await;
    assert!(conn.is_closed());
}

/// Content-Length is digits only: `+5` is refused (Rust's integer parser would take it).
#[tokio::test]
async fn content_length_with_a_sign() {
    let server = Scripted::start(vec![vec![
        Step::Read,
        send("HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello"),
    ]])
    .await;
    let mut conn = connect(&server.url()).await;
    expect_read_failure(&mut conn, &get("/x"), "bad content-length `+5`").await;
}

/// A chunk size is hex digits only: `+5` is refused; white space before `;` (BWS) is accepted.
#[tokio::test]
async fn chunk_size_with_a_sign_or_white_space() {
    let server = Scripted::start(vec![
        vec![
            Step::Read,
            send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n"),
        ],
        vec![
            Step::Read,
            send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 ;ext\r\nhello\r\n0\r\n\r\n"),
            Step::Read,
            send(ok_length("next")),
        ],
    ])
    .await;
    let mut conn = connect(&server.url()).await;
    expect_read_failure(&mut conn, &get("/x"), "bad chunk size `+5`").await;
    let mut conn = connect(&server.url()).await;
    expect_ok(&mut conn, &get("/y"), false, 200, b"hello").await;
    assert!(!conn.is_closed());
    expect_ok(&mut conn, &get("/z"), false, 200, b"next").await;
}

/// `Connection: close` is not undone by a later `Connection: keep-alive` header.
#[tokio::test]
async fn close_then_keep_alive_is_still_close() {
    let server = Scripted::start(vec![vec![
        Step::Read,
        send("HTTP/1.1 200 OK\r\nConnection: close\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\nbye"),
    ]])
    .await;
    let mut conn = connect(&server.url()).await;
    expect_ok(&mut conn, &get("/x"), false, 200, b"bye").await;
    assert!(conn.is_closed(), "`Connection: close` in any header must end reuse");
}

// ---------------------------------------------------------------------------------------------
// End to end through the engine
// ---------------------------------------------------------------------------------------------

/// Answers every request on every connection by path (chunked JSON), logging the raw requests.
struct JsonServer {
    addr: SocketAddr,
    requests: Log<Vec<u8>>,
    task: JoinHandle<()>,
}

impl JsonServer {
    async fn start() -> JsonServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let requests = log::<Vec<u8>>();
        let reqs = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let reqs = reqs.clone();
                tokio::spawn(async move {
                    let mut pending = Vec::new();
                    while let Some(req) = read_request(&mut stream, &mut pending).await {
                        let line = String::from_utf8_lossy(&req)
                            .lines()
                            .next()
                            .unwrap_or_default()
                            .to_string();
                        reqs.lock().unwrap().push(req);
                        let resp: &[u8] = if line.starts_with("POST /login ") {
                            // `{"token":"tok-42","user":"alice"}` in three chunks, one with an
                            // extension, and a trailer.
                            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n\
                              7\r\n{\"token\r\n\
                              9;ext=1\r\n\":\"tok-42\r\n\
                              11\r\n\",\"user\":\"alice\"}\r\n\
                              0\r\nx-trailer: t\r\n\r\n"
                        } else if line.starts_with("GET /items/tok-42 ") || line.starts_with("POST /echo ") {
                            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"ok\r\n7\r\n\":true}\r\n0\r\n\r\n"
                        } else {
                            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
                        };
                        if stream.write_all(resp).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        JsonServer { addr, requests, task }
    }
}

impl Drop for JsonServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A value extracted from a chunked JSON answer is used in the next request's path and body, and the
/// requests `User::encode` writes carry the right host, content-type and content-length.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_extracts_from_a_chunked_json_body() {
    let server = JsonServer::start().await;
    let g = gate(
        "
version: 1
load: {users: 1, run_time: 800ms, grace: 2s}
scenarios:
  S:
    think_time: 5ms..10ms
    on_start:
      - method: POST
        path: /login
        json: {user: alice, note: café}
        extract:
          token: $.token
    tasks:
      - sequence:
          - path: '/items/{token}'
            headers: {User-Agent: 'gate-agent/{token}'}
            expect: {status: 200, json: {$.ok: true}}
          - method: POST
            path: /echo
            json: {token: '{token}', n: 1}
            expect: {status: 200, json: {$.ok: true}}
",
    );
    let r = run(&g, at(&format!("http://{}", server.addr), 3)).await;
    let total = r.total(true);
    assert_eq!(total.failures, 0, "failures: {:?}", total.failures_by_kind);
    assert_eq!(stats(&r, "POST /login").requests, 1);
    assert!(
        stats(&r, "GET /items/{token}").requests >= 1,
        "the extracted token was never used"
    );

    let host = server.addr.to_string();
    let reqs = entries(&server.requests);
    let split = |req: &[u8]| {
        let end = find(req, b"\r\n\r\n").expect("a complete head") + 4;
        (String::from_utf8_lossy(&req[..end]).to_string(), req[end..].to_vec())
    };
    let (login, body) = split(&reqs[0]);
    assert!(login.starts_with("POST /login HTTP/1.1\r\n"), "{login}");
    assert!(login.contains(&format!("\r\nhost: {host}\r\n")), "{login}");
    assert!(login.contains("\r\ncontent-type: application/json\r\n"), "{login}");
    assert!(
        login.contains(&format!("\r\nuser-agent: {}\r\n", perfgate::load::plan::USER_AGENT)),
        "{login}"
    );
    // `café` is 5 bytes: the length counts bytes, not characters.
    assert!(
        login.contains(&format!("\r\ncontent-length: {}\r\n", body.len())),
        "{login}"
    );
    let v: serde_json::Value = serde_json::from_slice(&body).expect("a JSON body");
    assert_eq!(v, json!({"user": "alice", "note": "café"}));

    let (item, body) = split(&reqs[1]);
    assert!(item.starts_with("GET /items/tok-42 HTTP/1.1\r\n"), "{item}");
    // The gate's own User-Agent replaces perfgate's, once.
    assert!(item.contains("\r\nuser-agent: gate-agent/tok-42\r\n"), "{item}");
    assert_eq!(item.matches("user-agent:").count(), 1, "{item}");
    assert!(item.contains(&format!("\r\nhost: {host}\r\n")), "{item}");
    assert!(
        !item.contains("content-length"),
        "a GET without a body has no content-length: {item}"
    );
    assert!(body.is_empty());

    let (echo, body) = split(&reqs[2]);
    assert!(echo.starts_with("POST /echo HTTP/1.1\r\n"), "{echo}");
    assert!(
        echo.contains(&format!("\r\ncontent-length: {}\r\n", body.len())),
        "{echo}"
    );
    let v: serde_json::Value = serde_json::from_slice(&body).expect("a JSON body");
    assert_eq!(v, json!({"token": "tok-42", "n": 1}));
    for req in &reqs[1..] {
        let (h, _) = split(req);
        assert!(
            h.starts_with("GET /items/tok-42 ") || h.starts_with("POST /echo "),
            "unexpected request {h}"
        );
    }
}

/// Answers one request per connection with a content-length 200 that does not announce a close,
/// then, ~2 ms later, closes the socket without reading any more: a keep-alive connection that a
/// server drops as the client reuses it. Counts connections and logs the requests it answered.
struct CloseAfterAnswer {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    requests: Log<Vec<u8>>,
    task: JoinHandle<()>,
}

impl CloseAfterAnswer {
    async fn start() -> CloseAfterAnswer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let requests = log::<Vec<u8>>();
        let (count, reqs) = (accepted.clone(), requests.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let reqs = reqs.clone();
                tokio::spawn(async move {
                    let _ = stream.set_nodelay(true);
                    let mut pending = Vec::new();
                    if let Ok(Some(req)) = timeout(LIMIT, read_request(&mut stream, &mut pending)).await {
                        reqs.lock().unwrap().push(req);
                        let _ = stream
                            .write_all(
                                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
                            )
                            .await;
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                    // Dropped unread: the next request on this connection is lost.
                });
            }
        });
        CloseAfterAnswer {
            addr,
            accepted,
            requests,
            task,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for CloseAfterAnswer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A closed-model gate of 2 users without think time running one task for 1 s.
fn busy_gate(task: &str) -> perfgate::gate::Gate {
    gate(&format!(
        "
version: 1
load: {{users: 2, run_time: 1s, grace: 2s}}
scenarios:
  S:
    tasks:
      - request: {task}
"
    ))
}

/// Failures by kind, without the kinds that did not occur.
fn failure_kinds(s: &perfgate::metrics::results::Stats) -> Vec<(FailureKind, u64)> {
    s.failures_by_kind
        .iter()
        .filter(|(_, &n)| n > 0)
        .map(|(k, &n)| (*k, n))
        .collect()
}

/// A GET that a reused connection loses before any answer (the server closed it as the request
/// left) is sent again on a new connection (RFC 9112 9.3.1): no failure, and the retries show as
/// more connections than users.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_retries_an_idempotent_request_lost_by_a_reused_connection() {
    let server = CloseAfterAnswer::start().await;
    let r = run(&busy_gate("GET /x"), at(&server.url(), 5)).await;
    let s = stats(&r, "GET /x");
    assert_eq!(s.failures, 0, "failures: {:?}", failure_kinds(&s));
    assert!(s.requests >= 20, "only {} requests in 1 s from 2 users", s.requests);
    let accepted = server.accepted.load(Ordering::SeqCst);
    assert!(
        accepted > 2,
        "{accepted} connections for 2 users: the lost requests were not sent again on new ones"
    );
}

/// The same server and a POST: POST is not idempotent, so a lost one is not sent again. It may fail,
/// only ever as a `read` failure, and nothing panics: the difference from the GET is deliberate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_does_not_retry_a_lost_post() {
    let server = CloseAfterAnswer::start().await;
    let r = run(
        &busy_gate("{method: POST, path: /x, json: {a: 1}}"),
        at(&server.url(), 5),
    )
    .await;
    let s = stats(&r, "POST /x");
    assert!(s.requests > 0);
    let kinds = failure_kinds(&s);
    assert!(
        kinds.iter().all(|(k, _)| *k == FailureKind::Read),
        "failures other than `read`: {kinds:?}"
    );
    eprintln!(
        "POST: {} requests, {} failures, {} connections",
        s.requests,
        s.failures,
        server.accepted.load(Ordering::SeqCst)
    );
}

/// A gate request with `Connection: close` does not reuse its connection: against the server that
/// drops connections after one answer, a POST (never retried) does not fail, and each request has
/// a connection of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_does_not_reuse_a_connection_after_a_connection_close_request() {
    let server = CloseAfterAnswer::start().await;
    let r = run(
        &busy_gate("{method: POST, path: /x, json: {a: 1}, headers: {Connection: close}}"),
        at(&server.url(), 5),
    )
    .await;
    let s = stats(&r, "POST /x");
    assert_eq!(s.failures, 0, "failures: {:?}", failure_kinds(&s));
    assert!(s.requests >= 20, "only {} requests in 1 s from 2 users", s.requests);
    let accepted = server.accepted.load(Ordering::SeqCst) as u64;
    assert!(
        accepted >= s.requests && accepted <= s.requests + 2,
        "{accepted} connections for {} requests: one each expected",
        s.requests
    );
    let reqs = entries(&server.requests);
    assert!(
        String::from_utf8_lossy(&reqs[0]).contains("\r\nconnection: close\r\n"),
        "{}",
        String::from_utf8_lossy(&reqs[0])
    );
}

/// Answers every request with `{"token":"tok-42"}` and logs the raw requests.
async fn token_server() -> (SocketAddr, Log<Vec<u8>>, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    let requests = log::<Vec<u8>>();
    let reqs = requests.clone();
    let task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let reqs = reqs.clone();
            tokio::spawn(async move {
                let mut pending = Vec::new();
                while let Some(req) = read_request(&mut stream, &mut pending).await {
                    reqs.lock().unwrap().push(req);
                    let body = r#"{"token":"tok-42"}"#;
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if stream.write_all(resp.as_bytes()).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (addr, requests, task)
}

/// Runs one user whose `on_start` is `steps` (after a login that extracts `token`) against the
/// token server, checks nothing failed, and returns the heads and bodies the server received, in
/// order (the login first).
async fn encoded(steps: &str) -> Vec<(String, Vec<u8>)> {
    let (addr, requests, task) = token_server().await;
    let g = gate(&format!(
        "
version: 1
load: {{users: 1, run_time: 300ms, grace: 2s}}
scenarios:
  S:
    think_time: 10ms
    on_start:
      - method: POST
        path: /login
        json: {{user: alice}}
        extract:
          token: $.token
{steps}
    tasks:
      - request: GET /idle
"
    ));
    let r = run(&g, at(&format!("http://{addr}"), 3)).await;
    task.abort();
    for q in &r.requests {
        let s = q.phases.all();
        assert_eq!(s.failures, 0, "{}: {:?}", q.name, failure_kinds(&s));
    }
    entries(&requests)
        .iter()
        .map(|req| {
            let end = find(req, b"\r\n\r\n").expect("a complete head") + 4;
            (String::from_utf8_lossy(&req[..end]).to_string(), req[end..].to_vec())
        })
        .collect()
}

/// A fragment stays with the client: `/page#top` is sent as `/page`, and a templated path drops its
/// fragment too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_sends_no_fragment() {
    let reqs = encoded(
        "      - path: '/page#top'
      - path: '/items/{token}#frag'",
    )
    .await;
    assert!(reqs.len() >= 3, "{} requests", reqs.len());
    let page = &reqs[1].0;
    assert!(page.starts_with("GET /page HTTP/1.1\r\n"), "{page}");
    let item = &reqs[2].0;
    assert!(item.starts_with("GET /items/tok-42 HTTP/1.1\r\n"), "{item}");
    assert!(!item.contains('#') && !item.contains("frag"), "{item}");
}

/// perfgate frames the body itself: a gate's `Transfer-Encoding` (or `Content-Length`) is refused
/// with the gate's position, before any request (before: it was silently dropped on the wire).
#[test]
fn a_gate_framing_header_is_refused() {
    for header in ["Transfer-Encoding: chunked", "content-length: '3'"] {
        let text = format!(
            "version: 1\nload: {{users: 1, run_time: 1s}}\nscenarios:\n  S:\n    tasks:\n      - request:\n          method: POST\n          path: /chunked\n          headers: {{{header}}}\n          json: {{a: 1}}\n"
        );
        let e = perfgate::gate::Gate::parse("g.yaml", &text).unwrap_err().to_string();
        assert!(
            e.contains("g.yaml:9:21") && e.contains("is set by perfgate itself from the body"),
            "{e}"
        );
    }
}

/// A header given twice in different case, once fixed and once templated, is sent once: the later
/// one in the gate's order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_sends_a_repeated_header_once() {
    let reqs = encoded(
        "      - path: /dup
        headers: {X-A: one, x-a: '{token}'}",
    )
    .await;
    assert!(reqs.len() >= 2, "{} requests", reqs.len());
    let dup = &reqs[1].0;
    assert!(dup.starts_with("GET /dup HTTP/1.1\r\n"), "{dup}");
    assert_eq!(
        dup.to_ascii_lowercase().matches("\r\nx-a:").count(),
        1,
        "one x-a line expected: {dup}"
    );
    assert!(dup.contains("\r\nx-a: tok-42\r\n"), "the later header wins: {dup}");
}

/// A templated header whose value holds a line break (from a variable) is left out rather than
/// splitting the request; a tab and non-ASCII text are valid and sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_leaves_out_a_header_value_with_a_line_break() {
    let (addr, requests, task) = token_server().await;
    let g = gate(
        "
version: 1
load: {users: 1, run_time: 300ms, grace: 2s}
variables:
  broken: \"a\\r\\nX-Injected: yes\"
  tabbed: \"a\\tb\"
  accented: \"café\"
scenarios:
  S:
    think_time: 50ms
    tasks:
      - request:
          path: /h
          headers: {X-Broken: '{broken}', X-Tabbed: '{tabbed}', X-Accented: '{accented}'}
",
    );
    let r = run(&g, at(&format!("http://{addr}"), 3)).await;
    task.abort();
    let s = stats(&r, "GET /h");
    assert!(s.requests >= 1 && s.failures == 0, "{s:?}");
    let reqs = entries(&requests);
    assert!(!reqs.is_empty());
    for req in &reqs {
        let text = String::from_utf8_lossy(req).to_ascii_lowercase();
        assert!(!text.contains("x-injected") && !text.contains("x-broken"), "{text}");
        assert!(text.contains("\r\nx-tabbed: a\tb\r\n"), "{text}");
        assert!(text.contains("\r\nx-accented: café\r\n"), "{text}");
    }
}
