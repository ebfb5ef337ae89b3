//! The recorder: per-worker shards that users write to without sharing a lock, merged each second.

use super::hist::Hist;
use super::results::{
    add_reason, Connects, Cumulative, NamePoint, Phases, Reason, SeriesPoint, Stats, LOCUST_PERCENTILES,
};
use super::FailureKind;
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// Which part of the run a sample belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Users are still being spawned.
    RampUp = 0,
    /// Every user is running.
    Steady = 1,
}

/// One completed request as the engine reports it.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Index of the request name.
    pub name: usize,
    /// Latency, µs.
    pub us: u64,
    /// Status code (0: no answer).
    pub status: u16,
    /// Response body bytes received.
    pub bytes: u64,
    /// Why it failed, if it did.
    pub failure: Option<FailureKind>,
    /// Time from the actual send (equals `us` unless the send was late against its plan).
    pub service_us: u64,
    /// Request bytes written.
    pub sent: u64,
    /// Response bytes read (head and body); 0 without an answer.
    pub received: u64,
    /// Time to open the connection this request opened, µs; None when it reused one.
    pub connect_us: Option<u64>,
    /// Time from the request's send to the first byte of its answer, µs; None without an answer.
    pub ttfb_us: Option<u64>,
}

#[derive(Clone)]
struct Acc {
    bytes: u64,
    requests: u64,
    failures: u64,
    sum_us: u64,
    min_us: u64,
    max_us: u64,
    by_kind: [u64; FailureKind::ALL.len()],
    status: Vec<(u16, u64)>,
    failed_status: Vec<(u16, u64)>,
    reasons: Vec<Reason>,
    hist: Hist,
    /// Service time (from the actual send), kept apart in the open model only.
    service: Option<Hist>,
    sent: u64,
    received: u64,
    connects: Connects,
    /// Time to first byte, at 2 significant digits (a tenth of `hist`'s memory).
    ttfb: Hist,
}

impl Default for Acc {
    fn default() -> Acc {
        Acc {
            bytes: 0,
            requests: 0,
            failures: 0,
            sum_us: 0,
            min_us: 0,
            max_us: 0,
            by_kind: [0; FailureKind::ALL.len()],
            status: Vec::new(),
            failed_status: Vec::new(),
            reasons: Vec::new(),
            hist: Hist::new(),
            service: None,
            sent: 0,
            received: 0,
            connects: Connects::default(),
            ttfb: Hist::coarse(),
        }
    }
}

impl Acc {
    #[inline]
    fn record(&mut self, x: &Sample) {
        let (us, status, failure) = (x.us, x.status, x.failure);
        self.bytes += x.bytes;
        self.sent += x.sent;
        self.received += x.received;
        if let Some(c) = x.connect_us {
            self.connects.count += 1;
            self.connects.sum_us += c;
            self.connects.max_us = self.connects.max_us.max(c);
        }
        if let Some(t) = x.ttfb_us {
            self.ttfb.record(t);
        }
        self.min_us = if self.requests == 0 { us } else { self.min_us.min(us) };
        self.max_us = self.max_us.max(us);
        self.requests += 1;
        self.sum_us += us;
        if let Some(k) = failure {
            self.failures += 1;
            self.by_kind[k.index()] += 1;
            if k == FailureKind::Status {
                bump(&mut self.failed_status, status);
            }
        }
        if status != 0 {
            bump(&mut self.status, status);
        }
        self.hist.record(us);
        if let Some(svc) = &mut self.service {
            svc.record(x.service_us);
        }
    }

