//! The verdict: every target of the gate judged against the results, one check per target and group,
//! and, with a baseline, every regression budget.

pub mod blocks;
pub mod compare;
pub mod intervals;
pub mod stats;
pub mod trend;

use crate::gate::target::{Limit, Op, Selector};
use crate::gate::{Gate, Pos, Target};
use crate::metric::{trend_value, Metric, ServerMetric};
use crate::metrics::results::{Results, Stats};
use serde::Serialize;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The limit held.
    Pass,
    /// The limit did not hold.
    Fail,
    /// The hard limit held but the soft one did not (a graded limit such as `< 100ms..300ms`): passes.
    Marginal,
    /// Too few samples to judge (nothing matched, or fewer than `min_samples`).
    NoData,
}

impl Outcome {
    /// Short label for tables.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "FAIL",
            Outcome::Marginal => "marginal",
            Outcome::NoData => "NO DATA",
        }
    }
}

/// One comparison: a limit applied to one group of request names.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Display name, e.g. `GET /api/modules: avg < 100ms`.
    pub name: String,
    /// The group judged: a request name, a method, a glob or `total`.
    pub subject: String,
    /// Request names in the group.
    pub requests: Vec<String>,
    /// The limit.
    pub limit: String,
    /// The metric, e.g. `p95`.
    pub metric: String,
    /// The comparison, e.g. `<`.
    pub op: String,
    /// The limit's value in `unit`.
    pub threshold: f64,
    /// A graded limit's soft value in `unit`: past it the check is marginal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub soft: Option<f64>,
    /// Unit of `measured` and `threshold`: ` ms`, `%`, ` req/s` or empty.
    pub unit: String,
    /// The measured value (None when no data).
    pub measured: Option<f64>,
    /// Requests behind the measurement.
    pub samples: u64,
    /// Pass, fail or no-data.
    pub outcome: Outcome,
    /// Why the check has no data, when it has none.
    pub note: Option<String>,
    /// For slopes: the interval of the measured value, Newey–West, at the slope family's level (the
    /// check fails only when the whole interval is past the limit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<(f64, f64)>,
    /// Where the target is written in the gate file.
    pub pos: Pos,
    /// Whether the ramp-up was judged too.
    pub include_ramp_up: bool,
}

impl Check {
    /// `measured 123 ms, limit < 100ms` or why there is no data.
    pub fn message(&self) -> String {
        match (self.measured, &self.note) {
            (Some(m), _) => format!(
                "{}measured {}{}{} (limit {} {}{}{}, {} samples)",
                if self.outcome == Outcome::Marginal {
                    "marginal: "
                } else {
                    ""
                },
                fmt_value(m),
                self.unit,
                self.interval
                    .map(|(lo, hi)| format!(", interval [{}, {}]", fmt_value(lo), fmt_value(hi)))
                    .unwrap_or_default(),
                self.op,
                fmt_value(self.threshold),
                self.unit,
                self.soft
                    .map(|w| format!(", marginal past {}{}", fmt_value(w), self.unit))
                    .unwrap_or_default(),
                self.samples
            ),
            (None, Some(n)) => n.clone(),
            (None, None) => "no data".into(),
        }
    }
}

/// All checks of a gate; decides the exit code.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// Every check, in gate order.
    pub checks: Vec<Check>,
    /// Whether a no-data check fails the gate.
    pub no_data_fails: bool,
    /// The comparison with a baseline, when there is one.
    pub regression: Option<compare::Regression>,
    /// What the checks left out and why (e.g. on_start and on_stop requests).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Verdict {
    /// Whether the gate passed: no target missed, no regression found.
    pub fn passed(&self) -> bool {
        self.failing().next().is_none() && self.regression.as_ref().is_none_or(|r| r.failing().next().is_none())
    }

    /// Checks that fail the gate.
    pub fn failing(&self) -> impl Iterator<Item = &Check> {
        self.checks
            .iter()
            .filter(|c| c.outcome == Outcome::Fail || (c.outcome == Outcome::NoData && self.no_data_fails))
    }

    /// `passed 9 of 9 checks` or `FAILED 2 of 9 checks`, with the regression count when compared.
    pub fn headline(&self) -> String {
        let reg = self.regression.as_ref();
        let failing = self.failing().count() + reg.map_or(0, |r| r.failing().count());
        let total = self.checks.len() + reg.map_or(0, |r| r.comparisons.len());
        let inconclusive = reg.map_or(0, |r| r.comparisons.iter().filter(|c| c.change.undecided()).count());
        let mut s = if total == 0 {
            "no targets: nothing was judged".into()
        } else if failing == 0 {
            format!("passed {total} of {total} checks")
        } else {
            format!("FAILED {failing} of {total} checks")
        };
        if let Some(r) = reg {
            let regressions = r
                .comparisons
                .iter()
                .filter(|c| c.change == compare::Change::Regression)
                .count();
            s.push_str(&format!(
                " ({}, {inconclusive} inconclusive vs base)",
                count(regressions, "regression")
            ));
        }
        s
    }
}

