//! Regression against a baseline: per budget, group and metric the base and head values, the change,
//! its confidence interval, and an outcome that says how sure perfgate is.

use super::blocks::{self, BlockEstimate, NoBlocks};
use super::intervals::{self, Tail};
use super::stats::{self, Interval};
use super::{groups, Group};
use crate::gate::budget::{Amount, Budget, BudgetLimit};
use crate::gate::target::Selector;
use crate::gate::{Pos, RegressionPolicy};
use crate::metric::{Metric, ServerMetric, Worse};
use crate::metrics::results::{Results, Stats};
use serde::Serialize;

/// How base and head were measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Base and head loaded in the same time window, interleaved: they share the runner's noise.
    Duet,
    /// Base and head ran one after the other: run-to-run noise is allowed for.
    Sequential,
}

/// How one comparison came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Within budget.
    Pass,
    /// Within budget, but worse than the warning band.
    Warn,
    /// Worse than the budget, beyond the noise.
    Regression,
    /// Better than base, beyond the noise.
    Improvement,
    /// Cannot tell: too few samples, or the interval straddles the budget.
    Inconclusive,
    /// Cannot tell, but the best estimate is past the budget: inconclusive, never shown as a pass.
    Marginal,
    /// Worse than the budget (or its warning band), within an `accept:` entry of the gate: passes,
    /// shown with the entry's reason.
    Accepted,
}

impl Change {
    /// Order in reports: what needs attention first.
    pub fn rank(self) -> u8 {
        match self {
            Change::Regression => 0,
            Change::Marginal => 1,
            Change::Inconclusive => 1,
            Change::Warn => 2,
            Change::Accepted => 2,
            Change::Improvement => 3,
            Change::Pass => 4,
        }
    }

    /// Short label for tables.
    pub fn label(self) -> &'static str {
        match self {
            Change::Pass => "pass",
            Change::Warn => "warn",
            Change::Regression => "REGRESSION",
            Change::Improvement => "improved",
            Change::Inconclusive => "inconclusive",
            Change::Marginal => "marginal",
            Change::Accepted => "accepted",
        }
    }

    /// Whether the outcome is undecided (inconclusive or marginal), which fails the gate only with
    /// `fail_on_inconclusive`.
    pub fn undecided(self) -> bool {
        matches!(self, Change::Inconclusive | Change::Marginal)
    }
}

/// One metric of one group, head against base.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// Display name, e.g. `GET /api/modules: p95 +10% vs base`.
    pub name: String,
    /// The group: a request name, method, glob or `total`.
    pub subject: String,
    /// The metric, e.g. `p95`.
    pub metric: String,
    /// The budget as written, e.g. `+10%..+20%`.
    pub budget: String,
    /// Base value (ms, %, or req/s).
    pub base: Option<f64>,
    /// Head value.
    pub head: Option<f64>,
    /// Unit of base and head.
    pub unit: String,
    /// Relative change head/base - 1, percent (positive: head is higher).
    pub delta_pct: Option<f64>,
    /// Confidence interval of the change in the budget's unit (percent, ms or pp), positive = worse
    /// (for throughput, a fall is positive here; reports show it signed as the metric moves).
    pub worse_ci: Option<(f64, f64)>,
    /// Whether the metric gets worse by going up (latency, errors; false for throughput).
    pub higher_is_worse: bool,
    /// Unit of `worse_ci`: `%`, ` ms` or ` pp`.
    pub ci_unit: String,
    /// The failing budget in `ci_unit` (`+10%` is 10, `+1.5s` is 1500 for a latency).
    pub fail_at: f64,
    /// The outcome.
    pub change: Change,
    /// Why, in a sentence.
    pub reason: String,
    /// Samples on each side (base, head).
    pub samples: (u64, u64),
    /// Time blocks the interval came from: (blocks, seconds each); None for per-request intervals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocks: Option<(usize, usize)>,
    /// The smallest change (in `ci_unit`) this run would detect with 80 % power at its noise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_detectable: Option<f64>,
    /// Set when the interval came from duet rounds (each a fresh pair of processes): the rounds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rounds: Option<usize>,
    /// Confirmation windows (`regression.confirm`) of a regression, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub confirmations: Vec<Confirmation>,
    /// Where the budget is written.
    pub pos: Pos,
}

/// How one confirmation window judged a comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Confirmation {
    /// The window's outcome.
    pub change: Change,
    /// Its relative change, percent.
    pub delta_pct: Option<f64>,
    /// Its interval, in the comparison's `ci_unit`.
    pub worse_ci: Option<(f64, f64)>,
}

/// All comparisons of a run against its baseline.
#[derive(Debug, Clone, Serialize)]
pub struct Regression {
    /// Duet or sequential.
    pub mode: Mode,
    /// Every comparison.
    pub comparisons: Vec<Comparison>,
    /// Whether inconclusive comparisons fail the gate.
    pub fail_on_inconclusive: bool,
    /// Confidence of the family of intervals.
    pub confidence: f64,
    /// Notes about the pair: differing gate files or machines, budgets below the noise floor.
    pub notes: Vec<String>,
}

impl Regression {
    /// Applies confirmation windows: a regression stays one only if every window found it too; one
    /// that any window did not confirm becomes inconclusive. Every window is kept on the comparison.
    pub fn confirm_with(&mut self, windows: &[Regression]) {
        if windows.is_empty() {
            return;
        }
        for c in self.comparisons.iter_mut().filter(|c| c.change == Change::Regression) {
            c.confirmations = windows
                .iter()
                .map(|w| match w.comparisons.iter().find(|x| x.name == c.name) {
                    Some(x) => Confirmation {
                        change: x.change,
                        delta_pct: x.delta_pct,
                        worse_ci: x.worse_ci,
                    },
                    None => Confirmation {
                        change: Change::Inconclusive,
                        delta_pct: None,
                        worse_ci: None,
                    },
                })
                .collect();
            let agreed = c
                .confirmations
                .iter()
                .filter(|w| w.change == Change::Regression)
                .count();
            let shown: Vec<String> = c
                .confirmations
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    let ci = w
                        .worse_ci
                        .map(|(lo, hi)| format!(" [{}, {}]", fmt(lo, &c.ci_unit), fmt(hi, &c.ci_unit)))
                        .unwrap_or_default();
                    let delta = w.delta_pct.map(|d| format!(" {}", fmt(d, "%"))).unwrap_or_default();
                    format!("window {}: {}{delta}{ci}", i + 2, w.change.label())
                })
                .collect();
            let n = c.confirmations.len();
            if agreed == n {
                c.reason.push_str(&format!(
                    "; confirmed in {n} of {n} fresh windows ({})",
                    shown.join("; ")
                ));
            } else {
                c.change = Change::Inconclusive;
                c.reason.push_str(&format!(
                    "; not confirmed: {agreed} of {n} fresh windows found it ({}), so it does not fail the gate",
                    shown.join("; ")
                ));
            }
        }
    }

    /// Comparisons that fail the gate.
    pub fn failing(&self) -> impl Iterator<Item = &Comparison> {
        self.comparisons
            .iter()
            .filter(|c| c.change == Change::Regression || (c.change.undecided() && self.fail_on_inconclusive))
    }
}

