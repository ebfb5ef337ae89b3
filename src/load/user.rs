//! One virtual user: its connection per target, variables and random stream; runs tasks until told to stop.
//!
//! In duet mode a user drives two targets (head and base) with the same task and think-time sequence,
//! alternating which target goes first, so both see the same load and the same noise.

use super::client::{Conn, Connector, Failure};
use super::plan::{render_json, Body, PlannedRequest, PlannedScenario};
use crate::http::Method;
use crate::metrics::health::Health;
use crate::metrics::{FailureKind, Recorder, Sample};
use hyper::header::HeaderValue;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::io::Write;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};

/// One service under load as the users see it: where to connect, its Host header, and where its samples go.
pub struct Endpoint {
    /// Where samples go.
    pub recorder: Recorder,
    /// How to open connections.
    pub connector: Connector,
    /// The Host header value.
    pub host: HeaderValue,
}

/// What every user shares: the endpoints, the stop signal and the generator's health counters.
pub struct Shared {
    /// Head first; in duet mode base second.
    pub endpoints: Vec<Endpoint>,
    /// How late planned sends started.
    pub health: Health,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Set when no new request may start.
    pub stopping: AtomicBool,
    /// Requests sent and not yet answered.
    pub in_flight: AtomicU64,
}

/// A user's state towards one endpoint.
struct Session {
    vars: Vec<Option<String>>,
    conn: Option<Conn>,
}

/// A virtual user.
pub struct User<'a> {
    shared: &'a Shared,
    scenario: &'a PlannedScenario,
    sessions: Vec<Session>,
    rng: SmallRng,
    flip: bool,
    uri_buf: String,
    /// The request being sent, encoded.
    wire: Vec<u8>,
    json_buf: Vec<u8>,
    body_buf: Vec<u8>,
    /// The request timeout's timer, kept from request to request.
    watchdog: Option<Pin<Box<Sleep>>>,
    /// Whether the last request got no answer (timeout, refused, cut off).
    unanswered: bool,
}