/// `1 regression`, `2 regressions`: a count with its noun, plural by adding `s`.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `once`, `2 times`.
pub fn times(n: u64) -> String {
    if n == 1 {
        "once".into()
    } else {
        format!("{n} times")
    }
}

/// Judges results against the gate's targets: a pure function of the two.
pub fn judge(gate: &Gate, results: &Results) -> Verdict {
    // Slopes are judged as one family at 95 %: each side of each slope's interval gets 5 % / slopes.
    let slopes = slope_count(gate, results);
    let slope_level = 1.0 - 2.0 * (1.0 - SLOPE_CONFIDENCE) / slopes.max(1) as f64;
    judge_at(gate, results, slope_level)
}

/// How many trend slopes the targets judge in these results.
fn slope_count(gate: &Gate, results: &Results) -> usize {
    gate.targets
        .iter()
        .map(|t| {
            let n = t.limits.iter().filter(|l| is_slope(l.metric)).count();
            if n == 0 {
                0
            } else {
                n * groups(results, &t.select, t.each, t.include_ramp_up).len()
            }
        })
        .sum()
}

/// [`judge`] with every slope interval at `slope_level`.
fn judge_at(gate: &Gate, results: &Results, slope_level: f64) -> Verdict {
    let mut checks = Vec::new();
    for t in &gate.targets {
        for g in groups(results, &t.select, t.each, t.include_ramp_up) {
            let window = if t.include_ramp_up {
                results.load.duration_s
            } else {
                results.load.duration_s - results.load.ramp_up_s
            };
            for limit in &t.limits {
                checks.push(check(&g, results, window, limit, t, slope_level));
            }
        }
    }
    let mut notes = Vec::new();
    let selects = gate
        .targets
        .iter()
        .map(|t| &t.select)
        .chain(gate.regression.budgets.iter().map(|b| &b.select));
    if let Some(n) = lifecycle_note(results, selects) {
        notes.push(n);
    }
    Verdict {
        checks,
        no_data_fails: gate.verdict.no_data_fails,
        regression: None,
        notes,
    }
}

/// Why on_start / on_stop requests are not in a check, when a selection other than by name could
/// have matched them.
fn lifecycle_note<'a>(results: &Results, mut selects: impl Iterator<Item = &'a Selector>) -> Option<String> {
    let left_out: Vec<&str> = results
        .requests
        .iter()
        .filter(|r| r.lifecycle)
        .map(|r| r.name.as_str())
        .collect();
    let broad = selects.any(|s| !matches!(s, Selector::Name(_) | Selector::Server));
    (broad && !left_out.is_empty()).then(|| {
        format!(
            "on_start and on_stop requests ({}) come once per user at the start and the end of the run (on_stop spread over the first half of the grace period): `total`, method and glob selections leave them out; select them by name to judge them",
            left_out.join(", ")
        )
    })
}

/// Request names judged together, with their stats merged over the judged phases.
#[derive(Debug, Clone)]
pub struct Group {
    /// The group's name in reports: a request name (with `each`) or the selector.
    pub subject: String,
    /// Indices into `Results::requests`, in results order.
    pub indices: Vec<usize>,
    /// Stats of those requests, merged.
    pub stats: Stats,
}

impl Group {
    /// The request names in the group.
    pub fn names<'a>(&self, results: &'a Results) -> Vec<&'a str> {
        self.indices
            .iter()
            .map(|&i| results.requests[i].name.as_str())
            .collect()
    }
}

/// The groups a selector makes of the results' request names: with `each` one per matching name
/// (or, when none matches, one empty group named after the selector), else one for all matches.
pub fn groups(results: &Results, select: &Selector, each: bool, include_ramp_up: bool) -> Vec<Group> {
    let matched: Vec<usize> = results
        .requests
        .iter()
        .enumerate()
        // on_start / on_stop requests come once per user, at the edges of the run; only a selection by name judges them.
        .filter(|(_, r)| select.matches(&r.name, r.method) && (!r.lifecycle || matches!(select, Selector::Name(_))))
        .map(|(i, _)| i)
        .collect();
    let parts: Vec<(String, Vec<usize>)> = if each && !matched.is_empty() {
        matched
            .iter()
            .map(|&i| (results.requests[i].name.clone(), vec![i]))
            .collect()
    } else {
        vec![(select.to_string(), matched)]
    };
    parts
        .into_iter()
        .map(|(subject, indices)| {
            let mut stats = Stats::default();
            for &i in &indices {
                let p = &results.requests[i].phases;
                if include_ramp_up {
                    stats.merge(&p.ramp_up);
                }
                stats.merge(&p.steady);
            }
            Group {
                subject,
                indices,
                stats,
            }
        })
        .collect()
}