/// Compares head with base under the gate's budgets.
pub fn compare(
    policy: &RegressionPolicy,
    base: &Results,
    head: &Results,
    mode: Mode,
    include_ramp_up: bool,
) -> Regression {
    compare_in_family(policy, base, head, mode, include_ramp_up, 0)
}

/// The comparisons the budgets make of this pair: (budget, base group, head group).
fn plan<'a>(
    policy: &'a RegressionPolicy,
    base: &Results,
    head: &Results,
    include_ramp_up: bool,
) -> Vec<(&'a Budget, Group, Group)> {
    let mut plan: Vec<(&Budget, Group, Group)> = Vec::new();
    for b in &policy.budgets {
        for h in groups(head, &b.select, b.each, include_ramp_up) {
            if b.each && h.indices.is_empty() {
                // `each` over no request name compares nothing.
                continue;
            }
            let base_select = if b.each {
                Selector::Name(h.subject.clone())
            } else {
                b.select.clone()
            };
            let base_group = groups(base, &base_select, false, include_ramp_up).swap_remove(0);
            plan.push((b, base_group, h));
        }
    }
    plan
}

/// How many comparisons the budgets make of this pair (the family's size before other members).
pub fn count(policy: &RegressionPolicy, base: &Results, head: &Results, include_ramp_up: bool) -> usize {
    plan(policy, base, head, include_ramp_up)
        .iter()
        .map(|(b, ..)| b.limits.len())
        .sum()
}

/// [`compare`] as part of a larger family: `others` more intervals (trend slopes) share the
/// confidence level (Bonferroni over all of them).
pub fn compare_in_family(
    policy: &RegressionPolicy,
    base: &Results,
    head: &Results,
    mode: Mode,
    include_ramp_up: bool,
    others: usize,
) -> Regression {
    let mut notes = Vec::new();
    if base.gate.sha256 != head.gate.sha256 {
        notes.push(format!(
            "the gate file differs between base ({}, sha256 {}) and head ({}, sha256 {}): the load may not be comparable",
            base.gate.file,
            short(&base.gate.sha256),
            head.gate.file,
            short(&head.gate.sha256)
        ));
    }
    if mode == Mode::Sequential {
        let (b, h) = (&base.environment, &head.environment);
        let mut diffs = Vec::new();
        if b.cpu_model != h.cpu_model {
            diffs.push(format!("CPU {:?} vs {:?}", b.cpu_model, h.cpu_model));
        }
        if b.cpus != h.cpus {
            diffs.push(format!("{} vs {} CPUs", b.cpus, h.cpus));
        }
        if b.os != h.os || b.arch != h.arch {
            diffs.push(format!("{}/{} vs {}/{}", b.os, b.arch, h.os, h.arch));
        }
        if base.tool.version != head.tool.version {
            diffs.push(format!("perfgate {} vs {}", base.tool.version, head.tool.version));
        }
        if !diffs.is_empty() {
            notes.push(format!(
                "base and head ran on different machines or tools ({}): differences may be the machine's",
                diffs.join(", ")
            ));
        }
        for (side, r) in [("base", base), ("head", head)] {
            if let Some(s) = &r.load.shard {
                notes.push(format!(
                    "{side} is shard {}/{} of run {}, a share of the load: merge the shards first (perfgate merge) to compare whole runs",
                    s.index, s.count, s.run_id
                ));
            }
        }
    }
    let noise = if mode == Mode::Duet { 0.0 } else { policy.noise };
    let rounds = head.load.rounds.min(base.load.rounds);
    if mode == Mode::Duet && !policy.budgets.is_empty() && rounds > 1 {
        notes.push(format!(
            "{rounds} rounds, each with a fresh pair of processes: latency and error-rate intervals come from the rounds' paired differences ({} degrees of freedom), so they cover the noise between processes of one build",
            rounds - 1
        ));
    } else if mode == Mode::Duet && !policy.budgets.is_empty() {
        notes.push(
            "one pair of processes: the intervals cover the noise within this run, not the difference between two processes of one build (memory layout, CPU placement, warm-up), which can move a result by a few tenths of a percent or more; calibrate with two processes of the same build to see it"
                .into(),
        );
    }
    let blockless = |r: &Results| r.series.iter().all(|p| p.names.iter().all(|n| n.hist.is_empty()));
    if !policy.budgets.is_empty() && (blockless(base) || blockless(head)) {
        notes.push(
            "a results file without per-second histograms (written by an older perfgate): its latency intervals count every request as independent and are too narrow; record the baseline again"
                .into(),
        );
    }

    // Groups first, so the number of comparisons is known for the Bonferroni correction.
    let plan = plan(policy, base, head, include_ramp_up);
    let m: usize = (plan.iter().map(|(b, ..)| b.limits.len()).sum::<usize>() + others).max(1);
    let alpha = (1.0 - policy.confidence) / m as f64;
    let z = Z {
        side: stats::z_for(1.0 - alpha / 2.0),
        alpha,
    };

    let mut comparisons = Vec::new();
    for (budget, bg, hg) in plan {
        let pair = BaseHead {
            stats: (&bg.stats, &hg.stats),
            rps: (
                rps_series(base, &bg.names(base), include_ramp_up),
                rps_series(head, &hg.names(head), include_ramp_up),
            ),
            results: (base, head),
            names: (bg.names(base), hg.names(head)),
            include_ramp_up,
            paired: mode == Mode::Duet,
        };
        for limit in &budget.limits {
            comparisons.push(match limit.metric {
                Metric::Server(m) => judge_server(m, limit, base, head, noise, budget.pos, include_ramp_up),
                _ => judge(policy, &hg.subject, limit, &pair, noise, z, budget.pos),
            });
        }
    }
    for c in &mut comparisons {
        accept(policy, c);
    }
    if noise > 0.0 {
        for b in &policy.budgets {
            for l in &b.limits {
                if let Amount::Relative(f) = l.fail {
                    if f <= noise {
                        notes.push(format!(
                            "budget `{} {}` at line {} is within the {:.0}% run-to-run noise allowed for sequential runs: only a change beyond budget + noise can be called a regression, and a pass needs a clear improvement; compare side by side (--baseline-host) or calibrate the noise",
                            l.metric,
                            l.text,
                            b.pos.line,
                            noise * 100.0
                        ));
                    }
                }
            }
        }
    }
    Regression {
        mode,
        comparisons,
        fail_on_inconclusive: policy.fail_on_inconclusive,
        confidence: policy.confidence,
        notes,
    }
}

/// Accepts every regression, warning and marginal comparison because the pull request carries the
/// label `label` (`--accept-label`): they pass, saying so.
pub fn accept_by_label(reg: &mut Regression, label: &str) {
    for c in &mut reg.comparisons {
        if matches!(c.change, Change::Regression | Change::Marginal | Change::Warn) {
            c.reason = format!(
                "accepted: the pull request has the label `{label}`; without it: {} ({})",
                c.change.label(),
                c.reason
            );
            c.change = Change::Accepted;
        }
    }
}