impl<'a> User<'a> {
    /// A user of `scenario` whose random choices follow `seed`; `flip` picks which target goes first.
    pub fn new(shared: &'a Shared, scenario: &'a PlannedScenario, seed: u64, flip: bool) -> User<'a> {
        User {
            shared,
            scenario,
            sessions: shared
                .endpoints
                .iter()
                .map(|_| Session {
                    vars: scenario.initial.clone(),
                    conn: None,
                })
                .collect(),
            rng: SmallRng::seed_from_u64(seed),
            flip,
            uri_buf: String::with_capacity(128),
            wire: Vec::with_capacity(512),
            json_buf: Vec::new(),
            body_buf: Vec::new(),
            watchdog: None,
            unanswered: false,
        }
    }

    fn stopping(&self) -> bool {
        self.shared.stopping.load(Ordering::Relaxed)
    }

    fn has(&self, side: usize, needs: &[usize]) -> bool {
        needs.iter().all(|&v| self.sessions[side].vars[v].is_some())
    }

    /// The order of targets for the next step: alternating in duet mode.
    fn order(&mut self) -> [usize; 2] {
        self.flip = !self.flip;
        if self.flip {
            [1, 0]
        } else {
            [0, 1]
        }
    }

    /// Sends `r` to every target whose variables it needs are set; `intended` is when the first send was planned.
    async fn step(&mut self, r: &PlannedRequest, intended: Option<Instant>) {
        let n = self.sessions.len();
        // The planned time belongs to the first send only: a second target's send starts when the
        // first answered, and charging it the first one's wait would blind a duet comparison.
        let mut intended = intended;
        for side in self.order() {
            if side < n && self.has(side, &r.needs) {
                self.exec(r, side, intended.take()).await;
            }
        }
    }

    /// Runs the `on_start` requests; false when stopped meanwhile.
    pub async fn start(&mut self) -> bool {
        for r in &self.scenario.on_start {
            if self.stopping() {
                return false;
            }
            self.step(r, None).await;
        }
        true
    }

    /// Picks a task by weight and runs it; its first send was planned for `intended`.
    pub async fn task(&mut self, intended: Option<Instant>) {
        // An arrival taken after the stop is not a run: nothing would be sent.
        if self.stopping() {
            return;
        }
        let s = self.scenario;
        let total = s.cumulative.last().copied().unwrap_or(0);
        if total == 0 {
            return;
        }
        let pick = self.rng.random_range(0..total);
        let idx = s.cumulative.partition_point(|&c| c <= pick);
        let task = &s.tasks[idx];
        let mut runs = false;
        for side in 0..self.sessions.len() {
            let ok = self.has(side, &task.needs);
            self.shared.endpoints[side].recorder.record_task(task.id, !ok);
            runs |= ok;
        }
        if runs {
            let mut intended = intended;
            for r in &task.requests {
                if self.stopping() {
                    break;
                }
                self.step(r, intended.take()).await;
            }
        }
    }

    /// The closed model: `on_start`, then tasks with think time until stopped; `on_stop` is left to [`User::stop`].
    pub async fn run(&mut self, mut stop: watch::Receiver<bool>) {
        if !self.start().await {
            return;
        }
        let s = self.scenario;
        if s.tasks.is_empty() {
            return;
        }
        while !self.stopping() && !*stop.borrow() {
            // The closed model measures from the actual send, as Locust does: a user that woke late
            // only thought longer; the lateness is the generator's and goes to its health counters.
            self.task(None).await;
            let (lo, hi) = s.think_time;
            let think = if hi > lo {
                Duration::from_nanos(self.rng.random_range(lo.as_nanos() as u64..=hi.as_nanos() as u64))
            } else {
                lo
            };
            if !think.is_zero() {
                let wake = Instant::now() + think;
                tokio::select! {
                    _ = tokio::time::sleep_until(wake) => {
                        let lag = Instant::now().saturating_duration_since(wake);
                        self.shared.health.planned_send_after(lag, self.unanswered);
                    }
                    // This user's stop (the run's, or a ramp down): no further task.
                    _ = stop.wait_for(|s| *s) => break,
                }
            } else if *stop.borrow() {
                break;
            }
        }
    }

    /// Runs the `on_stop` requests whose variables are set.
    pub async fn stop(&mut self) {
        for r in &self.scenario.on_stop {
            self.step(r, None).await;
        }
    }

    /// Sends one request to one target, records it, and applies extractions. With `intended`, latency
    /// counts from that planned time (no coordinated omission) and the service time is kept apart.
    async fn exec(&mut self, req: &PlannedRequest, side: usize, intended: Option<Instant>) {
        self.encode(req, side);
        let target = &self.shared.endpoints[side];
        let keep = req.needs_body();
        let shared = self.shared;
        let start = Instant::now();
        shared.in_flight.fetch_add(1, Ordering::Relaxed);
        let limit = start + shared.timeout;
        // One timer per user, re-armed lazily: it stays set for an earlier request (so at or before this
        // one's limit) and, when it fires early, is moved to this request's limit. Most requests touch
        // no timer at all.
        let mut watchdog = self
            .watchdog
            .take()
            .unwrap_or_else(|| Box::pin(tokio::time::sleep_until(limit)));
        if watchdog.deadline() < start {
            watchdog.as_mut().reset(limit);
        }
        let result = {
            let send = self.send(req, keep, side);
            tokio::pin!(send);
            loop {
                tokio::select! {
                    biased;
                    r = &mut send => break Ok(r),
                    _ = watchdog.as_mut() => {
                        if Instant::now() >= limit {
                            break Err(());
                        }
                        watchdog.as_mut().reset(limit);
                    }
                }
            }
        };
        self.watchdog = Some(watchdog);
        shared.in_flight.fetch_sub(1, Ordering::Relaxed);
        let service_us = start.elapsed().as_micros() as u64;
        let us = intended
            .map_or(service_us, |t| t.elapsed().as_micros() as u64)
            .max(service_us);
        let mut reason = None;
        let (status, bytes, failure) = match result {
            Err(_) => {
                self.sessions[side].conn = None;
                (0, 0, Some(FailureKind::Timeout))
            }
            Ok(Err(f)) => {
                self.sessions[side].conn = None;
                if let Some(limit) = f.local {
                    shared.health.local_limit(limit);
                }
                reason = Some(f.detail);
                (0, 0, Some(f.kind))
            }
            Ok(Ok((status, bytes))) => {
                let judged = self.judge(req, status, side);
                let failure = judged.as_ref().map(|(k, _)| *k);
                reason = judged.and_then(|(_, why)| why);
                (status, bytes, failure)
            }
        };
        self.unanswered = matches!(
            failure,
            Some(FailureKind::Timeout | FailureKind::Connect | FailureKind::Read)
        );
        let sample = Sample {
            name: req.name,
            us,
            status,
            bytes,
            failure,
            service_us,
        };
        match &reason {
            // The client's own words, kept per reason (the stats, the failures CSV and the reports).
            Some(why) => target.recorder.record_failed(&sample, why),
            None => target.recorder.record(&sample),
        }
    }

    /// Encodes `req` for `side` into the wire buffer: request line, Host, headers, Content-Length, body.
    fn encode(&mut self, req: &PlannedRequest, side: usize) {
        let vars = &self.sessions[side].vars;
        let w = &mut self.wire;
        w.clear();
        w.extend_from_slice(req.method.as_str().as_bytes());
        w.push(b' ');
        match &req.fixed_uri {
            Some(u) => w.extend_from_slice(u.as_bytes()),
            None => {
                self.uri_buf.clear();
                req.uri.render(vars, true, &mut self.uri_buf);
                push_target(w, &self.uri_buf);
            }
        }
        w.extend_from_slice(b" HTTP/1.1\r\nhost: ");
        let gate_host = req.host.as_ref().and_then(|t| {
            self.uri_buf.clear();
            t.render(vars, false, &mut self.uri_buf);
            (!self.uri_buf.is_empty() && valid_header_value(&self.uri_buf)).then_some(())
        });
        match gate_host {
            // The gate's virtual host.
            Some(()) => w.extend_from_slice(self.uri_buf.as_bytes()),
            None => w.extend_from_slice(self.shared.endpoints[side].host.as_bytes()),
        }
        w.extend_from_slice(b"\r\n");
        w.extend_from_slice(&req.fixed_headers);
        for (name, text) in &req.var_headers {
            self.uri_buf.clear();
            text.render(vars, false, &mut self.uri_buf);
            // A value that is not valid in a header (a line break from a variable) is left out.
            if valid_header_value(&self.uri_buf) {
                w.extend_from_slice(name.as_str().as_bytes());
                w.extend_from_slice(b": ");
                w.extend_from_slice(self.uri_buf.as_bytes());
                w.extend_from_slice(b"\r\n");
            }
        }
        let body: &[u8] = match &req.body {
            Body::Empty => &[],
            Body::Fixed(b) => b,
            Body::Template(v) => {
                self.json_buf.clear();
                let _ = serde_json::to_writer(&mut self.json_buf, &render_json(v, vars));
                &self.json_buf
            }
        };
        if !body.is_empty() || matches!(req.method, Method::Post | Method::Put | Method::Patch) {
            let _ = write!(w, "content-length: {}\r\n", body.len());
        }
        w.extend_from_slice(b"\r\n");
        w.extend_from_slice(body);
    }

    /// Sends the encoded request on the side's connection (opened when there is none) and reads the
    /// answer. An idempotent request that a reused connection lost before any answer came back (the
    /// server closed it as the request left) is sent once more on a new connection.
    async fn send(&mut self, req: &PlannedRequest, keep: bool, side: usize) -> Result<(u16, u64), Failure> {
        let head = req.method == Method::Head;
        let connector = &self.shared.endpoints[side].connector;
        let slot = &mut self.sessions[side].conn;
        if slot.as_mut().is_some_and(|c| c.is_closed()) {
            *slot = None;
        }
        let mut retried = false;
        loop {
            let conn = match slot {
                Some(c) => c,
                None => slot.insert(connector.connect().await?),
            };
            let result = conn.exchange(&self.wire, head, keep, &mut self.body_buf).await;
            let retry = result.is_err() && !retried && conn.closed_unanswered() && idempotent(req.method);
            if result.is_err() || req.close {
                *slot = None;
            }
            if !retry {
                return result;
            }
            retried = true;
        }
    }

    /// Checks status and JSON, sets extracted variables; returns the failure kind, if any.
    /// Whether the answer fails the request's expectations: the kind, and why in words (status
    /// failures are counted by status instead).
    fn judge(&mut self, req: &PlannedRequest, status: u16, side: usize) -> Option<(FailureKind, Option<String>)> {
        let ok = if req.expect_status.is_empty() {
            (200..400).contains(&status)
        } else {
            req.expect_status.contains(&status)
        };
        if !ok {
            return Some((FailureKind::Status, None));
        }
        if !req.needs_body() {
            return None;
        }
        let doc: serde_json::Value = match serde_json::from_slice(&self.body_buf) {
            Ok(d) => d,
            Err(_) => {
                let kind = if req.extract.is_empty() {
                    FailureKind::Check
                } else {
                    FailureKind::Extract
                };
                return Some((kind, Some(not_json(&self.body_buf))));
            }
        };
        let vars = &mut self.sessions[side].vars;
        let mut failure = None;
        for (var, path) in &req.extract {
            match path.find(&doc) {
                Some(serde_json::Value::String(s)) => vars[*var] = Some(s.clone()),
                Some(serde_json::Value::Null) => {
                    failure = Some((
                        FailureKind::Extract,
                        Some(format!("`{}` is null in the answer", path.text)),
                    ))
                }
                None => {
                    failure = Some((
                        FailureKind::Extract,
                        Some(format!("`{}` is missing from the answer", path.text)),
                    ))
                }
                Some(v) => vars[*var] = Some(v.to_string()),
            }
        }
        if failure.is_none() {
            for (path, want) in &req.expect_json {
                let found = path.find(&doc);
                if found != Some(want) {
                    let found = match found {
                        Some(v) => short(&v.to_string()),
                        None => "missing".into(),
                    };
                    failure = Some((
                        FailureKind::Check,
                        Some(format!(
                            "`{}` is {found}, expected {}",
                            path.text,
                            short(&want.to_string())
                        )),
                    ));
                }
            }
        }
        failure
    }
}