    fn drain_into(&mut self, out: &mut Stats) {
        if self.requests == 0 {
            return;
        }
        let mut s = Stats {
            requests: self.requests,
            failures: self.failures,
            sum_us: self.sum_us,
            min_us: self.min_us,
            max_us: self.max_us,
            bytes: self.bytes,
            bytes_sent: self.sent,
            bytes_received: self.received,
            connects: self.connects,
            ttfb_histogram: (!self.ttfb.0.is_empty()).then(|| self.ttfb.clone()),
            ..Stats::default()
        };
        for k in FailureKind::ALL {
            if self.by_kind[k.index()] > 0 {
                s.failures_by_kind.insert(k, self.by_kind[k.index()]);
            }
        }
        for (code, n) in &self.status {
            s.status_codes.insert(*code, *n);
        }
        for (code, n) in &self.failed_status {
            s.failed_statuses.insert(*code, *n);
        }
        std::mem::swap(&mut s.failure_reasons, &mut self.reasons);
        std::mem::swap(&mut s.histogram, &mut self.hist);
        s.service_histogram = self.service.take();
        out.merge(&s);
        // Keep the (grown) histogram allocations for the next interval.
        std::mem::swap(&mut s.histogram, &mut self.hist);
        self.hist.0.reset();
        self.service = s.service_histogram.take().map(|mut h| {
            h.0.reset();
            h
        });
        self.ttfb.0.reset();
        self.sent = 0;
        self.received = 0;
        self.connects = Connects::default();
        self.requests = 0;
        self.bytes = 0;
        self.failures = 0;
        self.sum_us = 0;
        self.min_us = 0;
        self.max_us = 0;
        self.by_kind = [0; FailureKind::ALL.len()];
        self.status.clear();
        self.failed_status.clear();
        self.reasons.clear();
    }
}

#[inline]
fn bump(counts: &mut Vec<(u16, u64)>, status: u16) {
    match counts.iter_mut().find(|(s, _)| *s == status) {
        Some((_, n)) => *n += 1,
        None => counts.push((status, 1)),
    }
}

struct Shard {
    /// `[phase][name]` accumulators of the current interval.
    acc: [Vec<Acc>; 2],
    /// `[task] = (runs, skipped)` since the last collection.
    tasks: Vec<(u64, u64)>,
}

/// Collects samples from every user; owned by the engine, shared by reference.
pub struct Recorder {
    names: Vec<String>,
    shards: Box<[Mutex<Shard>]>,
    totals: Mutex<Totals>,
    ramping: AtomicBool,
    start: Instant,
}

struct Totals {
    phases: Vec<Phases>,
    tasks: Vec<(u64, u64)>,
    series: Vec<SeriesPoint>,
    cumulative: Stats,
    last_t: f64,
    /// The latest interval, also past `MAX_SERIES`.
    latest: Option<SeriesPoint>,
}