/// Applies the gate's `accept:` entries: a regression, marginal or warning comparison whose change
/// (the whole run's, as reported) is within a matching entry's `up_to` becomes accepted, with the
/// entry's reason; one beyond it stays as it was and says so.
fn accept(policy: &RegressionPolicy, c: &mut Comparison) {
    if !matches!(c.change, Change::Regression | Change::Marginal | Change::Warn) {
        return;
    }
    let Some(a) = policy.accept.iter().find(|a| a.matches(&c.subject, &c.metric)) else {
        return;
    };
    let (Some(base), Some(head)) = (c.base, c.head) else {
        return;
    };
    let up = crate::gate::budget::worse_is_up(a.metric);
    let (worse, allowed, unit) = match a.up_to {
        Amount::Relative(r) if base != 0.0 => {
            let rel = if up { head / base - 1.0 } else { 1.0 - head / base };
            (rel * 100.0, r * 100.0, "%".to_string())
        }
        Amount::Relative(_) => return,
        Amount::Absolute(x) => {
            let unit = if a.metric == Metric::ErrorRate {
                " pp".to_string()
            } else {
                c.unit.clone()
            };
            (if up { head - base } else { base - head }, x, unit)
        }
    };
    let entry = format!(
        "`accept` at line {} (up to {}: {}; until {})",
        a.pos.line,
        a.up_to_text,
        a.reason,
        a.until_text()
    );
    if worse <= allowed {
        c.reason = format!(
            "accepted: {worse:+.1}{unit} is within {entry}; without it: {} ({})",
            c.change.label(),
            c.reason
        );
        c.change = Change::Accepted;
    } else {
        c.reason = format!("{}; {worse:+.1}{unit} is beyond {entry}", c.reason);
    }
}

/// Base and head of one group: merged stats, per-second request rates, and the results they came
/// from (for time blocks).
struct BaseHead<'a> {
    stats: (&'a Stats, &'a Stats),
    rps: (Vec<f64>, Vec<f64>),
    results: (&'a Results, &'a Results),
    names: (Vec<&'a str>, Vec<&'a str>),
    include_ramp_up: bool,
    paired: bool,
}

/// The normal quantile of one side's interval in the corrected family, and the share of false alarms
/// each side of one comparison's interval may make.
#[derive(Debug, Clone, Copy)]
struct Z {
    side: f64,
    alpha: f64,
}

/// Requests per second of the named requests in each interval of the judged phase.
fn rps_series(r: &Results, names: &[&str], include_ramp_up: bool) -> Vec<f64> {
    r.series
        .iter()
        .filter(|p| (include_ramp_up || !p.ramp_up) && p.dt > 0.5)
        .map(|p| {
            let n: u64 = p
                .names
                .iter()
                .filter(|n| names.contains(&n.name.as_str()))
                .fold(0, |a, n| a.saturating_add(n.requests));
            n as f64 / p.dt
        })
        .collect()
}

/// A budget amount in the unit of the change: percent for relative budgets, else the metric's own.
fn scale(a: Amount) -> f64 {
    match a {
        Amount::Relative(r) => r * 100.0,
        Amount::Absolute(a) => a,
    }
}

/// A comparison with its budget filled in and its outcome not yet known.
fn comparison(name: String, subject: &str, limit: &BudgetLimit, ci_unit: String, pos: Pos) -> Comparison {
    Comparison {
        name,
        subject: subject.to_string(),
        metric: limit.metric.to_string(),
        budget: limit.text.clone(),
        base: None,
        head: None,
        unit: limit.metric.unit().to_string(),
        delta_pct: None,
        worse_ci: None,
        higher_is_worse: limit.metric.worse() == Worse::Up,
        ci_unit,
        fail_at: scale(limit.fail),
        change: Change::Inconclusive,
        reason: String::new(),
        samples: (0, 0),
        blocks: None,
        min_detectable: None,
        rounds: None,
        confirmations: Vec::new(),
        pos,
    }
}

/// The change of one metric from base to head, in the budget's unit (positive = worse).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Delta {
    /// Base value in the metric's unit.
    base: f64,
    /// Head value in the metric's unit.
    head: f64,
    /// The change, point estimate.
    point: f64,
    /// Its confidence interval, before the noise allowance.
    ci: Interval,
    /// Run-to-run noise allowed for on each side of the interval.
    noise: f64,
    /// Time blocks behind the interval (count, seconds each); None for per-request intervals.
    blocks: Option<(usize, usize)>,
    /// The smallest change this run would detect with [`MDE_POWER`], in the budget's unit.
    min_detectable: Option<f64>,
    /// The blocks' standard error in the scale the interval was built in (log of head over base for
    /// relative budgets, ms for absolute ones), for how long a run would decide.
    block_se: Option<f64>,
    /// Whether the blocks are duet rounds (fresh process pairs).
    rounds: bool,
}

/// Why a change could not be computed, with the point values when they are known.
#[derive(Debug, Clone, PartialEq)]
struct NoDelta {
    values: Option<(f64, f64)>,
    reason: String,
}