/// Why a body is not JSON, in words that say what it is instead.
fn not_json(body: &[u8]) -> String {
    let start = body.trim_ascii_start();
    if body.starts_with(&[0x1f, 0x8b]) {
        "the answer is gzip-compressed, not JSON (perfgate does not decompress: leave out Accept-Encoding)".into()
    } else if start.is_empty() {
        "the answer's body is empty, not JSON".into()
    } else if start.starts_with(b"<") {
        "the answer is HTML or XML, not JSON".into()
    } else {
        "the answer is not JSON".into()
    }
}

/// A value cut to 40 characters for a failure reason.
fn short(s: &str) -> String {
    if s.chars().count() <= 40 {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(40).collect::<String>())
    }
}

/// Appends a rendered request target, percent-encoding any byte that may not appear in one; a
/// fragment (`#...`) is the client's and is left out.
fn push_target(w: &mut Vec<u8>, target: &str) {
    let target = target.split('#').next().unwrap_or("");
    if target.is_empty() {
        w.push(b'/');
    }
    for &b in target.as_bytes() {
        if (0x21..0x7f).contains(&b) {
            w.push(b);
        } else {
            w.extend_from_slice(&[b'%', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
        }
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Whether `v` may be sent as a header value: no control character but tab (as `HeaderValue` checks).
fn valid_header_value(v: &str) -> bool {
    v.bytes().all(|b| (b >= 0x20 && b != 0x7f) || b == b'\t')
}

/// Methods that may be sent twice with the effect of once (RFC 9110 9.2.2).
fn idempotent(m: Method) -> bool {
    matches!(
        m,
        Method::Get | Method::Head | Method::Put | Method::Delete | Method::Options
    )
}