/// Judges head against the targets and, under the gate's budgets, against a baseline.
///
/// The comparisons and the trend slopes are one family: the regression confidence is shared among
/// all of them (Bonferroni), so adding a trend target widens every comparison's interval a little.
pub fn judge_with_baseline(gate: &Gate, head: &Results, base: &Results, mode: compare::Mode) -> Verdict {
    let include_ramp_up = gate.verdict.include_ramp_up;
    let slopes = slope_count(gate, head);
    let comparisons = compare::count(&gate.regression, base, head, include_ramp_up);
    let family = (slopes + comparisons).max(1);
    let slope_level = 1.0 - 2.0 * (1.0 - gate.regression.confidence) / family as f64;
    let mut v = judge_at(gate, head, slope_level);
    v.regression = Some(compare::compare_in_family(
        &gate.regression,
        base,
        head,
        mode,
        include_ramp_up,
        slopes,
    ));
    v
}

/// One limit of a target applied to one group.
/// Confidence of the family of every slope (trend) check of a verdict.
pub const SLOPE_CONFIDENCE: f64 = 0.95;

/// The shortest window a request rate (`rps`) is judged over, seconds.
pub const MIN_RATE_WINDOW_S: f64 = 1.0;

/// Whether a metric is a slope over the run.
fn is_slope(m: Metric) -> bool {
    matches!(m, Metric::Trend(_) | Metric::Server(ServerMetric::RssTrend))
}

fn check(g: &Group, results: &Results, window_s: f64, limit: &Limit, t: &Target, slope_level: f64) -> Check {
    let (stats, idx, select, min_samples, include_ramp_up) =
        (&g.stats, &g.indices, &t.select, t.min_samples, t.include_ramp_up);
    let phase = if include_ramp_up {
        "the run"
    } else {
        "the steady phase (ramp-up left out)"
    };
    let from = if include_ramp_up { 0.0 } else { results.load.ramp_up_s };
    let mut samples = stats.requests;
    let mut interval = None;
    let (measured, note) = match limit.metric {
        Metric::Server(m) => {
            let (v, n, ci, why) = server_value(results, m, from, slope_level);
            samples = n;
            interval = ci;
            (v, why)
        }
        Metric::Abandoned => {
            // Requests still unanswered when the grace period ended, against every request sent.
            let n = results.load.abandoned_requests;
            let sent = results.total(true).requests.saturating_add(n);
            samples = sent;
            if sent == 0 {
                (None, Some("no data: no request was sent".to_string()))
            } else {
                (Some(n as f64 * 100.0 / sent as f64), None)
            }
        }
        _ if idx.is_empty() => (None, Some(format!("no data: `{select}` matched no request name"))),
        // A rate over less than a second extrapolates a handful of requests (1 ms: 24 requests read as
        // 24,000 req/s); said before the sample count, since no number of samples makes it a rate.
        Metric::Rps if window_s < MIN_RATE_WINDOW_S => (
            None,
            Some(format!(
                "no data: {phase} lasted {window_s:.3} s; a request rate needs at least {MIN_RATE_WINDOW_S} s"
            )),
        ),
        _ if stats.requests < min_samples.max(1) => (
            None,
            Some(format!(
                "no data: {} samples in {phase}, fewer than the {} needed",
                stats.requests,
                min_samples.max(1)
            )),
        ),
        // Results written before perfgate timed the first byte have none: no data, never a pass.
        Metric::Ttfb(p) => {
            samples = stats.ttfb_histogram.as_ref().map_or(0, |h| h.len());
            match stats.ttfb_ms(p / 100.0) {
                Some(v) => (Some(v), None),
                None => (
                    None,
                    Some(format!(
                        "no data: no time to first byte in {phase} (results from perfgate before it timed them, or no answer)"
                    )),
                ),
            }
        }
        Metric::Trend(p) => {
            let points = latency_points(results, select, &g.names(results), p, from);
            match trend::fit(&points, slope_level) {
                Some(sl) if sl.mean > 0.0 => {
                    let rel = |x: f64| x / sl.mean * 100.0;
                    interval = Some((rel(sl.ci.0), rel(sl.ci.1)));
                    (Some(rel(sl.per_min)), None)
                }
                _ => (
                    None,
                    Some(format!(
                        "no data: {} intervals with requests in {phase}, 5 needed for a slope",
                        points.len()
                    )),
                ),
            }
        }
        m => (Some(measure(m, stats, window_s)), None),
    };
    // A slope fails only when its whole interval is past the limit: noise alone never fails a trend.
    let judged = match (measured, interval) {
        (Some(_), Some((lo, hi))) => Some(if matches!(limit.op, Op::Lt | Op::Le) { lo } else { hi }),
        (m, _) => m,
    };
    let outcome = match judged {
        None => Outcome::NoData,
        Some(m) if !limit.op.holds(m, limit.value) => Outcome::Fail,
        Some(m) if limit.warn.is_some_and(|w| !limit.op.holds(m, w)) => Outcome::Marginal,
        Some(_) => Outcome::Pass,
    };
    Check {
        name: format!("{}: {limit}", g.subject),
        subject: g.subject.clone(),
        requests: idx.iter().map(|&i| results.requests[i].name.clone()).collect(),
        limit: limit.to_string(),
        metric: limit.metric.to_string(),
        op: limit.op.to_string(),
        threshold: limit.value,
        soft: limit.warn,
        unit: limit.metric.unit().to_string(),
        measured,
        samples,
        outcome,
        note,
        interval,
        pos: t.pos,
        include_ramp_up,
    }
}