/// Compute: base and head values of a request metric, the change in the budget's unit, its
/// interval and the noise allowance; or why it cannot be computed.
fn compute(
    metric: Metric,
    fail: Amount,
    pair: &BaseHead,
    noise: f64,
    z: Z,
    min_samples: u64,
) -> Result<Delta, NoDelta> {
    let (bs, hs) = pair.stats;
    if bs.requests == 0 || hs.requests == 0 {
        return Err(NoDelta {
            values: None,
            reason: format!("no data: {} requests in base, {} in head", bs.requests, hs.requests),
        });
    }
    // Point values and per-side intervals.
    let (b, h, bi, hi): (f64, f64, Option<Interval>, Option<Interval>) = match metric {
        Metric::Percentile(p) => (
            bs.quantile_ms(p / 100.0),
            hs.quantile_ms(p / 100.0),
            stats::quantile_ci(bs, p / 100.0, z.side),
            stats::quantile_ci(hs, p / 100.0, z.side),
        ),
        Metric::Avg => (
            bs.mean_ms(),
            hs.mean_ms(),
            stats::mean_ci(bs, z.side),
            stats::mean_ci(hs, z.side),
        ),
        Metric::Rps => {
            let mean = |v: &[f64]| {
                if v.is_empty() {
                    0.0
                } else {
                    v.iter().sum::<f64>() / v.len() as f64
                }
            };
            (
                mean(&pair.rps.0),
                mean(&pair.rps.1),
                stats::series_mean_ci(&pair.rps.0, z.side),
                stats::series_mean_ci(&pair.rps.1, z.side),
            )
        }
        _ => (bs.error_rate_pct(), hs.error_rate_pct(), None, None),
    };
    let fail_with = |reason: String| NoDelta {
        values: Some((b, h)),
        reason,
    };
    if bs.requests.min(hs.requests) < min_samples {
        return Err(fail_with(format!(
            "too few samples: {} in base, {} in head, {} needed",
            bs.requests, hs.requests, min_samples
        )));
    }
    if metric == Metric::ErrorRate {
        // Newcombe's hybrid score interval (his method 10) for the difference of two proportions.
        let (lo, hi) = intervals::newcombe(
            bs.failures,
            bs.requests,
            hs.failures,
            hs.requests,
            1.0 - 2.0 * z.alpha,
            Tail::Both,
        )
        .ok_or_else(|| fail_with("no data".into()))?;
        let mut ci = Interval {
            lo: lo * 100.0,
            hi: hi * 100.0,
        };
        // Failures cluster (a burst of errors in one bad second): where the blocks spread wider than
        // independent failures would, their interval is the honest one.
        let (base_r, head_r) = pair.results;
        if let Some(e) = blocks::error_rate_estimate(
            base_r,
            head_r,
            &pair.names.0,
            &pair.names.1,
            pair.include_ramp_up,
            pair.paired,
            1.0 - 2.0 * z.alpha,
        ) {
            let half = intervals::t_quantile(1.0 - z.alpha, e.df) * e.se;
            ci.lo = ci.lo.min(h - b - half);
            ci.hi = ci.hi.max(h - b + half);
        }
        return Ok(Delta {
            base: b,
            head: h,
            point: h - b,
            ci,
            noise: 0.0,
            blocks: None,
            min_detectable: None,
            block_se: None,
            rounds: false,
        });
    }
    if metric.is_latency() {
        let relative = matches!(fail, Amount::Relative(_));
        let est = blocks::estimate(
            metric,
            relative,
            pair.results.0,
            pair.results.1,
            &pair.names.0,
            &pair.names.1,
            pair.include_ramp_up,
            pair.paired,
            1.0 - 2.0 * z.alpha,
        );
        match est {
            Ok(be) => return Ok(from_blocks(metric, relative, b, h, &be, noise, z.alpha)),
            Err(NoBlocks::TooFew { blocks, seconds }) => {
                return Err(fail_with(too_few_blocks(metric, blocks, seconds, pair)));
            }
            // An older file: the per-request intervals below, which a note says are too narrow.
            Err(NoBlocks::NoHistograms) => {}
        }
    }
    let (Some(bi), Some(hi)) = (bi, hi) else {
        return Err(fail_with("too few samples or intervals to bound the change".into()));
    };
    if !(bi.hi.is_finite() && hi.hi.is_finite()) || bi.lo <= 0.0 {
        return Err(fail_with(format!(
            "too few samples to bound {metric} (base {}, head {})",
            bs.requests, hs.requests
        )));
    }
    let up = metric.worse() == Worse::Up;
    Ok(match fail {
        Amount::Relative(_) => {
            let (lo, hi_) = if up {
                (hi.lo / bi.hi - 1.0, hi.hi / bi.lo - 1.0)
            } else {
                (1.0 - hi.hi / bi.lo, 1.0 - hi.lo / bi.hi)
            };
            let point = if up { h / b - 1.0 } else { 1.0 - h / b };
            Delta {
                base: b,
                head: h,
                point: point * 100.0,
                ci: Interval {
                    lo: lo * 100.0,
                    hi: hi_ * 100.0,
                },
                noise: noise * 100.0,
                blocks: None,
                min_detectable: None,
                block_se: None,
                rounds: false,
            }
        }
        Amount::Absolute(_) => {
            let (lo, hi_) = if up {
                (hi.lo - bi.hi, hi.hi - bi.lo)
            } else {
                (bi.lo - hi.hi, bi.hi - hi.lo)
            };
            Delta {
                base: b,
                head: h,
                point: if up { h - b } else { b - h },
                ci: Interval { lo, hi: hi_ },
                noise: noise * b,
                blocks: None,
                min_detectable: None,
                block_se: None,
                rounds: false,
            }
        }
    })
}

/// The change of a latency metric from its whole-run values (`b`, `h`) with the standard error of the
/// time blocks: the interval is centred on the whole run's change, its width comes from the blocks.
/// Rounds are few and their levels differ (each a fresh pair of processes): a merged histogram's
/// percentile leans towards the loudest round, so there the interval is centred on the mean of the
/// rounds' paired differences, the estimate its standard error belongs to.
fn from_blocks(metric: Metric, relative: bool, b: f64, h: f64, be: &BlockEstimate, noise: f64, alpha: f64) -> Delta {
    let t = intervals::t_quantile(1.0 - alpha, be.estimate.df);
    let half = t * be.estimate.se;
    let mde = intervals::min_detectable(be.estimate.se, be.estimate.df, 1.0 - alpha, MDE_POWER, Tail::Upper);
    debug_assert!(metric.worse() == Worse::Up, "latencies get worse by going up");
    if relative {
        let centre = if be.rounds {
            be.estimate.point
        } else {
            (h.max(1e-9) / b.max(1e-9)).ln()
        };
        let pct = |x: f64| (x.exp() - 1.0) * 100.0;
        Delta {
            base: b,
            head: h,
            point: pct(centre),
            ci: Interval {
                lo: pct(centre - half),
                hi: pct(centre + half),
            },
            noise: noise * 100.0,
            blocks: Some((be.blocks, be.seconds)),
            min_detectable: Some(pct(mde)),
            block_se: Some(be.estimate.se),
            rounds: be.rounds,
        }
    } else {
        let centre = if be.rounds { be.estimate.point } else { h - b };
        Delta {
            base: b,
            head: h,
            point: centre,
            ci: Interval {
                lo: centre - half,
                hi: centre + half,
            },
            noise: noise * b,
            blocks: Some((be.blocks, be.seconds)),
            min_detectable: Some(mde),
            block_se: Some(be.estimate.se),
            rounds: be.rounds,
        }
    }
}

/// The min_effect floor of a latency comparison in the budget's unit (percent of base, or ms): the
/// larger of the absolute and the relative floor, and how to name it; None when neither is set.
fn min_effect_floor(policy: &RegressionPolicy, fail: Amount, base_ms: f64) -> (Option<f64>, String) {
    let (abs, rel) = (policy.min_effect_ms, policy.min_effect_relative * 100.0);
    let (from_abs, from_rel) = match fail {
        Amount::Relative(_) => (
            if base_ms > 0.0 {
                abs / base_ms * 100.0
            } else {
                f64::INFINITY
            },
            rel,
        ),
        Amount::Absolute(_) => (abs, rel / 100.0 * base_ms),
    };
    match (abs > 0.0, rel > 0.0) {
        (false, false) => (None, String::new()),
        (true, false) => (Some(from_abs), format!("min_effect {} ms", trim_num(abs))),
        (false, true) => (Some(from_rel), format!("min_effect {}%", trim_num(rel))),
        (true, true) if from_abs >= from_rel => (Some(from_abs), format!("min_effect {} ms", trim_num(abs))),
        (true, true) => (Some(from_rel), format!("min_effect {}%", trim_num(rel))),
    }
}

