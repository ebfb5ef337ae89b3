//! The live view (`run --web`): a real run against the demo, a real browser (headless Chromium over
//! the DevTools protocol) and raw HTTP on 127.0.0.1 for the safety checks.

mod common;

use common::{ChildGuard, DemoChild, TempDir, BIN};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// `perfgate ARGS` as a child whose stderr lines arrive on a channel; killed when dropped.
struct Live {
    guard: ChildGuard,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Live {
    fn start(args: &[&str], env: &[(&str, &str)]) -> Live {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .current_dir(common::repo_path(""))
            .env_remove("PERFGATE_HOST")
            .env_remove("PERFGATE_WEB_TOKEN")
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut guard = ChildGuard(cmd.spawn().expect("start perfgate"));
        let stderr = guard.0.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Live {
            guard,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits (at most 20 s) for a stderr line containing `needle` and returns it.
    fn line(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if l.contains(needle) {
                        return l;
                    }
                }
                Err(_) => panic!("no `{needle}` line within 20 s; stderr:\n{}", self.seen.join("\n")),
            }
        }
    }

    /// The live view's URL as printed.
    fn url(&mut self) -> String {
        let l = self.line("live view at ");
        l[l.find("http://").expect("a URL")..].trim().to_string()
    }

    /// Waits (at most `limit`) for the exit code.
    fn wait(&mut self, limit: Duration) -> i32 {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(s) = self.guard.0.try_wait().expect("wait") {
                return s.code().expect("exit code");
            }
            assert!(Instant::now() < deadline, "perfgate did not exit within {limit:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The port of a `http://127.0.0.1:PORT/...` URL.
fn port_of(url: &str) -> u16 {
    let rest = url.trim_start_matches("http://");
    let hostport = rest.split('/').next().unwrap();
    hostport.rsplit(':').next().unwrap().parse().unwrap()
}

/// One HTTP/1.1 exchange with 127.0.0.1:`port`, reading for at most `read_for`: status, head, body.
fn http(port: u16, request: &str, read_for: Duration) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut buf = Vec::new();
    let end = Instant::now() + read_for;
    let mut chunk = [0u8; 8192];
    while Instant::now() < end {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(e) => panic!("read: {e}"),
        }
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

fn get(port: u16, path: &str, extra: &str) -> (u16, String, String) {
    http(
        port,
        &format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}Connection: close\r\n\r\n"),
        Duration::from_secs(3),
    )
}

#[test]
fn the_page_is_self_contained_and_reads_nothing_from_another_origin() {
    let page = include_str!("../src/web/page.html");
    for needle in ["http://", "https://", "//cdn", "@import", "<link", "src=\"http"] {
        assert!(!page.contains(needle), "the page refers outside: {needle}");
    }
}

#[test]
fn posts_need_the_token_no_cors_header_is_sent_and_a_header_secret_never_reaches_the_page() {
    const SECRET: &str = "web_secret_5f1e2d3c4b";
    let demo = DemoChild::start();
    let dir = TempDir::new("web-secret");
    let gate = dir.write(
        "g.yaml",
        r#"version: 1
headers:
  Authorization: "Bearer ${env:PG_WEB_SECRET}"
load: {users: 3, spawn_rate: 10, run_time: 5s}
scenarios:
  A:
    think_time: 20ms..40ms
    tasks:
      - request: GET /api/modules
targets:
  - select: total
    p95: < 2s
"#,
    );
    let mut live = Live::start(
        &[
            "run",
            gate.to_str().unwrap(),
            "-H",
            &demo.url,
            "--web",
            "127.0.0.1:0",
            "--web-linger",
            "4s",
            "--quiet",
        ],
        &[("PG_WEB_SECRET", SECRET)],
    );
    let url = live.url();
    let port = port_of(&url);
    assert_eq!(url, format!("http://127.0.0.1:{port}/"), "no token in a loopback URL");
    live.line(" against ");
    let no_cors = |head: &str| {
        assert!(
            !head.to_ascii_lowercase().contains("access-control-allow"),
            "no CORS header is ever sent:\n{head}"
        )
    };
    let origin = "Origin: http://evil.example\r\n";

    let (status, head, page) = get(port, "/", origin);
    assert_eq!(status, 200, "{head}");
    no_cors(&head);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-security-policy: default-src 'none'"),
        "{head}"
    );
    assert!(page.contains("EventSource"), "the page is the live view");
    let token = page
        .split("const TOKEN = \"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("the page carries its token for POSTs")
        .to_string();
    assert_eq!(token.len(), 32);

    // Two seconds of the event stream, as a browser from another origin would ask for it.
    let (status, head, stream) = http(
        port,
        &format!("GET /events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{origin}Accept: text/event-stream\r\n\r\n"),
        Duration::from_millis(2500),
    );
    assert_eq!(status, 200, "{head}");
    no_cors(&head);
    assert!(
        stream.matches("data: {").count() >= 2,
        "at least two updates in 2.5 s:\n{stream}"
    );
    assert!(stream.contains("\"rows\":[{"), "{stream}");

    let post = |path: &str, extra: &str| {
        http(
            port,
            &format!("POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{origin}{extra}Content-Length: 0\r\nConnection: close\r\n\r\n"),
            Duration::from_secs(3),
        )
    };
    let (status, head, _) = post("/control/stop", "");
    assert_eq!(status, 403, "a POST without the token: {head}");
    no_cors(&head);
    let (status, _, _) = post(
        "/control/stop",
        "x-perfgate-token: 0123456789abcdef0123456789abcdef\r\n",
    );
    assert_eq!(status, 403, "a POST with a wrong token");
    let (status, _, _) = post("/control/stop", &format!("x-perfgate-token: {token}\r\n"));
    assert_eq!(status, 404, "the token passes; `run --web` has no controls");
    let (status, head, _) = http(
        port,
        &format!("OPTIONS /control/stop HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{origin}Access-Control-Request-Method: POST\r\nConnection: close\r\n\r\n"),
        Duration::from_secs(3),
    );
    assert_ne!(status, 200, "no preflight is granted: {head}");
    no_cors(&head);
    let (status, _, _) = http(
        port,
        "GET / HTTP/1.1\r\nHost: rebound.example:80\r\nConnection: close\r\n\r\n",
        Duration::from_secs(3),
    );
    assert_eq!(status, 403, "a loopback view answers to loopback host names only");

    live.line("final page stays");
    let mut served = vec![page, stream];
    for path in ["/", "/history", "/report", "/results.json"] {
        let (status, head, body) = get(port, path, origin);
        assert_eq!(status, 200, "{path}: {head}");
        no_cors(&head);
        served.push(body);
    }
    let (_, _, events) = http(
        port,
        &format!("GET /events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"),
        Duration::from_millis(500),
    );
    assert!(
        events.contains("\"stage\":\"finished\""),
        "the final verdict is shown:\n{events}"
    );
    served.push(events);
    for body in &served {
        assert!(!body.contains(SECRET), "the secret reached a served byte");
    }
    let code = live.wait(Duration::from_secs(15));
    assert!([0, 1, 3].contains(&code), "exit {code}");
}

#[test]
fn a_non_loopback_bind_needs_the_generated_token_for_every_request() {
    let demo = DemoChild::start();
    let mut live = Live::start(
        &[
            "run",
            "gates/prismq.yaml",
            "-H",
            &demo.url,
            "-u",
            "2",
            "-t",
            "3s",
            "--web",
            "0.0.0.0:0",
            "--web-linger",
            "0s",
            "--quiet",
        ],
        &[],
    );
    let url = live.url();
    let token = url
        .split("?token=")
        .nth(1)
        .expect("the URL carries the generated token")
        .to_string();
    assert_eq!(token.len(), 32, "{url}");
    assert!(token.chars().all(|c| c.is_ascii_hexdigit()), "{url}");
    let port = port_of(url.split('?').next().unwrap());
    // The traffic stays on 127.0.0.1, which a 0.0.0.0 bind also serves.
    assert_eq!(get(port, "/", "").0, 403, "no token");
    assert_eq!(get(port, "/events", "").0, 403, "no token");
    assert_eq!(get(port, "/?token=nottherighttokenatall0000000000", "").0, 403);
    assert_eq!(get(port, &format!("/?token={token}"), "").0, 200);
    assert_eq!(get(port, "/history", &format!("x-perfgate-token: {token}\r\n")).0, 200);
    let code = live.wait(Duration::from_secs(20));
    assert!([0, 1, 3].contains(&code), "exit {code}");
}

/// A small DevTools protocol client: one page, commands answered in order.
struct Cdp {
    ws: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    next: u64,
}

impl Cdp {
    /// Connects to the first page of a Chromium started with `--remote-debugging-port=0`.
    async fn connect(profile: &Path) -> Cdp {
        let file = profile.join("DevToolsActivePort");
        let deadline = Instant::now() + Duration::from_secs(20);
        let port: u16 = loop {
            if let Some(p) = std::fs::read_to_string(&file)
                .ok()
                .and_then(|t| t.lines().next().and_then(|l| l.parse().ok()))
            {
                break p;
            }
            assert!(Instant::now() < deadline, "Chromium wrote no DevToolsActivePort");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let ws_url = loop {
            let (_, _, body) = get(port, "/json/list", "");
            let list: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            if let Some(u) = list
                .as_array()
                .and_then(|a| a.iter().find(|t| t["type"] == "page"))
                .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            {
                break u.to_string();
            }
            assert!(Instant::now() < deadline, "no page target: {body}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let (ws, _) = tokio_tungstenite::connect_async(ws_url.as_str())
            .await
            .expect("DevTools websocket");
        Cdp { ws, next: 1 }
    }

    async fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next;
        self.next += 1;
        let msg = json!({"id": id, "method": method, "params": params}).to_string();
        self.ws.send(msg.into()).await.expect("send");
        let wait = async {
            while let Some(m) = self.ws.next().await {
                let Ok(m) = m else { break };
                let Ok(text) = m.to_text() else { continue };
                let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
                if v["id"] == id {
                    return v;
                }
            }
            panic!("the DevTools connection closed");
        };
        let v = tokio::time::timeout(Duration::from_secs(20), wait)
            .await
            .expect("a DevTools answer");
        assert!(v.get("error").is_none(), "{method}: {v}");
        v["result"].clone()
    }

    /// The value of a JavaScript expression in the page.
    async fn eval(&mut self, expr: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
            )
            .await;
        r["result"]["value"].clone()
    }

    /// Saves a screenshot of the page.
    async fn screenshot(&mut self, path: &Path) {
        use base64::Engine;
        let r = self.call("Page.captureScreenshot", json!({"format": "png"})).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().expect("png data"))
            .expect("base64");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }
}

/// Chromium from Debian's package or `PERFGATE_CHROMIUM`; None when absent (the test says so and skips).
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PERFGATE_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// Headless Chromium on `url`, with DevTools on a port it picks; killed when dropped.
fn browser(bin: &Path, profile: &Path, url: &str) -> ChildGuard {
    ChildGuard(
        Command::new(bin)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-port=0",
                "--remote-allow-origins=*",
                "--window-size=1280,1400",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromium"),
    )
}

/// Where screenshots go for people to look at.
fn shot(name: &str) -> PathBuf {
    common::repo_path("target").join("web-screenshots").join(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_sees_the_live_page_count_up_then_the_final_verdict() {
    let Some(bin) = chromium() else {
        eprintln!("SKIPPED: no Chromium found (install Debian's `chromium` or set PERFGATE_CHROMIUM); the live page was checked over HTTP only");
        return;
    };
    let demo = DemoChild::start();
    let mut live = Live::start(
        &[
            "run",
            "gates/prismq.yaml",
            "-H",
            &demo.url,
            "-u",
            "5",
            "-t",
            "8s",
            "--web",
            "127.0.0.1:0",
            "--web-linger",
            "20s",
            "--quiet",
        ],
        &[],
    );
    let url = live.url();
    let profile = TempDir::new("web-chromium");
    let _browser = browser(&bin, &profile.0, &url);
    let mut cdp = Cdp::connect(&profile.0).await;
    let count = "Number(document.getElementById('requests').textContent)";
    let deadline = Instant::now() + Duration::from_secs(20);
    let first = loop {
        let n = cdp.eval(count).await.as_f64().unwrap_or(0.0);
        if n > 0.0 {
            break n;
        }
        assert!(Instant::now() < deadline, "the page showed no request within 20 s");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let second = cdp.eval(count).await.as_f64().unwrap_or(0.0);
    assert!(
        second > first,
        "the count grows between two snapshots: {first} then {second}"
    );
    assert_eq!(
        cdp.eval("document.getElementById('stage').textContent").await,
        "running"
    );
    let rows = cdp
        .eval("document.querySelectorAll('#rows tr').length")
        .await
        .as_u64()
        .unwrap_or(0);
    assert!(rows >= 2, "a row per request name and the total: {rows}");
    let headline = cdp.eval("document.getElementById('verdict').textContent").await;
    assert!(headline.as_str().unwrap_or("").starts_with("provisional"), "{headline}");
    let drawn = cdp
        .eval("(() => { const c = document.getElementById('c-rps'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; })()")
        .await;
    assert!(
        drawn.as_u64().unwrap_or(0) > 100,
        "the requests/s chart has ink: {drawn}"
    );
    cdp.screenshot(&shot("live-running.png")).await;

    live.line("final page stays");
    let deadline = Instant::now() + Duration::from_secs(10);
    while cdp.eval("document.getElementById('stage').textContent").await != "finished" {
        assert!(Instant::now() < deadline, "the page did not show the end of the run");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let headline = cdp.eval("document.getElementById('verdict').textContent").await;
    assert!(
        !headline.as_str().unwrap_or("").starts_with("provisional"),
        "{headline}"
    );
    assert_eq!(cdp.eval("document.getElementById('downloads').hidden").await, false);
    let report = cdp
        .eval("fetch(document.getElementById('dl-report').href).then(r => r.text()).then(t => t.includes('<svg'))")
        .await;
    assert_eq!(report, true, "the HTML report is served with its charts");
    cdp.screenshot(&shot("live-finished.png")).await;
    eprintln!("screenshots: {}", shot("").display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_drives_perfgate_ui_through_start_change_users_and_stop() {
    let Some(bin) = chromium() else {
        eprintln!("SKIPPED: no Chromium found (install Debian's `chromium` or set PERFGATE_CHROMIUM); perfgate ui was not driven");
        return;
    };
    let demo = DemoChild::start();
    let mut ui = Live::start(
        &[
            "ui",
            "gates/prismq.yaml",
            "-H",
            &demo.url,
            "--web",
            "127.0.0.1:0",
            "--max-run-time",
            "40s",
            "--quiet",
        ],
        &[],
    );
    let l = ui.line("perfgate ui: ");
    let url = l[l.find("http://").unwrap()..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let profile = TempDir::new("web-ui-chromium");
    let _browser = browser(&bin, &profile.0, &url);
    let mut cdp = Cdp::connect(&profile.0).await;
    /// Waits (at most 20 s) until `expr` is `want` in the page.
    async fn wait(cdp: &mut Cdp, what: &str, expr: &str, want: Value) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = cdp.eval(expr).await;
            if got == want {
                return;
            }
            assert!(Instant::now() < deadline, "{what}: `{expr}` is {got}, not {want}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    wait(
        &mut cdp,
        "the form shows",
        "document.getElementById('controls').hidden",
        json!(false),
    )
    .await;
    wait(
        &mut cdp,
        "the page is idle",
        "document.getElementById('stage').textContent",
        json!("idle"),
    )
    .await;
    // Fill the form as a person would, and press Start.
    cdp.eval(
        "(() => { const set = (id, v) => { const e = document.getElementById(id); e.value = v; e.dispatchEvent(new Event('input')); };
          set('f-users', '2'); set('f-rate', '20'); set('f-time', ''); document.getElementById('start').click(); return true; })()",
    )
    .await;
    wait(
        &mut cdp,
        "the run starts",
        "document.getElementById('stage').textContent",
        json!("running"),
    )
    .await;
    wait(
        &mut cdp,
        "two users run",
        "document.getElementById('users').textContent",
        json!("2 / 2"),
    )
    .await;
    cdp.eval("(() => { document.getElementById('f-new-users').value = '5'; document.getElementById('set-users').click(); return true; })()")
        .await;
    wait(
        &mut cdp,
        "ramped to five",
        "document.getElementById('users').textContent",
        json!("5 / 5"),
    )
    .await;
    let count = "Number(document.getElementById('requests').textContent)";
    wait(&mut cdp, "requests counted", &format!("{count} > 0"), json!(true)).await;
    cdp.eval("document.getElementById('judge').click(), true").await;
    wait(
        &mut cdp,
        "judged on demand",
        "document.getElementById('judged').hidden",
        json!(false),
    )
    .await;
    cdp.screenshot(&shot("ui-running.png")).await;
    cdp.eval("document.getElementById('stop').click(), true").await;
    wait(
        &mut cdp,
        "the run stops",
        "document.getElementById('stage').textContent",
        json!("finished"),
    )
    .await;
    wait(
        &mut cdp,
        "downloads offered",
        "document.getElementById('downloads').hidden",
        json!(false),
    )
    .await;
    let csv = cdp
        .eval("fetch(document.querySelector('#dl-csv a').href).then(r => r.text()).then(t => t.split('\\n')[0])")
        .await;
    assert!(
        csv.as_str().unwrap_or("").starts_with("Type,Name,Request Count"),
        "{csv}"
    );
    let results = cdp
        .eval("fetch(document.getElementById('dl-results').href).then(r => r.json()).then(j => [j.schema, j.interrupted, j.load.peak_users])")
        .await;
    assert_eq!(
        results,
        json!(["perfgate.results", true, 5]),
        "the results of the stopped run"
    );
    cdp.screenshot(&shot("ui-finished.png")).await;
    // A second run can start from the same page.
    cdp.eval("(() => { document.getElementById('f-users').value = '1'; document.getElementById('f-time').value = '2s'; document.getElementById('start').click(); return true; })()")
        .await;
    wait(
        &mut cdp,
        "a second run",
        "document.getElementById('stage').textContent",
        json!("running"),
    )
    .await;
    wait(
        &mut cdp,
        "which ends by itself",
        "document.getElementById('stage').textContent",
        json!("finished"),
    )
    .await;
}

#[test]
fn the_started_services_cpu_and_memory_reach_the_page() {
    let serve = format!("{BIN} serve-demo --port {{port}}");
    let mut live = Live::start(
        &[
            "run",
            "gates/prismq.yaml",
            "--serve",
            &serve,
            "-u",
            "3",
            "-t",
            "4s",
            "--web",
            "127.0.0.1:0",
            "--web-linger",
            "0s",
            "--quiet",
        ],
        &[],
    );
    let port = port_of(&live.url());
    live.line(" against ");
    let (status, _, stream) = http(
        port,
        &format!("GET /events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"),
        Duration::from_millis(3000),
    );
    assert_eq!(status, 200);
    let views: Vec<Value> = stream
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect();
    let sampled = views
        .iter()
        .find(|v| v["stage"] == "running" && v["point"]["rss"].as_f64().is_some_and(|r| r > 0.0))
        .unwrap_or_else(|| panic!("no update with the service's memory in 3 s: {views:?}"));
    assert!(sampled["point"]["cpu"].as_f64().is_some(), "{sampled}");
    assert!(
        sampled["server"]
            .as_str()
            .is_some_and(|s| s.starts_with("service: CPU")),
        "{sampled}"
    );
    let code = live.wait(Duration::from_secs(20));
    assert!([0, 1, 3].contains(&code), "exit {code}");
}

#[test]
fn a_busy_address_is_invalid_input_and_the_token_variable_alone_asks_for_no_page() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let out = common::perfgate(
        &[
            "run",
            "gates/prismq.yaml",
            "-H",
            "http://127.0.0.1:1",
            "-t",
            "1s",
            "--web",
            &addr,
        ],
        None,
        Duration::from_secs(30),
    );
    assert_eq!(out.code(), 2, "{}", out.both());
    assert!(
        out.stderr.contains(&format!("cannot listen on {addr} for --web")),
        "{}",
        out.both()
    );
    // PERFGATE_WEB_TOKEN in the environment (a CI secret) does not require --web.
    let out = Command::new(BIN)
        .args([
            "run",
            "gates/prismq.yaml",
            "-H",
            &format!("http://127.0.0.1:{}", common::free_port()),
            "-t",
            "1s",
            "-q",
        ])
        .current_dir(common::repo_path(""))
        .env("PERFGATE_WEB_TOKEN", "0123456789abcdef0123")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "unreachable, not a usage error: {stderr}");
    assert!(!stderr.contains("live view"), "{stderr}");
}
