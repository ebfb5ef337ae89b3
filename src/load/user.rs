//! One virtual user: its connection, variables and random stream; runs tasks until told to stop.

use super::client::{read_body, Connector, Failure};
use super::plan::{render_json, Body, PlannedRequest, PlannedScenario};
use crate::metrics::{FailureKind, Recorder, Sample};
use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1::SendRequest;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// What every user shares: the recorder, the connector and the stop signal.
pub struct Shared {
    /// Where samples go.
    pub recorder: Recorder,
    /// How to open connections.
    pub connector: Connector,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Set when no new request may start.
    pub stopping: AtomicBool,
    /// Requests sent and not yet answered.
    pub in_flight: AtomicU64,
}

/// A virtual user.
pub struct User<'a> {
    shared: &'a Shared,
    scenario: &'a PlannedScenario,
    vars: Vec<Option<String>>,
    rng: SmallRng,
    sender: Option<SendRequest<Full<Bytes>>>,
    uri_buf: String,
    body_buf: Vec<u8>,
}

impl<'a> User<'a> {
    /// A user of `scenario` whose random choices follow `seed`.
    pub fn new(shared: &'a Shared, scenario: &'a PlannedScenario, seed: u64) -> User<'a> {
        User {
            shared,
            scenario,
            vars: scenario.initial.clone(),
            rng: SmallRng::seed_from_u64(seed),
            sender: None,
            uri_buf: String::with_capacity(128),
            body_buf: Vec::new(),
        }
    }

    fn stopping(&self) -> bool {
        self.shared.stopping.load(Ordering::Relaxed)
    }

    /// Runs `on_start`, then tasks with think time until stopped; `on_stop` is left to [`User::stop`].
    pub async fn run(&mut self, mut stop: watch::Receiver<bool>) {
        let s = self.scenario;
        for r in &s.on_start {
            if self.stopping() {
                return;
            }
            if r.needs.iter().all(|&v| self.vars[v].is_some()) {
                self.exec(r).await;
            }
        }
        let total = s.cumulative.last().copied().unwrap_or(0);
        if total == 0 {
            return;
        }
        while !self.stopping() {
            let pick = self.rng.random_range(0..total);
            let idx = s.cumulative.partition_point(|&c| c <= pick);
            let task = &s.tasks[idx];
            if task.needs.iter().all(|&v| self.vars[v].is_some()) {
                self.shared.recorder.record_task(task.id, false);
                for r in &task.requests {
                    if self.stopping() || !r.needs.iter().all(|&v| self.vars[v].is_some()) {
                        break;
                    }
                    self.exec(r).await;
                }
            } else {
                self.shared.recorder.record_task(task.id, true);
            }
            let (lo, hi) = s.think_time;
            let think = if hi > lo {
                Duration::from_nanos(self.rng.random_range(lo.as_nanos() as u64..=hi.as_nanos() as u64))
            } else {
                lo
            };
            if !think.is_zero() {
                tokio::select! {
                    _ = tokio::time::sleep(think) => {}
                    _ = stop.wait_for(|s| *s) => {}
                }
            } else if *stop.borrow() {
                break;
            }
        }
    }

    /// Runs the `on_stop` requests whose variables are set.
    pub async fn stop(&mut self) {
        for r in &self.scenario.on_stop {
            if r.needs.iter().all(|&v| self.vars[v].is_some()) {
                self.exec(r).await;
            }
        }
    }

    /// Sends one request, records it, and applies extractions.
    async fn exec(&mut self, req: &PlannedRequest) {
        let uri = match &req.fixed_uri {
            Some(u) => u.clone(),
            None => {
                self.uri_buf.clear();
                req.uri.render(&self.vars, true, &mut self.uri_buf);
                match self.uri_buf.parse::<hyper::Uri>() {
                    Ok(u) => u,
                    Err(_) => hyper::Uri::from_static("/"),
                }
            }
        };
        let body = match &req.body {
            Body::Empty => Full::new(Bytes::new()),
            Body::Fixed(b) => Full::new(b.clone()),
            Body::Template(v) => Full::new(Bytes::from(
                serde_json::to_vec(&render_json(v, &self.vars)).unwrap_or_default(),
            )),
        };
        let mut request = hyper::Request::new(body);
        *request.method_mut() = req.method.clone();
        *request.uri_mut() = uri;
        *request.headers_mut() = req.headers.clone();
        for (name, text) in &req.var_headers {
            let mut v = String::new();
            text.render(&self.vars, false, &mut v);
            if let Ok(hv) = hyper::header::HeaderValue::from_str(&v) {
                request.headers_mut().insert(name.clone(), hv);
            }
        }
        let keep = req.needs_body();
        let shared = self.shared;
        let start = Instant::now();
        shared.in_flight.fetch_add(1, Ordering::Relaxed);
        let result = tokio::time::timeout(shared.timeout, self.send(request, keep)).await;
        shared.in_flight.fetch_sub(1, Ordering::Relaxed);
        let us = start.elapsed().as_micros() as u64;
        let (status, bytes, failure) = match result {
            Err(_) => {
                self.sender = None;
                (0, 0, Some(FailureKind::Timeout))
            }
            Ok(Err(f)) => {
                self.sender = None;
                (0, 0, Some(f.kind))
            }
            Ok(Ok((status, bytes))) => (status, bytes, self.judge(req, status)),
        };
        shared.recorder.record(&Sample {
            name: req.name,
            us,
            status,
            bytes,
            failure,
        });
    }

    async fn send(&mut self, request: hyper::Request<Full<Bytes>>, keep: bool) -> Result<(u16, u64), Failure> {
        let sender = match &mut self.sender {
            Some(s) if !s.is_closed() => s,
            _ => self.sender.insert(self.shared.connector.connect().await?),
        };
        sender.ready().await.map_err(|e| read_failure(&e))?;
        let resp = sender.send_request(request).await.map_err(|e| read_failure(&e))?;
        let status = resp.status().as_u16();
        let bytes = read_body(resp.into_body(), keep, &mut self.body_buf).await?;
        Ok((status, bytes))
    }

    /// Checks status and JSON, sets extracted variables; returns the failure kind, if any.
    fn judge(&mut self, req: &PlannedRequest, status: u16) -> Option<FailureKind> {
        let ok = if req.expect_status.is_empty() {
            (200..400).contains(&status)
        } else {
            req.expect_status.contains(&status)
        };
        if !ok {
            return Some(FailureKind::Status);
        }
        if !req.needs_body() {
            return None;
        }
        let doc: serde_json::Value = match serde_json::from_slice(&self.body_buf) {
            Ok(d) => d,
            Err(_) => {
                return Some(if req.extract.is_empty() {
                    FailureKind::Check
                } else {
                    FailureKind::Extract
                });
            }
        };
        let mut failure = None;
        for (var, path) in &req.extract {
            match path.find(&doc) {
                Some(serde_json::Value::String(s)) => self.vars[*var] = Some(s.clone()),
                Some(serde_json::Value::Null) | None => failure = Some(FailureKind::Extract),
                Some(v) => self.vars[*var] = Some(v.to_string()),
            }
        }
        if failure.is_none() {
            for (path, want) in &req.expect_json {
                if path.find(&doc) != Some(want) {
                    failure = Some(FailureKind::Check);
                }
            }
        }
        failure
    }
}

fn read_failure(e: &hyper::Error) -> Failure {
    Failure {
        kind: FailureKind::Read,
        detail: e.to_string(),
    }
}