fn trim_num(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// How many seconds of steady phase would shrink a block interval enough to put it wholly on one
/// side of the threshold, the noise staying as it was; None without block data.
fn seconds_to_decide(d: &Delta, f: &Facts, relative: bool, alpha: f64) -> Option<f64> {
    let (se, (blocks, seconds)) = (d.block_se?, d.blocks?);
    let scale = |x: f64| if relative { (1.0 + x / 100.0).max(1e-9).ln() } else { x };
    let gap = (scale(d.point) - scale(f.threshold())).abs();
    let total = intervals::blocks_needed(se, blocks, gap, 1.0 - 2.0 * alpha, Tail::Both)?;
    Some((total * seconds) as f64)
}

/// The power at which the minimum detectable effect is stated.
pub const MDE_POWER: f64 = 0.8;

/// Why there are too few blocks, and how long a run would give enough at this rate.
fn too_few_blocks(metric: Metric, blocks: usize, seconds: usize, pair: &BaseHead) -> String {
    let need = blocks::samples_needed(metric);
    if seconds == 0 {
        return format!("too few samples to bound {metric}: no requests in the judged seconds");
    }
    let judged_s = |r: &Results| {
        if pair.include_ramp_up {
            r.load.duration_s
        } else {
            r.load.duration_s - r.load.ramp_up_s
        }
    };
    let (base, head) = pair.results;
    let now = judged_s(base).min(judged_s(head));
    let wanted = (blocks::MIN_BLOCKS * seconds) as f64;
    format!(
        "too few samples to bound {metric}: {blocks} blocks of about {seconds} s (each needs {need:.0} requests; {} needed); a steady phase of about {:.0} s would decide it at this rate (now {now:.0} s)",
        blocks::MIN_BLOCKS,
        wanted.max(now + seconds as f64)
    )
}

/// What the decision table reads, all in the budget's unit.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Facts {
    /// Low end of the change's interval, widened by the noise allowance.
    lo: f64,
    /// High end of the change's interval, widened by the noise allowance.
    hi: f64,
    /// The change, point estimate.
    point: f64,
    /// The failing budget.
    fail: f64,
    /// The warning band, when there is one.
    warn: Option<f64>,
    /// Latencies only: the `min_effect` floor in the budget's unit (a change must exceed both the
    /// budget and the floor to be a regression).
    floor: Option<f64>,
}

impl Facts {
    /// What a change must exceed to be a regression: the budget, or the min_effect floor above it.
    fn threshold(&self) -> f64 {
        self.floor.map_or(self.fail, |m| m.max(self.fail))
    }
}

/// Classify: the decision table, on the interval's bounds only. The threshold is the budget, raised
/// to the min_effect floor where that is larger; the warning band reads the point estimate.
///
/// | interval                                                | outcome      |
/// |---------------------------------------------------------|--------------|
/// | wholly above the threshold                              | regression   |
/// | straddles the threshold, point above it                 | marginal     |
/// | straddles the threshold                                 | inconclusive |
/// | wholly below 0 (below -floor with a min_effect floor)   | improvement  |
/// | at or below the threshold, point above the warning band | warn         |
/// | at or below the threshold                               | pass         |
fn classify(f: Facts) -> Change {
    let t = f.threshold();
    if f.lo > t {
        Change::Regression
    } else if f.hi > t && f.point > t {
        Change::Marginal
    } else if f.hi > t {
        Change::Inconclusive
    } else if f.hi < -f.floor.unwrap_or(0.0) {
        Change::Improvement
    } else if f.warn.is_some_and(|w| f.point > w) {
        Change::Warn
    } else {
        Change::Pass
    }
}

/// Describe: why a request metric's comparison came out as it did, from the computed numbers. Every
/// figure is signed as the metric moves from base to head (`+` = head higher), whatever its good
/// direction: `sign` is -1 for metrics that get worse by going down (throughput), whose changes the
/// decision reads as "positive = worse".
fn describe(change: Change, d: &Delta, f: &Facts, u: &str, floor: &str, sign: f64) -> String {
    let (lo, hi) = if sign > 0.0 {
        (d.ci.lo, d.ci.hi)
    } else {
        (-d.ci.hi, -d.ci.lo)
    };
    let (point, lo, hi) = (fmt(sign * d.point, u), fmt(lo, u), fmt(hi, u));
    // "the budget of +10.0%", or "min_effect 1 ms (+5.0% here), above the budget of +1.0%".
    let limit = match f.floor {
        Some(m) if m > f.fail => format!(
            "{floor} ({} here), above the budget of {}",
            fmt(sign * m, u),
            fmt(sign * f.fail, u)
        ),
        _ => format!("the budget of {}", fmt(sign * f.fail, u)),
    };
    let allowance = if d.noise > 0.0 {
        format!(" (with ±{:.1}{u} run-to-run noise allowed)", d.noise)
    } else {
        String::new()
    };
    match change {
        Change::Pass => format!("change {point} [{lo}, {hi}] is within {limit}{allowance}"),
        Change::Regression => format!("worse: change {point} [{lo}, {hi}] is beyond {limit}{allowance}"),
        Change::Improvement => format!("better: change {point} [{lo}, {hi}]{allowance}"),
        Change::Warn => format!(
            "change {point} is past the warning band of {} but within {limit}",
            fmt(sign * f.warn.unwrap_or(0.0), u)
        ),
        Change::Inconclusive if d.noise > 0.0 && d.ci.hi <= f.threshold() => format!(
            "change {point} [{lo}, {hi}] is within {limit}, but not once ±{:.1}{u} of run-to-run noise is allowed for",
            d.noise
        ),
        Change::Inconclusive => format!("change {point} [{lo}, {hi}] straddles {limit}{allowance}"),
        Change::Marginal => format!(
            "change {point} [{lo}, {hi}] is past {limit} on the estimate, but the interval reaches back across it{allowance}"
        ),
        // Acceptance rewrites the reason after classification.
        Change::Accepted => format!("worse by {point} [{lo}, {hi}], accepted"),
    }
}

/// One request metric of one group, head against base: compute, classify, describe.
fn judge(
    policy: &RegressionPolicy,
    subject: &str,
    limit: &BudgetLimit,
    pair: &BaseHead,
    noise: f64,
    z: Z,
    pos: Pos,
) -> Comparison {
    let metric = limit.metric;
    let ci_unit = match limit.fail {
        Amount::Relative(_) => "%",
        Amount::Absolute(_) if metric == Metric::ErrorRate => " pp",
        Amount::Absolute(_) => " ms",
    };
    let name = format!("{subject}: {metric} {} vs base", limit.text);
    let mut c = comparison(name, subject, limit, ci_unit.into(), pos);
    c.samples = (pair.stats.0.requests, pair.stats.1.requests);
    let d = match compute(metric, limit.fail, pair, noise, z, policy.min_samples) {
        Ok(d) => d,
        Err(no) => {
            if let Some((b, h)) = no.values {
                c.base = Some(b);
                c.head = Some(h);
                if b > 0.0 {
                    c.delta_pct = Some((h / b - 1.0) * 100.0);
                }
            }
            c.reason = no.reason;
            return c;
        }
    };
    c.base = Some(d.base);
    c.head = Some(d.head);
    if d.base > 0.0 {
        c.delta_pct = Some((d.head / d.base - 1.0) * 100.0);
    }
    c.worse_ci = Some((d.ci.lo, d.ci.hi));
    c.blocks = d.blocks;
    c.rounds = d.rounds.then(|| d.blocks.map_or(0, |b| b.0));
    c.min_detectable = d.min_detectable;
    let (lo, hi) = (d.ci.lo - d.noise, d.ci.hi + d.noise);
    let (floor, floor_text) = if metric.is_latency() {
        min_effect_floor(policy, limit.fail, d.base)
    } else {
        (None, String::new())
    };
    let facts = Facts {
        lo,
        hi,
        point: d.point,
        fail: scale(limit.fail),
        warn: limit.warn.map(scale),
        floor,
    };
    c.change = classify(facts);
    let sign = if metric.worse() == Worse::Up { 1.0 } else { -1.0 };
    c.reason = describe(c.change, &d, &facts, ci_unit, &floor_text, sign);
    // With a noise allowance (sequential runs) no run length decides what the allowance straddles.
    if c.change.undecided() && d.noise == 0.0 {
        let relative = matches!(limit.fail, Amount::Relative(_));
        match (seconds_to_decide(&d, &facts, relative, z.alpha), d.blocks) {
            (Some(secs), Some((_, round_s))) if d.rounds => c.reason.push_str(&format!(
                "; about {:.0} rounds of {round_s} s would decide it at this noise",
                secs / round_s.max(1) as f64
            )),
            (Some(secs), _) => c.reason.push_str(&format!(
                "; a steady phase of about {secs:.0} s would decide it at this noise"
            )),
            _ => {}
        }
    }
    c
}

