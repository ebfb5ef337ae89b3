//! One virtual user: its connection per target, variables and random stream; runs tasks until told to stop.
//!
//! In duet mode a user drives two targets (head and base) with the same task and think-time sequence,
//! alternating which target goes first, so both see the same load and the same noise.

use super::client::{Answer, Conn, Connector, Failure};
use super::plan::{render_json, Body, Dynamic, PlannedRequest, PlannedScenario, MAX_LIST};
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
    /// Where load goes: redirects are followed only within it.
    pub base: crate::http::BaseUrl,
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
    /// The next `{counter}` value (from 1).
    pub counter: AtomicU64,
    /// When the run stopped; each user's `on_stop` starts at a seeded point within `stop_spread` of it.
    pub stopped_at: std::sync::OnceLock<Instant>,
    /// Over how long after the stop the users' `on_stop` steps are spread.
    pub stop_spread: Duration,
    /// Redirects followed.
    pub redirects: AtomicU64,
}

/// Which target (head 0, base 1) goes first in duet mode: alternating per request name, so head goes
/// first for half of every name's requests, give or take one.
///
/// Alternating per step instead leaves each name's order to chance (its requests fall on odd or even
/// steps at random), and a duet in rounds repeats the same sequence every round, so the side that
/// went second more often would carry the cost of going second in every round: a bias that the
/// rounds' interval cannot see.
#[derive(Debug, Clone)]
struct Alternation {
    start: bool,
    flips: Vec<bool>,
}

impl Alternation {
    fn new(start: bool) -> Alternation {
        Alternation {
            start,
            flips: Vec::new(),
        }
    }

    /// The order of targets for the next request named `name`.
    fn next(&mut self, name: usize) -> [usize; 2] {
        if self.flips.len() <= name {
            self.flips.resize(name + 1, self.start);
        }
        let flip = &mut self.flips[name];
        *flip = !*flip;
        if *flip {
            [1, 0]
        } else {
            [0, 1]
        }
    }
}

/// A user's state towards one endpoint.
struct Session {
    vars: Vec<Option<String>>,
    /// The lists `extract: {ids[]: ...}` appends to.
    lists: Vec<Vec<String>>,
    conn: Option<Conn>,
}

/// A virtual user.
pub struct User<'a> {
    shared: &'a Shared,
    scenario: &'a PlannedScenario,
    sessions: Vec<Session>,
    rng: SmallRng,
    /// Which target goes first, per request name (duet mode).
    order: Alternation,
    /// The stream of `{uuid}` and `{random_int}`, apart from task choice so using them changes no task.
    fn_rng: SmallRng,
    /// Set while `on_stop` runs: a `for_each` then goes through every item.
    stopping_steps: bool,
    /// The last answer's `Location` when it was a redirect.
    location: Option<String>,
    uri_buf: String,
    /// The request being sent, encoded.
    wire: Vec<u8>,
    json_buf: Vec<u8>,
    body_buf: Vec<u8>,
    /// The request timeout's timer, kept from request to request.
    watchdog: Option<Pin<Box<Sleep>>>,
    /// Whether the last request got no answer (timeout, refused, cut off).
    unanswered: bool,
    /// What the current request wrote and connected.
    io: Io,
}