/// The value of a metric over merged stats; latencies in ms (slopes and server metrics read 0 here).
pub fn measure(metric: Metric, s: &Stats, window_s: f64) -> f64 {
    metric.measure(s, window_s)
}

/// A number with a precision that suits its size.
pub fn fmt_value(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e15 {
        format!("{v:.0}")
    } else if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Per-interval values of a latency percentile for the selected names after `from` seconds, as `(t, ms)`.
fn latency_points(r: &Results, select: &Selector, names: &[&str], p: f64, from: f64) -> Vec<(f64, f64)> {
    let pick = |n: &crate::metrics::results::NamePoint| trend_value(p, [n.p50_ms, n.p95_ms, n.p99_ms]);
    r.series
        .iter()
        .filter(|pt| pt.t > from && pt.dt > 0.5 && pt.requests > 0)
        .filter_map(|pt| {
            if *select == Selector::Total {
                return Some((pt.t, trend_value(p, [pt.p50_ms, pt.p95_ms, pt.p99_ms])));
            }
            // Request-weighted mean of the names' interval percentiles.
            let (mut sum, mut n) = (0.0, 0u64);
            for np in pt.names.iter().filter(|np| names.contains(&np.name.as_str())) {
                sum += pick(np) * np.requests as f64;
                n = n.saturating_add(np.requests);
            }
            (n > 0).then(|| (pt.t, sum / n as f64))
        })
        .collect()
}

/// A server metric's value, its sample count, its interval (slopes), or why there is none.
type ServerValue = (Option<f64>, u64, Option<(f64, f64)>, Option<String>);

/// A server metric after `from` seconds: value, sample count, interval (trends), or why there is none.
fn server_value(r: &Results, m: ServerMetric, from: f64, slope_level: f64) -> ServerValue {
    let Some(server) = &r.server else {
        return (
            None,
            0,
            None,
            Some("no data: no service samples (start the service with --serve)".into()),
        );
    };
    let samples = server.after(from);
    if samples.is_empty() {
        return (
            None,
            0,
            None,
            Some("no data: no service samples after the ramp-up".into()),
        );
    }
    let n = samples.len() as u64;
    if m != ServerMetric::RssTrend {
        return (server_point(r, m, from).map(|(v, _)| v), n, None, None);
    }
    let pts: Vec<(f64, f64)> = samples.iter().map(|s| (s.t, s.rss_mb)).collect();
    match trend::fit(&pts, slope_level) {
        Some(sl) => (Some(sl.per_min), n, Some(sl.ci), None),
        None => (
            None,
            n,
            None,
            Some(format!("no data: {n} service samples, 5 needed for a slope")),
        ),
    }
}

/// A non-slope server metric over the samples after `from` seconds, with the sample count.
pub(crate) fn server_point(r: &Results, m: ServerMetric, from: f64) -> Option<(f64, u64)> {
    let samples = r.server.as_ref()?.after(from);
    m.point(&samples).map(|v| (v, samples.len() as u64))
}