/// A server metric, head against base: a point comparison (one value per run, no sampling
/// interval), with the run-to-run noise allowed for in sequential mode.
fn judge_server(
    m: ServerMetric,
    limit: &BudgetLimit,
    base: &Results,
    head: &Results,
    noise: f64,
    pos: Pos,
    include_ramp_up: bool,
) -> Comparison {
    let value = |r: &Results| {
        let from = if include_ramp_up { 0.0 } else { r.load.ramp_up_s };
        super::server_point(r, m, from)
    };
    let ci_unit = match limit.fail {
        Amount::Relative(_) => "%".to_string(),
        Amount::Absolute(_) => limit.metric.unit().to_string(),
    };
    let name = format!("server: {} {} vs base", limit.metric, limit.text);
    let mut c = comparison(name, "server", limit, ci_unit, pos);
    let (Some((b, nb)), Some((h, nh))) = (value(base), value(head)) else {
        c.reason = "no service samples on both sides: start base and head with --serve / --baseline-serve".into();
        return c;
    };
    c.base = Some(b);
    c.head = Some(h);
    c.samples = (nb, nh);
    if b > 0.0 {
        c.delta_pct = Some((h / b - 1.0) * 100.0);
    }
    let (worse, allowance) = match limit.fail {
        Amount::Relative(_) if b <= 0.0 => {
            c.reason = "the base value is 0: a relative budget cannot judge it".into();
            return c;
        }
        Amount::Relative(_) => ((h / b - 1.0) * 100.0, noise * 100.0),
        Amount::Absolute(_) => (h - b, noise * b),
    };
    c.worse_ci = Some((worse - allowance, worse + allowance));
    let facts = Facts {
        lo: worse - allowance,
        hi: worse + allowance,
        point: worse,
        fail: scale(limit.fail),
        warn: limit.warn.map(scale),
        floor: None,
    };
    c.change = classify(facts);
    let (u, fail) = (c.ci_unit.as_str(), fmt(facts.fail, &c.ci_unit));
    c.reason = match c.change {
        Change::Regression => format!("worse: change {} is beyond the budget of {fail}", fmt(worse, u)),
        Change::Inconclusive => format!(
            "change {} is within ±{} of the budget {fail}: run-to-run noise cannot be told apart",
            fmt(worse, u),
            fmt(allowance, u)
        ),
        _ => format!("change {} is within the budget of {fail}", fmt(worse, u)),
    };
    c
}

fn fmt(v: f64, unit: &str) -> String {
    format!("{}{v:.1}{unit}", if v > 0.0 { "+" } else { "" })
}