/// Bytes written and connection time of one request (over its retry, if it had one).
#[derive(Default, Clone, Copy)]
struct Io {
    /// Request bytes written.
    sent: u64,
    /// Time opening a new connection for it, µs; None on a reused one.
    connect_us: Option<u64>,
    /// When the exchange started (the clock `exec` read): the send time of its first request when
    /// that goes out on a connection already open, which saves a clock read per request.
    started: Option<std::time::Instant>,
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
                    lists: vec![Vec::new(); scenario.lists],
                    conn: None,
                })
                .collect(),
            rng: SmallRng::seed_from_u64(seed),
            order: Alternation::new(flip),
            fn_rng: SmallRng::seed_from_u64(seed ^ 0x5EED_F00D_CAFE_D00D),
            stopping_steps: false,
            location: None,
            uri_buf: String::with_capacity(128),
            wire: Vec::with_capacity(512),
            json_buf: Vec::new(),
            body_buf: Vec::new(),
            watchdog: None,
            unanswered: false,
            io: Io::default(),
        }
    }

    /// Binds a data row: each column a request reads becomes a variable of every session.
    pub fn bind(&mut self, row: usize) {
        let Some((vars, rows)) = &self.scenario.data else {
            return;
        };
        let Some(values) = rows.get(row) else { return };
        for s in &mut self.sessions {
            for (var, value) in vars.iter().zip(values) {
                if let Some(v) = var {
                    s.vars[*v] = Some(value.clone());
                }
            }
        }
    }

    fn stopping(&self) -> bool {
        self.shared.stopping.load(Ordering::Relaxed)
    }

    fn has(&self, side: usize, needs: &[usize]) -> bool {
        needs.iter().all(|&v| self.sessions[side].vars[v].is_some())
    }

    /// Sends `r` to every target whose variables it needs are set (with `for_each`, once per item
    /// of its list); `intended` is when the first send was planned.
    async fn step(&mut self, r: &PlannedRequest, intended: Option<Instant>) {
        let n = self.sessions.len();
        if let Some((list, item)) = r.for_each {
            let mut intended = intended;
            for side in self.order.next(r.name) {
                if side >= n {
                    continue;
                }
                let mut items = std::mem::take(&mut self.sessions[side].lists[list]).into_iter();
                while let Some(v) = items.next() {
                    self.sessions[side].vars[item] = Some(v);
                    if self.has(side, &r.needs) {
                        self.exec(r, side, intended.take()).await;
                    }
                    // A task stopped by the run leaves the rest for `on_stop`.
                    if self.stopping() && !self.stopping_steps {
                        let rest: Vec<String> = items.collect();
                        let l = &mut self.sessions[side].lists[list];
                        l.splice(0..0, rest);
                        break;
                    }
                }
                self.sessions[side].vars[item] = None;
            }
            return;
        }
        // The planned time belongs to the first send only: a second target's send starts when the
        // first answered, and charging it the first one's wait would blind a duet comparison.
        let mut intended = intended;
        for side in self.order.next(r.name) {
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

    /// Runs the `on_stop` requests whose variables are set, starting at a seeded point within the
    /// stop spread after the run stopped, so that users do not all send them in the same instant.
    pub async fn stop(&mut self) {
        if self.scenario.on_stop.is_empty() {
            return;
        }
        self.stopping_steps = true;
        let spread = self.shared.stop_spread;
        if let (Some(at), false) = (self.shared.stopped_at.get(), spread.is_zero()) {
            let delay = Duration::from_nanos(self.rng.random_range(0..spread.as_nanos() as u64));
            tokio::time::sleep_until(*at + delay).await;
        }
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
            let send = self.fetch(req, keep, side, start);
            tokio::pin!(send);
            // The timer goes first: a response that is always ready to read (an endless body of tiny
            // chunks) uses up the runtime's budget inside `send`, and a timer polled after it would
            // never see its deadline.
            loop {
                tokio::select! {
                    biased;
                    _ = watchdog.as_mut() => {
                        if Instant::now() >= limit {
                            break Err(());
                        }
                        watchdog.as_mut().reset(limit);
                    }
                    r = &mut send => break Ok(r),
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
        let mut answer = None;
        let (status, bytes, failure) = match result {
            Err(_) => {
                // The request went out before the answer timed out: its bytes count.
                if let Some(c) = self.sessions[side].conn.as_mut() {
                    self.io.sent += c.take_sent();
                }
                self.sessions[side].conn = None;
                (0, 0, Some(FailureKind::Timeout))
            }
            Ok(Err(f)) => {
                // A refused redirect's connection is sound.
                if f.kind != FailureKind::Redirect {
                    self.sessions[side].conn = None;
                }
                if let Some(limit) = f.local {
                    shared.health.local_limit(limit);
                }
                reason = Some(f.detail);
                (0, 0, Some(f.kind))
            }
            Ok(Ok(a)) => {
                answer = Some(a);
                let judged = self.judge(req, a.status, side);
                let failure = judged.as_ref().map(|(k, _)| *k);
                reason = judged.and_then(|(_, why)| why);
                (a.status, a.body, failure)
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
            sent: self.io.sent,
            received: answer.map_or(0, |a| a.received),
            connect_us: self.io.connect_us,
            ttfb_us: answer.map(|a| a.ttfb_us),
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
        let mut dynamic = Dynamic {
            counter: &self.shared.counter,
            rng: &mut self.fn_rng,
        };
        let w = &mut self.wire;
        w.clear();
        w.extend_from_slice(req.method.as_str().as_bytes());
        w.push(b' ');
        match &req.fixed_uri {
            Some(u) => w.extend_from_slice(u.as_bytes()),
            None => {
                self.uri_buf.clear();
                req.uri.render(vars, &mut dynamic, true, &mut self.uri_buf);
                push_target(w, &self.uri_buf);
            }
        }
        w.extend_from_slice(b" HTTP/1.1\r\nhost: ");
        let gate_host = req.host.as_ref().and_then(|t| {
            self.uri_buf.clear();
            t.render(vars, &mut dynamic, false, &mut self.uri_buf);
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
            text.render(vars, &mut dynamic, false, &mut self.uri_buf);
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
                let _ = serde_json::to_writer(&mut self.json_buf, &render_json(v, vars, &mut dynamic));
                &self.json_buf
            }
            Body::Text { text, encode } => {
                self.uri_buf.clear();
                text.render(vars, &mut dynamic, *encode, &mut self.uri_buf);
                self.uri_buf.as_bytes()
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
    /// What was written and connected is left in `self.io` (as far as it got, when the send is cut
    /// off by the timeout; `fetch` resets it, so a redirect's hops add up).
    async fn send(&mut self, method: Method, close: bool, keep: bool, side: usize) -> Result<Answer, Failure> {
        let head = method == Method::Head;
        let connector = &self.shared.endpoints[side].connector;
        let slot = &mut self.sessions[side].conn;
        if slot.as_mut().is_some_and(|c| c.is_closed()) {
            *slot = None;
        }
        let mut retried = false;
        loop {
            let reused = slot.is_some();
            let conn = match slot {
                Some(c) => c,
                None => {
                    let opening = Instant::now();
                    let c = connector.connect().await?;
                    let us = opening.elapsed().as_micros() as u64;
                    // A retry's second connection adds to the first.
                    self.io.connect_us = Some(self.io.connect_us.map_or(us, |u| u + us));
                    slot.insert(c)
                }
            };
            let sent_at = match self.io.started.take() {
                Some(t) if reused => t,
                _ => std::time::Instant::now(),
            };
            let result = conn
                .exchange_at(&self.wire, head, keep, &mut self.body_buf, sent_at)
                .await;
            self.io.sent += conn.take_sent();
            self.location = conn.take_location();
            let retry = result.is_err() && !retried && conn.closed_unanswered() && idempotent(method);
            if result.is_err() || close {
                *slot = None;
            }
            if !retry {
                return result;
            }
            retried = true;
        }
    }

    /// Sends the encoded request and, when it follows redirects, each redirect to the target's own
    /// host (at most [`MAX_REDIRECTS`]) on the same connection: the answer is the last one's, and
    /// its latency covers every hop. A redirect elsewhere fails as `redirect`, naming the location.
    /// `start` is when the exchange began: the first request's send time on a connection already open.
    async fn fetch(
        &mut self,
        req: &PlannedRequest,
        keep: bool,
        side: usize,
        start: Instant,
    ) -> Result<Answer, Failure> {
        self.io = Io {
            started: Some(start.into_std()),
            ..Io::default()
        };
        let mut method = req.method;
        let mut result = self.send(method, req.close, keep, side).await;
        if !req.follow_redirects {
            return result;
        }
        let mut hops = 0;
        while let Ok(Answer { status, .. }) = result {
            if !matches!(status, 301 | 302 | 303 | 307 | 308) {
                break;
            }
            let Some(location) = self.location.take() else { break };
            let refuse = |detail: String| Failure {
                kind: FailureKind::Redirect,
                detail,
                local: None,
            };
            if hops == MAX_REDIRECTS {
                return Err(refuse(format!(
                    "more than {MAX_REDIRECTS} redirects in a row (the last to `{location}`)"
                )));
            }
            let Some(target) = same_host_target(&location, &self.shared.endpoints[side].base, &self.wire) else {
                return Err(refuse(format!(
                    "redirected to `{location}`, not the target's host: perfgate sends load only to the target (or set `follow_redirects: false` to count the {status} as an answer)"
                )));
            };
            // As browsers, requests and k6 do: 303 (and 301/302 after a POST) continue as a GET
            // without the body; 307 and 308 repeat the method and the body.
            let to_get =
                (status == 303 && method != Method::Head) || (matches!(status, 301 | 302) && method == Method::Post);
            if to_get {
                method = Method::Get;
            }
            rewrite_request(&mut self.wire, method.as_str(), &target, to_get);
            hops += 1;
            self.shared.redirects.fetch_add(1, Ordering::Relaxed);
            result = self.send(method, req.close, keep, side).await;
        }
        result
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
        let session = &mut self.sessions[side];
        let vars = &mut session.vars;
        let mut failure = None;
        for (list, path) in &req.append {
            match path.find(&doc) {
                None | Some(serde_json::Value::Null) => {
                    failure = Some((
                        FailureKind::Extract,
                        Some(format!("`{}` is missing from the answer", path.text)),
                    ))
                }
                Some(v) => {
                    let l = &mut session.lists[*list];
                    if l.len() < MAX_LIST {
                        l.push(match v {
                            serde_json::Value::String(s) => s.clone(),
                            v => v.to_string(),
                        });
                    }
                }
            }
        }
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

/// Most redirects followed for one request.
pub const MAX_REDIRECTS: u32 = 10;

/// The request target a redirect to `location` leads to, when it stays on `base`'s scheme, host and
/// port; `wire` is the request that was redirected (for a relative location).
fn same_host_target(location: &str, base: &crate::http::BaseUrl, wire: &[u8]) -> Option<String> {
    if location.starts_with("//") || location.contains("://") {
        let absolute = if location.starts_with("//") {
            format!("{}:{location}", if base.tls { "https" } else { "http" })
        } else {
            location.to_string()
        };
        let uri: hyper::Uri = absolute.parse().ok()?;
        let tls = match uri.scheme_str()?.to_ascii_lowercase().as_str() {
            "http" => false,
            "https" => true,
            _ => return None,
        };
        let host = uri.host()?.trim_start_matches('[').trim_end_matches(']');
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        if tls != base.tls || !host.eq_ignore_ascii_case(&base.host) || port != base.port {
            return None;
        }
        return Some(uri.path_and_query().map_or("/", |p| p.as_str()).to_string());
    }
    if location.starts_with('/') {
        return Some(location.to_string());
    }
    // A relative reference: beside the redirected path.
    let line = wire.split(|&b| b == b'\r').next().unwrap_or(&[]);
    let current = line.split(|&b| b == b' ').nth(1).unwrap_or(b"/");
    let path = current.split(|&b| b == b'?').next().unwrap_or(b"/");
    let dir = &path[..path.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1)];
    Some(format!("{}{location}", String::from_utf8_lossy(dir)))
}

/// Rewrites the encoded request in `wire` for a redirect: the new method and target, the same
/// headers; without the body (and its Content-Length and Content-Type) when `drop_body`.
fn rewrite_request(wire: &mut Vec<u8>, method: &str, target: &str, drop_body: bool) {
    let find = |w: &[u8], pat: &[u8]| w.windows(pat.len()).position(|x| x == pat);
    let (Some(line_end), Some(head_end)) = (find(wire, b"\r\n"), find(wire, b"\r\n\r\n")) else {
        return;
    };
    let mut out = Vec::with_capacity(wire.len());
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    push_target(&mut out, target);
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for line in wire[line_end + 2..head_end + 2].split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let framing = |name: &[u8]| line.len() >= name.len() && line[..name.len()].eq_ignore_ascii_case(name);
        if line.is_empty() || (drop_body && (framing(b"content-length:") || framing(b"content-type:"))) {
            continue;
        }
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !drop_body {
        out.extend_from_slice(&wire[head_end + 4..]);
    }
    *wire = out;
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

#[cfg(test)]
mod tests {
    use super::Alternation;

    #[test]
    fn every_name_alternates_on_its_own_so_head_goes_first_for_half_of_each() {
        // A task mix where one name always falls on the same step parity: alternating per step
        // would put head first for every `GET /a` and never for `GET /b`.
        let mut order = Alternation::new(false);
        let mut head_first = [0usize; 2];
        let mut seen = [0usize; 2];
        for i in 0..1000 {
            let name = i % 2;
            seen[name] += 1;
            if order.next(name) == [0, 1] {
                head_first[name] += 1;
            }
        }
        assert_eq!(seen, [500, 500]);
        assert_eq!(head_first, [250, 250]);
        // An odd count leaves one name one request off half, no more.
        let mut order = Alternation::new(true);
        let firsts = (0..7).filter(|_| order.next(3) == [0, 1]).count();
        assert_eq!(firsts, 4);
    }
}
