//! The live view's HTTP server (axum): the page, its server-sent events, the history and the
//! downloads; in `perfgate ui` also the controls. Every request is checked before it is served:
//! the Host header on a loopback bind, the token on any other, and the token on every POST.

use super::state::Feed;
use super::token;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::mpsc;

/// The page, with its script and style inline.
pub const PAGE: &str = include_str!("page.html");

/// The header (or query parameter, `token`) that carries the token.
pub const TOKEN_HEADER: &str = "x-perfgate-token";

/// A control from the page of `perfgate ui`.
#[derive(Debug, Clone, PartialEq)]
pub enum Control {
    /// Start a run with these settings.
    Start(StartForm),
    /// Stop the run.
    Stop,
    /// Ramp to this many users at the spawn rate.
    Users(u32),
    /// Clear the numbers so far (the run goes on).
    Reset,
    /// Judge the numbers so far against the gate's targets.
    Judge,
}

/// The form of `perfgate ui`.
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize)]
pub struct StartForm {
    /// Users.
    pub users: Option<u32>,
    /// Users started per second.
    pub spawn_rate: Option<f64>,
    /// Base URL (empty: the gate's).
    #[serde(default)]
    pub host: String,
    /// Scenario names, comma separated (empty: the gate's selection).
    #[serde(default)]
    pub scenarios: String,
    /// Run time, e.g. `5m` (empty: until stopped, up to the maximum).
    #[serde(default)]
    pub run_time: String,
}

#[derive(Clone)]
struct App {
    feed: Feed,
    token: Arc<str>,
    /// Loopback bind: requests must name a loopback host (against DNS rebinding); others need the token.
    loopback: bool,
    port: u16,
    controls: Option<mpsc::Sender<Control>>,
}

/// The running server: its address and the token; dropped, it stops serving.
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The token that POSTs (and, off loopback, every request) carry.
    pub token: String,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// The page's URL; with the token when the bind is not loopback.
    pub fn url(&self) -> String {
        let host = match self.addr {
            SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
            a => a.to_string(),
        };
        if self.addr.ip().is_loopback() {
            format!("http://{host}/")
        } else {
            format!("http://{host}/?token={}", self.token)
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Listens on `addr` and serves `feed`; `token` is needed off loopback (None: one is generated);
/// `controls` receives the page's controls (`perfgate ui`; None: a read-only view).
pub async fn start(
    addr: SocketAddr,
    token: Option<String>,
    feed: Feed,
    controls: Option<mpsc::Sender<Control>>,
) -> Result<Server, String> {
    let token = match token {
        Some(t) if t.len() < 16 => {
            return Err(format!(
                "--web-token is {} characters long; give at least 16 (or leave it out and one is generated)",
                t.len()
            ))
        }
        Some(t) => t,
        None => token::generate()?,
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr} for --web: {e}; give another address, e.g. --web 127.0.0.1:0"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot read the --web address: {e}"))?;
    let app = App {
        feed,
        token: token.clone().into(),
        loopback: addr.ip().is_loopback(),
        port: addr.port(),
        controls,
    };
    let router = Router::new()
        .route("/", get(page))
        .route("/events", get(events))
        .route("/history", get(history))
        .route("/report", get(report))
        .route("/results.json", get(results))
        .route("/csv/{name}", get(csv))
        .route("/control/{action}", post(control))
        .layer(axum::middleware::from_fn_with_state(app.clone(), guard))
        .with_state(app);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(Server { addr, token, task })
}

/// The checks every request passes before it is served.
async fn guard(State(app): State<App>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    if app.loopback && !loopback_host(headers, app.port) {
        return (
            StatusCode::FORBIDDEN,
            "this view answers to a loopback host name only\n",
        )
            .into_response();
    }
    let given = headers
        .get(TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| query_token(req.uri().query()));
    let has_token = given.as_deref().is_some_and(|g| token::matches(g, &app.token));
    if req.method() != Method::GET && req.method() != Method::HEAD && !has_token {
        return (StatusCode::FORBIDDEN, "a POST needs the page's token\n").into_response();
    }
    if !app.loopback && !has_token {
        return (
            StatusCode::FORBIDDEN,
            "this view needs its token: open the URL perfgate printed\n",
        )
            .into_response();
    }
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    res
}

