//! The recorder: per-worker shards that users append samples to without sharing a lock, counted
//! into per-name totals once a second.

use super::hist::Hist;
use super::results::{add_reason, Cumulative, NamePoint, Phases, Reason, SeriesPoint, Stats, LOCUST_PERCENTILES};
use super::spill::Series;
use super::FailureKind;
use std::cell::Cell;
use std::collections::HashMap;
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

/// One request name's numbers in the current interval (both phases): what its series point says.
#[derive(Default)]
struct Interval {
    requests: u64,
    failures: u64,
    sum_us: u64,
    hist: Hist,
}

/// What the users of one worker thread wrote since the last collection. Samples are kept as they
/// came (a few dozen bytes each, for at most one second) and counted by the collector: a shard's
/// memory follows the request rate, never the number of request names or worker threads.
#[derive(Default)]
struct Shard {
    /// `[phase]` samples of the current interval.
    samples: [Vec<Sample>; 2],
    /// Failure reasons of the current interval, by `(phase, name)`.
    reasons: HashMap<(usize, usize), Vec<Reason>>,
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
    /// Keep service times apart from latencies (the open model).
    service: bool,
}

struct Totals {
    phases: Vec<Phases>,
    tasks: Vec<(u64, u64)>,
    series: Series,
    cumulative: Stats,
    last_t: f64,
    /// The latest interval, also past `MAX_SERIES`.
    latest: Option<SeriesPoint>,
    /// `[name]` numbers of the interval being collected (empty between collections).
    interval: Vec<Interval>,
    /// Emptied sample buffers, handed back to the shards so their capacity is reused.
    spare: Vec<Vec<Sample>>,
}

static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);
thread_local! {
    static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// Most per-second samples of the service's resources kept (one hour); the request series itself
/// is kept whole on disk ([`Series`]).
pub const MAX_SERIES: usize = super::spill::MAX_IN_MEMORY;

impl Recorder {
    /// A recorder for these request names and `tasks` task counters, with one shard per worker thread;
    /// `service` keeps service times apart from latencies (the open model).
    pub fn new(names: Vec<String>, tasks: usize, workers: usize, start: Instant, service: bool) -> Recorder {
        let shard = || {
            Mutex::new(Shard {
                tasks: vec![(0, 0); tasks],
                ..Shard::default()
            })
        };
        let shards = (0..workers.max(1) + 1).map(|_| shard()).collect();
        Recorder {
            totals: Mutex::new(Totals {
                phases: vec![Phases::default(); names.len()],
                tasks: vec![(0, 0); tasks],
                series: Series::new(),
                cumulative: Stats::default(),
                last_t: 0.0,
                latest: None,
                interval: Vec::new(),
                spare: Vec::new(),
            }),
            names,
            shards,
            ramping: AtomicBool::new(true),
            start,
            service,
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
        if sample.name >= self.names.len() {
            return;
        }
        let phase = if self.ramping.load(Ordering::Relaxed) { 0 } else { 1 };
        let mut shard = self.shard().lock().unwrap_or_else(|e| e.into_inner());
        shard.samples[phase].push(*sample);
    }

    /// Records one failed request with the client's reason for it.
    pub fn record_failed(&self, sample: &Sample, reason: &str) {
        if sample.name >= self.names.len() {
            return;
        }
        let phase = if self.ramping.load(Ordering::Relaxed) { 0 } else { 1 };
        let mut shard = self.shard().lock().unwrap_or_else(|e| e.into_inner());
        shard.samples[phase].push(*sample);
        if let Some(kind) = sample.failure {
            add_reason(shard.reasons.entry((phase, sample.name)).or_default(), kind, reason, 1);
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

    /// Closes the current interval: counts every shard's samples into the totals and appends a
    /// series point.
    pub fn collect(&self, users: u32) {
        let now = self.start.elapsed().as_secs_f64();
        let ramp_up = self.ramping.load(Ordering::Relaxed);
        let mut guard = self.totals.lock().unwrap_or_else(|e| e.into_inner());
        let totals = &mut *guard;
        totals.interval.resize_with(self.names.len(), Interval::default);
        let mut all = Stats::default();
        for shard in self.shards.iter() {
            // Hold the shard only to take its buffers: its users go on recording into fresh ones.
            let (batches, reasons) = {
                let mut s = shard.lock().unwrap_or_else(|e| e.into_inner());
                let fresh = [
                    totals.spare.pop().unwrap_or_default(),
                    totals.spare.pop().unwrap_or_default(),
                ];
                for (i, t) in s.tasks.iter_mut().enumerate() {
                    if let Some(total) = totals.tasks.get_mut(i) {
                        total.0 += t.0;
                        total.1 += t.1;
                    }
                    *t = (0, 0);
                }
                (std::mem::replace(&mut s.samples, fresh), std::mem::take(&mut s.reasons))
            };
            for (phase, mut batch) in batches.into_iter().enumerate() {
                for x in &batch {
                    let p = &mut totals.phases[x.name];
                    let st = if phase == 0 { &mut p.ramp_up } else { &mut p.steady };
                    st.record(x, self.service);
                    // The interval's aggregate needs counts and latencies only.
                    all.min_us = if all.requests == 0 { x.us } else { all.min_us.min(x.us) };
                    all.max_us = all.max_us.max(x.us);
                    all.requests += 1;
                    all.failures += u64::from(x.failure.is_some());
                    all.sum_us += x.us;
                    all.bytes += x.bytes;
                    all.histogram.record(x.us);
                    let i = &mut totals.interval[x.name];
                    i.requests += 1;
                    i.failures += u64::from(x.failure.is_some());
                    i.sum_us += x.us;
                    i.hist.record(x.us);
                }
                batch.clear();
                totals.spare.push(batch);
            }
            let mut reasons: Vec<_> = reasons.into_iter().collect();
            reasons.sort_unstable_by_key(|r| r.0);
            for ((phase, name), rs) in reasons {
                let p = &mut totals.phases[name];
                let st = if phase == 0 { &mut p.ramp_up } else { &mut p.steady };
                for r in rs {
                    add_reason(&mut st.failure_reasons, r.kind, &r.reason, r.count);
                }
            }
        }
        let mut names = Vec::new();
        for (i, acc) in totals.interval.iter_mut().enumerate() {
            if acc.requests > 0 {
                let q = |p: f64| acc.hist.quantile_us(p) as f64 / 1000.0;
                names.push(NamePoint {
                    name: self.names[i].clone(),
                    requests: acc.requests,
                    failures: acc.failures,
                    p50_ms: q(0.5),
                    p95_ms: q(0.95),
                    p99_ms: q(0.99),
                    sum_us: acc.sum_us,
                    hist: super::coarse::Coarse::of(&acc.hist).encode(),
                });
                *acc = Interval::default();
            }
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
        totals.series.push(&point);
        totals.latest = Some(point);
    }

    /// Forgets everything recorded so far (a reset of the live view); the run goes on.
    pub fn reset(&self) {
        for shard in self.shards.iter() {
            let mut s = shard.lock().unwrap_or_else(|e| e.into_inner());
            s.samples.iter_mut().for_each(Vec::clear);
            s.reasons.clear();
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
        let mut t = self.totals.lock().unwrap_or_else(|e| e.into_inner());
        let series = t.series.points();
        (t.phases.clone(), t.tasks.clone(), series)
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
        assert_eq!(phases[0].ramp_up.ttfb_histogram.as_ref().unwrap().len(), 2);
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