fn short(s: &str) -> String {
    s.chars().take(12).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::budget::parse_limit;
    use crate::gate::target::Selector;
    use crate::metrics::hist::Hist;
    use crate::metrics::results::{Environment, GateInfo, LoadInfo, Phases, RequestStats, Tool};
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    /// Latencies around `median_ms` with a long right tail (log-normal, sigma 0.3).
    fn sample(rng: &mut SmallRng, n: usize, median_ms: f64) -> Stats {
        let mut s = Stats {
            histogram: Hist::new(),
            ..Stats::default()
        };
        for _ in 0..n {
            let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
            let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            let us = (median_ms * 1000.0 * (0.3 * z).exp()) as u64;
            s.histogram.record(us);
            s.min_us = if s.requests == 0 { us } else { s.min_us.min(us) };
            s.max_us = s.max_us.max(us);
            s.requests += 1;
            s.sum_us += us;
        }
        s
    }

    fn results(requests: Vec<(String, Stats)>) -> Results {
        Results {
            schema: crate::metrics::results::SCHEMA.into(),
            schema_version: crate::metrics::results::SCHEMA_VERSION,
            schema_minor: crate::metrics::results::SCHEMA_MINOR,
            tool: Tool {
                name: "perfgate".into(),
                version: "test".into(),
            },
            gate: GateInfo {
                file: "g.yaml".into(),
                name: "g".into(),
                sha256: "same".into(),
            },
            commit: None,
            environment: Environment {
                os: "linux".into(),
                arch: "x86_64".into(),
                cpus: 2,
                cpu_model: None,
                boot_id: None,
                host_cpus: None,
            },
            started_at: "2026-01-01T00:00:00Z".into(),
            finished_at: "2026-01-01T00:00:30Z".into(),
            target: "http://127.0.0.1:1".into(),
            load: LoadInfo {
                model: crate::metrics::results::LoadModel::Closed,
                users: 10,
                spawn_rate: None,
                run_time_s: 30.0,
                grace_s: 5.0,
                scenarios: vec![],
                users_per_scenario: Default::default(),
                seed: 1,
                ramp_up_s: 0.0,
                duration_s: 30.0,
                peak_users: 10,
                abandoned_requests: 0,
                redirects_followed: 0,
                stages: vec![],
                generator: Default::default(),
                duet: None,
                rounds: 1,
                shard: None,
                shards: Vec::new(),
            },
            interrupted: false,
            requests: requests
                .into_iter()
                .map(|(name, steady)| RequestStats {
                    name,
                    method: crate::http::Method::Get,
                    lifecycle: false,
                    phases: Phases {
                        ramp_up: Stats::default(),
                        steady,
                    },
                })
                .collect(),
            tasks: vec![],
            series: vec![],
            server: None,
            verdict: None,
        }
    }

    fn policy(budgets: &[(&str, &str)], noise: f64) -> RegressionPolicy {
        RegressionPolicy {
            noise,
            min_effect_ms: 0.1,
            budgets: vec![Budget {
                select: Selector::Total,
                each: true,
                limits: budgets
                    .iter()
                    .map(|(m, b)| parse_limit(Metric::parse(m).unwrap(), b).unwrap())
                    .collect(),
                pos: Pos::default(),
            }],
            ..RegressionPolicy::default()
        }
    }

    fn one(policy: &RegressionPolicy, base: Stats, head: Stats, mode: Mode) -> Vec<Change> {
        let r = compare(
            policy,
            &results(vec![("GET /x".into(), base)]),
            &results(vec![("GET /x".into(), head)]),
            mode,
            false,
        );
        r.comparisons.iter().map(|c| c.change).collect()
    }

    /// Facts against a budget of 10, without a warning band or min_effect floor.
    fn facts(lo: f64, hi: f64, point: f64) -> Facts {
        Facts {
            lo,
            hi,
            point,
            fail: 10.0,
            warn: None,
            floor: None,
        }
    }

    #[test]
    fn classify_row_wholly_above_the_threshold_is_a_regression() {
        assert_eq!(classify(facts(10.5, 20.0, 15.0)), Change::Regression);
    }

    #[test]
    fn classify_row_straddling_the_threshold_is_inconclusive() {
        assert_eq!(classify(facts(5.0, 10.5, 8.0)), Change::Inconclusive);
        assert_eq!(classify(facts(10.0, 12.0, 10.0)), Change::Inconclusive);
    }

    #[test]
    fn classify_row_straddling_with_the_point_past_the_threshold_is_marginal() {
        assert_eq!(classify(facts(10.0, 12.0, 11.0)), Change::Marginal);
        assert_eq!(classify(facts(-5.0, 40.0, 17.5)), Change::Marginal);
        assert!(Change::Marginal.undecided() && Change::Inconclusive.undecided());
    }

    #[test]
    fn classify_row_wholly_better_is_an_improvement() {
        assert_eq!(classify(facts(-8.0, -1.0, -4.0)), Change::Improvement);
        // With a min_effect floor, a speed-up smaller than the floor is a pass, not an improvement
        // (an A/A run measured [-0.55 %, -0.11 %] and called it improved).
        let floor = |lo, hi, point| Facts {
            floor: Some(2.5),
            ..facts(lo, hi, point)
        };
        assert_eq!(classify(floor(-0.55, -0.11, -0.3)), Change::Pass);
        assert_eq!(classify(floor(-8.0, -3.0, -5.0)), Change::Improvement);
    }

    #[test]
    fn classify_row_within_the_threshold_past_the_warning_band_warns() {
        let f = Facts {
            warn: Some(4.0),
            ..facts(2.0, 8.0, 5.0)
        };
        assert_eq!(classify(f), Change::Warn);
        // The warning band reads the point, not the interval.
        let f = Facts {
            warn: Some(6.0),
            ..facts(2.0, 8.0, 5.0)
        };
        assert_eq!(classify(f), Change::Pass);
    }

    #[test]
    fn classify_row_within_the_threshold_passes() {
        assert_eq!(classify(facts(-2.0, 10.0, 4.0)), Change::Pass);
    }

    #[test]
    fn the_min_effect_floor_raises_the_threshold_and_never_rewards_weaker_evidence() {
        // The pair: budget +1 %, base 20 ms, min_effect 1 ms (+5 % here). Before, [+2 %, +7 %]
        // with a point of +0.9 ms passed while the weaker [-1 %, +6 %] was inconclusive; on the
        // bounds both straddle the +5 % floor.
        let floor = |lo, hi, point| Facts {
            fail: 1.0,
            floor: Some(5.0),
            ..facts(lo, hi, point)
        };
        assert_eq!(classify(floor(2.0, 7.0, 4.5)), Change::Inconclusive);
        assert_eq!(classify(floor(-1.0, 6.0, 2.5)), Change::Inconclusive);
        // Wholly above the floor: a regression; wholly below it: a pass, although past the budget.
        assert_eq!(classify(floor(5.5, 9.0, 7.0)), Change::Regression);
        assert_eq!(classify(floor(1.5, 4.5, 3.0)), Change::Pass);
        // A floor below the budget changes nothing.
        let low = Facts {
            floor: Some(2.0),
            ..facts(5.0, 10.5, 8.0)
        };
        assert_eq!(classify(low), Change::Inconclusive);
    }

    #[test]
    fn the_larger_min_effect_floor_applies_and_is_named() {
        let mut p = RegressionPolicy {
            min_effect_ms: 1.0,
            min_effect_relative: 0.03,
            ..RegressionPolicy::default()
        };
        // Base 20 ms: 1 ms is 5 %, above 3 %.
        let (f, name) = min_effect_floor(&p, Amount::Relative(0.01), 20.0);
        assert_eq!((f, name.as_str()), (Some(5.0), "min_effect 1 ms"));
        // Base 200 ms: 1 ms is 0.5 %, so 3 % applies; in an absolute budget it is 6 ms.
        assert_eq!(min_effect_floor(&p, Amount::Relative(0.01), 200.0).1, "min_effect 3%");
        let (f, _) = min_effect_floor(&p, Amount::Absolute(2.0), 200.0);
        assert!((f.unwrap() - 6.0).abs() < 1e-9);
        p.min_effect_ms = 0.0;
        p.min_effect_relative = 0.0;
        assert_eq!(
            min_effect_floor(&p, Amount::Relative(0.01), 20.0),
            (None, String::new())
        );
    }

    #[test]
    fn the_failing_budget_is_a_number_in_the_interval_unit() {
        let mut rng = SmallRng::seed_from_u64(6);
        let mut p = policy(&[("p95", "+1.5s"), ("avg", "+5%..+20%")], 0.0);
        p.min_samples = 1;
        let r = compare(
            &p,
            &results(vec![("GET /x".into(), sample(&mut rng, 500, 20.0))]),
            &results(vec![("GET /x".into(), sample(&mut rng, 500, 20.0))]),
            Mode::Duet,
            false,
        );
        let at: Vec<(f64, &str)> = r.comparisons.iter().map(|c| (c.fail_at, c.ci_unit.as_str())).collect();
        assert_eq!(at, vec![(1500.0, " ms"), (20.0, "%")]);
    }

    #[test]
    fn a_known_shift_is_detected() {
        let mut rng = SmallRng::seed_from_u64(1);
        let p = policy(&[("p95", "+10%"), ("avg", "+10%"), ("p50", "+10%")], 0.10);
        let base = sample(&mut rng, 5000, 20.0);
        let head = sample(&mut rng, 5000, 20.0 * 1.3);
        assert_eq!(
            one(&p, base.clone(), head.clone(), Mode::Duet),
            vec![Change::Regression; 3]
        );
        // Sequential allows 10 % of run-to-run noise: +30 % is still beyond +10 % + noise.
        assert_eq!(one(&p, base, head, Mode::Sequential), vec![Change::Regression; 3]);
    }

    #[test]
    fn identical_distributions_pass_and_a_speed_up_is_an_improvement() {
        let mut rng = SmallRng::seed_from_u64(2);
        let p = policy(&[("p95", "+20%"), ("avg", "+20%")], 0.10);
        let a = sample(&mut rng, 5000, 20.0);
        let b = sample(&mut rng, 5000, 20.0);
        assert_eq!(one(&p, a.clone(), b, Mode::Duet), vec![Change::Pass; 2]);
        let faster = sample(&mut rng, 5000, 10.0);
        assert_eq!(one(&p, a, faster, Mode::Duet), vec![Change::Improvement; 2]);
    }

    #[test]
    fn tiny_samples_are_inconclusive() {
        let mut rng = SmallRng::seed_from_u64(3);
        let p = policy(&[("p99", "+10%"), ("avg", "+10%")], 0.10);
        let base = sample(&mut rng, 10, 20.0);
        let head = sample(&mut rng, 10, 40.0);
        let c = compare(
            &p,
            &results(vec![("GET /x".into(), base)]),
            &results(vec![("GET /x".into(), head)]),
            Mode::Duet,
            false,
        );
        assert!(c.comparisons.iter().all(|c| c.change == Change::Inconclusive));
        assert!(
            c.comparisons[0].reason.contains("too few samples"),
            "{}",
            c.comparisons[0].reason
        );
    }

    #[test]
    fn sequential_budgets_within_the_noise_are_inconclusive_not_regressions() {
        let mut rng = SmallRng::seed_from_u64(4);
        let p = policy(&[("p95", "+5%")], 0.10);
        let base = sample(&mut rng, 20_000, 20.0);
        let head = sample(&mut rng, 20_000, 20.0 * 1.08);
        // Duet resolves an 8 % shift against a 5 % budget...
        assert_eq!(
            one(&p, base.clone(), head.clone(), Mode::Duet),
            vec![Change::Regression]
        );
        // ...sequential cannot tell it from run-to-run noise: past the budget on the estimate, so
        // marginal (undecided, never a pass), and it says so.
        let r = compare(
            &p,
            &results(vec![("GET /x".into(), base)]),
            &results(vec![("GET /x".into(), head)]),
            Mode::Sequential,
            false,
        );
        assert_eq!(r.comparisons[0].change, Change::Marginal);
        assert!(r.notes.iter().any(|n| n.contains("noise")), "{:?}", r.notes);
    }

    #[test]
    fn a_shard_compared_alone_is_said_to_be_a_share() {
        let mut rng = SmallRng::seed_from_u64(9);
        let base = results(vec![("GET /x".into(), sample(&mut rng, 500, 10.0))]);
        let mut head = results(vec![("GET /x".into(), sample(&mut rng, 500, 10.0))]);
        head.load.shard = Some(crate::metrics::results::ShardInfo {
            index: 1,
            count: 2,
            run_id: "r1".into(),
            run_seed: 1,
            start_at: None,
        });
        let r = compare(&RegressionPolicy::default(), &base, &head, Mode::Sequential, false);
        assert!(
            r.notes
                .iter()
                .any(|n| n.starts_with("head is shard 1/2 of run r1, a share of the load")),
            "{:?}",
            r.notes
        );
    }

    #[test]
    fn many_metrics_do_not_inflate_false_alarms() {
        // 100 A/A trials, each judging 10 request names x 3 metrics against budgets of +0 %: any
        // regression call is a false alarm. Bonferroni keeps the family-wise rate near 5 %; without it,
        // 30 comparisons at 95 % each would false-alarm in most trials.
        let mut rng = SmallRng::seed_from_u64(5);
        let p = policy(&[("p95", "+0%"), ("avg", "+0%"), ("p50", "+0%")], 0.0);
        let mut alarms = 0;
        for _ in 0..100 {
            let names: Vec<String> = (0..10).map(|i| format!("GET /r{i}")).collect();
            let base = results(names.iter().map(|n| (n.clone(), sample(&mut rng, 500, 20.0))).collect());
            let head = results(names.iter().map(|n| (n.clone(), sample(&mut rng, 500, 20.0))).collect());
            let r = compare(&p, &base, &head, Mode::Duet, false);
            assert_eq!(r.comparisons.len(), 30);
            if r.comparisons.iter().any(|c| c.change == Change::Regression) {
                alarms += 1;
            }
        }
        assert!(alarms <= 10, "{alarms} of 100 A/A trials raised a false alarm");
    }

    /// A regression result of one comparison named `name` with outcome `change`.
    fn judged(change: Change, delta: f64) -> Regression {
        let limit = parse_limit(Metric::Percentile(95.0), "+5%").unwrap();
        let mut c = comparison(
            "GET /x: p95 +5% vs base".into(),
            "GET /x",
            &limit,
            "%".into(),
            Pos::default(),
        );
        c.change = change;
        c.delta_pct = Some(delta);
        c.worse_ci = Some((delta - 2.0, delta + 2.0));
        c.reason = "worse by ...".into();
        Regression {
            mode: Mode::Duet,
            comparisons: vec![c],
            fail_on_inconclusive: false,
            confidence: 0.95,
            notes: vec![],
        }
    }

    #[test]
    fn a_regression_every_confirmation_window_finds_stays_one() {
        let mut r = judged(Change::Regression, 12.0);
        r.confirm_with(&[judged(Change::Regression, 11.0), judged(Change::Regression, 13.0)]);
        let c = &r.comparisons[0];
        assert_eq!(c.change, Change::Regression);
        assert_eq!(c.confirmations.len(), 2);
        assert!(c.reason.contains("confirmed in 2 of 2 fresh windows"), "{}", c.reason);
        assert!(
            c.reason.contains("window 3: REGRESSION +13.0% [+11.0%, +15.0%]"),
            "{}",
            c.reason
        );
        assert_eq!(r.failing().count(), 1);
    }

    #[test]
    fn a_regression_a_confirmation_window_does_not_find_does_not_fail() {
        let mut r = judged(Change::Regression, 12.0);
        r.confirm_with(&[judged(Change::Regression, 9.0), judged(Change::Pass, 1.0)]);
        let c = &r.comparisons[0];
        assert_eq!(c.change, Change::Inconclusive);
        assert!(c.reason.contains("not confirmed: 1 of 2"), "{}", c.reason);
        assert!(c.reason.contains("window 3: pass +1.0%"), "{}", c.reason);
        assert_eq!(r.failing().count(), 0);
        // Without windows nothing changes; what was not a regression is never re-judged.
        let mut p = judged(Change::Pass, 1.0);
        p.confirm_with(&[judged(Change::Regression, 20.0)]);
        assert_eq!(p.comparisons[0].change, Change::Pass);
        assert!(p.comparisons[0].confirmations.is_empty());
    }

    #[test]
    fn every_figure_is_signed_as_the_metric_moves() {
        // Throughput fell 1.6 % (worse by 1.6 in the decision's terms) under a `rps: -20%` budget.
        let d = Delta {
            base: 100.0,
            head: 98.4,
            point: 1.6,
            ci: Interval { lo: -0.5, hi: 3.7 },
            noise: 0.0,
            blocks: None,
            min_detectable: None,
            block_se: None,
            rounds: false,
        };
        let f = Facts {
            lo: -0.5,
            hi: 3.7,
            point: 1.6,
            fail: 20.0,
            warn: None,
            floor: None,
        };
        assert_eq!(
            describe(Change::Pass, &d, &f, "%", "", -1.0),
            "change -1.6% [-3.7%, +0.5%] is within the budget of -20.0%"
        );
        // A latency improvement reads the same way in the reason as in the interval column.
        let d = Delta {
            point: -4.5,
            ci: Interval { lo: -7.6, hi: -1.4 },
            ..d
        };
        assert_eq!(
            describe(Change::Improvement, &d, &f, " ms", "", 1.0),
            "better: change -4.5 ms [-7.6 ms, -1.4 ms]"
        );
    }
}