/// Whether the Host header names this port on a loopback name.
fn loopback_host(headers: &HeaderMap, port: u16) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let p = port.to_string();
    ["127.0.0.1", "localhost", "[::1]"]
        .iter()
        .any(|name| host.strip_prefix(name).and_then(|r| r.strip_prefix(':')) == Some(p.as_str()))
}

fn query_token(query: Option<&str>) -> Option<String> {
    query?
        .split('&')
        .find_map(|kv| kv.strip_prefix("token="))
        .map(str::to_string)
}

async fn page(State(app): State<App>) -> Response {
    let html = PAGE
        .replace("__PERFGATE_TOKEN__", &app.token)
        .replace("__PERFGATE_UI__", if app.controls.is_some() { "true" } else { "false" });
    let mut res = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
    // Nothing outside this server: no CDN, no font, no other origin to talk to.
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; form-action 'none'; frame-ancestors 'none'",
        ),
    );
    res
}

async fn events(State(app): State<App>) -> impl IntoResponse {
    let mut rx = app.feed.subscribe();
    rx.mark_changed();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.changed().await.ok()?;
        let data = rx.borrow_and_update().clone();
        Some((Ok::<_, Infallible>(Event::default().data(&*data)), rx))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

async fn history(State(app): State<App>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], app.feed.history()).into_response()
}

fn download(body: Option<Arc<str>>, content_type: &'static str, file: &str) -> Response {
    match body {
        Some(b) => {
            let disposition = format!("inline; filename=\"{file}\"");
            let mut res = Response::new(Body::from(b.to_string()));
            res.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            if let Ok(v) = HeaderValue::from_str(&disposition) {
                res.headers_mut().insert(header::CONTENT_DISPOSITION, v);
            }
            res
        }
        None => (StatusCode::NOT_FOUND, "not yet: the run has not ended\n").into_response(),
    }
}

async fn report(State(app): State<App>) -> Response {
    download(app.feed.downloads().html, "text/html; charset=utf-8", "report.html")
}

async fn results(State(app): State<App>) -> Response {
    download(app.feed.downloads().results, "application/json", "results.json")
}

async fn csv(State(app): State<App>, axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    let body = app
        .feed
        .downloads()
        .csv
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, b)| b);
    download(body, "text/csv; charset=utf-8", &name)
}

async fn control(
    State(app): State<App>,
    axum::extract::Path(action): axum::extract::Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let Some(tx) = &app.controls else {
        return (
            StatusCode::NOT_FOUND,
            "this view is read-only (perfgate ui has controls)\n",
        )
            .into_response();
    };
    let c = match action.as_str() {
        "start" => match serde_json::from_slice::<StartForm>(&body) {
            Ok(f) => Control::Start(f),
            Err(e) => return (StatusCode::BAD_REQUEST, format!("bad form: {e}\n")).into_response(),
        },
        "stop" => Control::Stop,
        "reset" => Control::Reset,
        "judge" => Control::Judge,
        "users" => match std::str::from_utf8(&body).ok().and_then(|s| s.trim().parse().ok()) {
            Some(n) => Control::Users(n),
            None => return (StatusCode::BAD_REQUEST, "give the user count as the body\n").into_response(),
        },
        _ => return (StatusCode::NOT_FOUND, "no such control\n").into_response(),
    };
    match tx.try_send(c) {
        Ok(()) => (StatusCode::ACCEPTED, "ok\n").into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "busy: try again\n").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_names_on_this_port_pass_the_host_check() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::HOST, HeaderValue::from_str(v).unwrap());
            m
        };
        assert!(loopback_host(&h("127.0.0.1:8089"), 8089));
        assert!(loopback_host(&h("localhost:8089"), 8089));
        assert!(loopback_host(&h("[::1]:8089"), 8089));
        assert!(!loopback_host(&h("evil.example:8089"), 8089));
        assert!(!loopback_host(&h("127.0.0.1:8090"), 8089));
        assert!(!loopback_host(&h("127.0.0.1.evil:8089"), 8089));
        assert!(!loopback_host(&HeaderMap::new(), 8089));
        assert_eq!(query_token(Some("a=1&token=xyz")), Some("xyz".into()));
        assert_eq!(query_token(None), None);
    }
}