static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);
thread_local! {
    static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// Most intervals kept in the series (one hour at one per second); later ones are dropped.
pub const MAX_SERIES: usize = 3600;

impl Recorder {
    /// A recorder for these request names and `tasks` task counters, with one shard per worker thread;
    /// `service` keeps service times apart from latencies (the open model).
    pub fn new(names: Vec<String>, tasks: usize, workers: usize, start: Instant, service: bool) -> Recorder {
        let acc = Acc {
            service: service.then(Hist::new),
            ..Acc::default()
        };
        let shard = || {
            Mutex::new(Shard {
                acc: [vec![acc.clone(); names.len()], vec![acc.clone(); names.len()]],
                tasks: vec![(0, 0); tasks],
            })
        };
        let shards = (0..workers.max(1) + 1).map(|_| shard()).collect();
        Recorder {
            totals: Mutex::new(Totals {
                phases: vec![Phases::default(); names.len()],
                tasks: vec![(0, 0); tasks],
                series: Vec::new(),
                cumulative: Stats::default(),
                last_t: 0.0,
                latest: None,
            }),
            names,
            shards,
            ramping: AtomicBool::new(true),
            start,
        }
    }

    /// Request names, indexed as samples name them.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Marks the end of the ramp-up: later samples count as steady.
    pub fn end_ramp_up(&self) {
        self.ramping.store(false, Ordering::Relaxed);
    }

    fn shard(&self) -> &Mutex<Shard> {
        let idx = SHARD.with(|c| {
            if c.get() == usize::MAX {
                c.set(NEXT_SHARD.fetch_add(1, Ordering::Relaxed));
            }
            c.get()
        });
        &self.shards[idx % self.shards.len()]
    }

    /// Records one completed request.
    #[inline]
    pub fn record(&self, sample: &Sample) {
        let phase = if self.ramping.load(Ordering::Relaxed) { 0 } else { 1 };
        let mut shard = self.shard().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(acc) = shard.acc[phase].get_mut(sample.name) {
            acc.record(sample);
        }
    }

    /// Records one failed request with the client's reason for it.
    pub fn record_failed(&self, sample: &Sample, reason: &str) {
        let phase = if self.ramping.load(Ordering::Relaxed) { 0 } else { 1 };
        let mut shard = self.shard().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(acc) = shard.acc[phase].get_mut(sample.name) {
            acc.record(sample);
            if let Some(kind) = sample.failure {
                add_reason(&mut acc.reasons, kind, reason, 1);
            }
        }
    }

    /// Counts a task run, or a skip when a variable it needs is unset.
    #[inline]
    pub fn record_task(&self, task: usize, skipped: bool) {
        let mut shard = self.shard().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = shard.tasks.get_mut(task) {
            if skipped {
                t.1 += 1
            } else {
                t.0 += 1
            }
        }
    }

    /// Closes the current interval: merges every shard into the totals and appends a series point.
    pub fn collect(&self, users: u32) {
        let now = self.start.elapsed().as_secs_f64();
        let ramp_up = self.ramping.load(Ordering::Relaxed);
        let n = self.names.len();
        let mut interval: Vec<[Stats; 2]> = vec![[Stats::default(), Stats::default()]; n];
        let mut tasks = Vec::new();
        for shard in self.shards.iter() {
            let mut s = shard.lock().unwrap_or_else(|e| e.into_inner());
            for (phase, accs) in s.acc.iter_mut().enumerate() {
                for (i, acc) in accs.iter_mut().enumerate() {
                    acc.drain_into(&mut interval[i][phase]);
                }
            }
            if tasks.is_empty() {
                tasks = vec![(0u64, 0u64); s.tasks.len()];
            }
            for (i, t) in s.tasks.iter_mut().enumerate() {
                tasks[i].0 += t.0;
                tasks[i].1 += t.1;
                *t = (0, 0);
            }
        }
        let mut totals = self.totals.lock().unwrap_or_else(|e| e.into_inner());
        let mut all = Stats::default();
        let mut names = Vec::new();
        for (i, [ramp, steady]) in interval.iter().enumerate() {
            totals.phases[i].ramp_up.merge(ramp);
            totals.phases[i].steady.merge(steady);
            let mut both = ramp.clone();
            both.merge(steady);
            if both.requests > 0 {
                names.push(NamePoint {
                    name: self.names[i].clone(),
                    requests: both.requests,
                    failures: both.failures,
                    p50_ms: both.quantile_ms(0.5),
                    p95_ms: both.quantile_ms(0.95),
                    p99_ms: both.quantile_ms(0.99),
                    sum_us: both.sum_us,
                    hist: super::coarse::Coarse::of(&both.histogram).encode(),
                });
                all.merge(&both);
            }
        }
        for (i, t) in tasks.iter().enumerate() {
            totals.tasks[i].0 += t.0;
            totals.tasks[i].1 += t.1;
        }
        let dt = now - totals.last_t;
        totals.last_t = now;
        totals.cumulative.merge(&all);
        let c = &totals.cumulative;
        let cumulative = Cumulative {
            requests: c.requests,
            failures: c.failures,
            p50_ms: c.quantile_ms(0.5),
            avg_ms: c.mean_ms(),
            min_ms: c.min_us as f64 / 1000.0,
            max_ms: c.max_us as f64 / 1000.0,
            bytes: c.bytes,
        };
        let point = SeriesPoint {
            t: round3(now),
            dt: round3(dt),
            users,
            ramp_up,
            requests: all.requests,
            failures: all.failures,
            p50_ms: all.quantile_ms(0.5),
            p95_ms: all.quantile_ms(0.95),
            p99_ms: all.quantile_ms(0.99),
            total_pct_ms: LOCUST_PERCENTILES.iter().map(|&q| all.quantile_ms(q)).collect(),
            bytes: all.bytes,
            cumulative,
            names,
            round: 0,
        };
        if totals.series.len() < MAX_SERIES {
            totals.series.push(point.clone());
        }
        totals.latest = Some(point);
    }

    /// Forgets everything recorded so far (a reset of the live view); the run goes on.
    pub fn reset(&self) {
        let mut scratch = Stats::default();
        for shard in self.shards.iter() {
            let mut s = shard.lock().unwrap_or_else(|e| e.into_inner());
            for accs in s.acc.iter_mut() {
                for acc in accs.iter_mut() {
                    acc.drain_into(&mut scratch);
                }
            }
            s.tasks.iter_mut().for_each(|t| *t = (0, 0));
        }
        let mut t = self.totals.lock().unwrap_or_else(|e| e.into_inner());
        t.phases.iter_mut().for_each(|p| *p = Phases::default());
        t.tasks.iter_mut().for_each(|x| *x = (0, 0));
        t.series.clear();
        t.cumulative = Stats::default();
        t.latest = None;
        t.last_t = self.start.elapsed().as_secs_f64();
    }

    /// The totals so far: per name phases, per task counts, and the series.
    pub fn snapshot(&self) -> (Vec<Phases>, Vec<(u64, u64)>, Vec<SeriesPoint>) {
        let t = self.totals.lock().unwrap_or_else(|e| e.into_inner());
        (t.phases.clone(), t.tasks.clone(), t.series.clone())
    }

    /// The totals so far without the series: per name phases, per task counts, and the latest point.
    pub fn live(&self) -> (Vec<Phases>, Vec<(u64, u64)>, Option<SeriesPoint>) {
        let t = self.totals.lock().unwrap_or_else(|e| e.into_inner());
        (t.phases.clone(), t.tasks.clone(), t.latest.clone())
    }

    /// The 95th percentile latency of the latest collected interval, ms (0 without one).
    pub fn last_p95_ms(&self) -> f64 {
        let t = self.totals.lock().unwrap_or_else(|e| e.into_inner());
        t.latest.as_ref().map_or(0.0, |p| p.p95_ms)
    }

    /// Requests and failures so far (collected intervals only).
    pub fn counts(&self) -> (u64, u64) {
        let t = self.totals.lock().unwrap_or_else(|e| e.into_inner());
        t.phases.iter().fold((0, 0), |(r, f), p| {
            (
                r + p.ramp_up.requests + p.steady.requests,
                f + p.ramp_up.failures + p.steady.failures,
            )
        })
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_and_series() {
        let r = Recorder::new(vec!["a".into(), "b".into()], 1, 2, Instant::now(), false);
        let s = |name, us, status, failure| Sample {
            name,
            us,
            status,
            bytes: 10,
            failure,
            service_us: us,
            sent: 100,
            received: 150,
            connect_us: (us == 1000).then_some(250),
            ttfb_us: (status != 0).then_some(us / 2),
        };
        r.record(&s(0, 1000, 200, None));
        r.record(&s(0, 3000, 500, Some(FailureKind::Status)));
        r.record_task(0, true);
        r.collect(1);
        r.end_ramp_up();
        r.record(&s(1, 2000, 200, None));
        r.record_task(0, false);
        r.collect(2);
        let (phases, tasks, series) = r.snapshot();
        assert_eq!(phases[0].ramp_up.requests, 2);
        assert_eq!(phases[0].ramp_up.failures, 1);
        assert_eq!(phases[0].ramp_up.failures_by_kind[&FailureKind::Status], 1);
        assert_eq!(phases[0].ramp_up.status_codes[&500], 1);
        assert_eq!(phases[0].ramp_up.failed_statuses[&500], 1);
        assert!(!phases[0].ramp_up.failed_statuses.contains_key(&200));
        assert_eq!(phases[0].ramp_up.min_us, 1000);
        assert_eq!(phases[0].ramp_up.bytes, 20);
        assert_eq!(
            (phases[0].ramp_up.bytes_sent, phases[0].ramp_up.bytes_received),
            (200, 300)
        );
        let c = phases[0].ramp_up.connects;
        assert_eq!((c.count, c.sum_us, c.max_us), (1, 250, 250));
        // 500 and 1500 µs at 2 significant digits.
        assert_eq!(phases[0].ramp_up.ttfb_histogram.as_ref().unwrap().0.len(), 2);
        assert!((phases[0].ramp_up.ttfb_ms(1.0).unwrap() - 1.5).abs() < 0.02);
        assert!(phases[1].steady.connects.is_empty());
        assert_eq!(phases[0].ramp_up.max_us, 3000);
        assert_eq!(phases[0].steady.requests, 0);
        assert_eq!(phases[1].steady.requests, 1);
        assert_eq!(tasks[0], (1, 1));
        assert_eq!(series.len(), 2);
        assert!(series[0].ramp_up && !series[1].ramp_up);
        assert_eq!(series[0].requests, 2);
        assert_eq!(series[1].names.len(), 1);
        assert_eq!(r.counts(), (3, 1));
    }
}
