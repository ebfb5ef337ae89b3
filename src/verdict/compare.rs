//! Regression against a baseline: per budget, group and metric the base and head values, the change,
//! its confidence interval, and an outcome that says how sure perfgate is.

use super::stats::{self, Interval};
use crate::gate::budget::{worse_is_up, Amount, Budget, BudgetLimit};
use crate::gate::target::Metric;
use crate::gate::{Pos, RegressionPolicy};
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
}

impl Change {
    /// Order in reports: what needs attention first.
    pub fn rank(self) -> u8 {
        match self {
            Change::Regression => 0,
            Change::Inconclusive => 1,
            Change::Warn => 2,
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
        }
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
    /// Confidence interval of the change in the budget's unit (percent, ms or pp), positive = worse.
    pub worse_ci: Option<(f64, f64)>,
    /// Unit of `worse_ci`: `%`, ` ms` or ` pp`.
    pub ci_unit: String,
    /// The outcome.
    pub change: Change,
    /// Why, in a sentence.
    pub reason: String,
    /// Samples on each side (base, head).
    pub samples: (u64, u64),
    /// Where the budget is written.
    pub pos: Pos,
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
    /// Comparisons that fail the gate.
    pub fn failing(&self) -> impl Iterator<Item = &Comparison> {
        self.comparisons.iter().filter(|c| {
            c.change == Change::Regression || (c.change == Change::Inconclusive && self.fail_on_inconclusive)
        })
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
    }
    let noise = if mode == Mode::Duet { 0.0 } else { policy.noise };

    // Groups first, so the number of comparisons is known for the Bonferroni correction.
    let mut plan: Vec<(&Budget, String, Vec<usize>, Vec<usize>)> = Vec::new();
    for b in &policy.budgets {
        let head_idx: Vec<usize> = (0..head.requests.len())
            .filter(|&i| b.select.matches(&head.requests[i].name, head.requests[i].method))
            .collect();
        let find = |name: &str| base.requests.iter().position(|q| q.name == name);
        if b.each {
            for &i in &head_idx {
                let base_idx: Vec<usize> = find(&head.requests[i].name).into_iter().collect();
                plan.push((b, head.requests[i].name.clone(), vec![i], base_idx));
            }
        } else {
            let base_idx: Vec<usize> = (0..base.requests.len())
                .filter(|&i| b.select.matches(&base.requests[i].name, base.requests[i].method))
                .collect();
            plan.push((b, b.select.to_string(), head_idx, base_idx));
        }
    }
    let m: usize = plan.iter().map(|(b, ..)| b.limits.len()).sum::<usize>().max(1);
    let alpha = (1.0 - policy.confidence) / m as f64;
    let z_diff = stats::z_for(1.0 - alpha);
    let z_side = stats::z_for(1.0 - alpha / 2.0);

    let mut comparisons = Vec::new();
    for (budget, subject, head_idx, base_idx) in plan {
        let merge = |r: &Results, idx: &[usize]| {
            let mut s = Stats::default();
            for &i in idx {
                if include_ramp_up {
                    s.merge(&r.requests[i].phases.ramp_up);
                }
                s.merge(&r.requests[i].phases.steady);
            }
            s
        };
        let (bs, hs) = (merge(base, &base_idx), merge(head, &head_idx));
        let names_b: Vec<&str> = base_idx.iter().map(|&i| base.requests[i].name.as_str()).collect();
        let names_h: Vec<&str> = head_idx.iter().map(|&i| head.requests[i].name.as_str()).collect();
        for limit in &budget.limits {
            if let Metric::Server(m) = limit.metric {
                comparisons.push(judge_server(m, limit, base, head, noise, budget.pos, include_ramp_up));
                continue;
            }
            let ctx = Side {
                stats: (&bs, &hs),
                rps: (
                    rps_series(base, &names_b, include_ramp_up),
                    rps_series(head, &names_h, include_ramp_up),
                ),
            };
            comparisons.push(judge(policy, &subject, limit, &ctx, noise, z_side, z_diff, budget.pos));
        }
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

struct Side<'a> {
    stats: (&'a Stats, &'a Stats),
    rps: (Vec<f64>, Vec<f64>),
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
                .map(|n| n.requests)
                .sum();
            n as f64 / p.dt
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn judge(
    policy: &RegressionPolicy,
    subject: &str,
    limit: &BudgetLimit,
    side: &Side,
    noise: f64,
    z_side: f64,
    z_diff: f64,
    pos: Pos,
) -> Comparison {
    let (bs, hs) = side.stats;
    let metric = limit.metric;
    let up = worse_is_up(metric);
    let unit = metric.unit().to_string();
    let mut c = Comparison {
        name: format!("{subject}: {metric} {} vs base", limit.text),
        subject: subject.to_string(),
        metric: metric.to_string(),
        budget: limit.text.clone(),
        base: None,
        head: None,
        unit,
        delta_pct: None,
        worse_ci: None,
        ci_unit: match limit.fail {
            Amount::Relative(_) => "%".into(),
            Amount::Absolute(_) if metric == Metric::ErrorRate => " pp".into(),
            Amount::Absolute(_) => " ms".into(),
        },
        change: Change::Inconclusive,
        reason: String::new(),
        samples: (bs.requests, hs.requests),
        pos,
    };
    if bs.requests == 0 || hs.requests == 0 {
        c.reason = format!("no data: {} requests in base, {} in head", bs.requests, hs.requests);
        return c;
    }
    // Point values and per-side intervals.
    let (b, h, bi, hi): (f64, f64, Option<Interval>, Option<Interval>) = match metric {
        Metric::Percentile(p) => (
            bs.quantile_ms(p / 100.0),
            hs.quantile_ms(p / 100.0),
            stats::quantile_ci(bs, p / 100.0, z_side),
            stats::quantile_ci(hs, p / 100.0, z_side),
        ),
        Metric::Avg => (
            bs.mean_ms(),
            hs.mean_ms(),
            stats::mean_ci(bs, z_side),
            stats::mean_ci(hs, z_side),
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
                mean(&side.rps.0),
                mean(&side.rps.1),
                stats::series_mean_ci(&side.rps.0, z_side),
                stats::series_mean_ci(&side.rps.1, z_side),
            )
        }
        _ => (bs.error_rate_pct(), hs.error_rate_pct(), None, None),
    };
    c.base = Some(b);
    c.head = Some(h);
    if b > 0.0 {
        c.delta_pct = Some((h / b - 1.0) * 100.0);
    }
    let min_n = bs.requests.min(hs.requests);
    if min_n < policy.min_samples {
        c.reason = format!(
            "too few samples: {} in base, {} in head, {} needed",
            bs.requests, hs.requests, policy.min_samples
        );
        return c;
    }
    // The change in the budget's unit, positive = worse, with its interval.
    let (point, ci, noise_abs) = if metric == Metric::ErrorRate {
        let Some(d) = stats::proportion_diff_ci(bs, hs, z_diff) else {
            c.reason = "no data".into();
            return c;
        };
        (h - b, d, 0.0)
    } else {
        let (Some(bi), Some(hi)) = (bi, hi) else {
            c.reason = "too few samples or intervals to bound the change".into();
            return c;
        };
        if !(bi.hi.is_finite() && hi.hi.is_finite()) || bi.lo <= 0.0 {
            c.reason = format!(
                "too few samples to bound {metric} (base {}, head {})",
                bs.requests, hs.requests
            );
            return c;
        }
        match limit.fail {
            Amount::Relative(_) => {
                let (lo, hi_) = if up {
                    (hi.lo / bi.hi - 1.0, hi.hi / bi.lo - 1.0)
                } else {
                    (1.0 - hi.hi / bi.lo, 1.0 - hi.lo / bi.hi)
                };
                let point = if up { h / b - 1.0 } else { 1.0 - h / b };
                (
                    point * 100.0,
                    Interval {
                        lo: lo * 100.0,
                        hi: hi_ * 100.0,
                    },
                    noise * 100.0,
                )
            }
            Amount::Absolute(_) => {
                let (lo, hi_) = if up {
                    (hi.lo - bi.hi, hi.hi - bi.lo)
                } else {
                    (bi.lo - hi.hi, bi.hi - hi.lo)
                };
                let point = if up { h - b } else { b - h };
                (point, Interval { lo, hi: hi_ }, noise * b)
            }
        }
    };
    c.worse_ci = Some((ci.lo, ci.hi));
    let scale = |a: Amount| match a {
        Amount::Relative(r) => r * 100.0,
        Amount::Absolute(a) => a,
    };
    let fail = scale(limit.fail);
    let warn = limit.warn.map(scale);
    let (lo, hi) = (ci.lo - noise_abs, ci.hi + noise_abs);
    let allowance = if noise_abs > 0.0 {
        format!(" (with ±{noise_abs:.1}{} run-to-run noise allowed)", c.ci_unit)
    } else {
        String::new()
    };
    let abs_ms = (h - b).abs();
    // The worst change the interval allows, in ms: min_effect may clear a change only when even
    // that is below it (a tiny point estimate with a wide interval is not evidence of "no change").
    let worst_ms = match limit.fail {
        Amount::Relative(_) => b * (lo.abs().max(hi.abs())) / 100.0,
        Amount::Absolute(_) => lo.abs().max(hi.abs()),
    };
    if metric.is_latency() && lo > fail && abs_ms < policy.min_effect_ms {
        c.change = Change::Pass;
        c.reason = format!(
            "worse by {:.3} ms [{}, {}], but below min_effect {} ms",
            h - b,
            fmt(ci.lo, &c.ci_unit),
            fmt(ci.hi, &c.ci_unit),
            policy.min_effect_ms
        );
    } else if metric.is_latency() && worst_ms < policy.min_effect_ms && lo <= fail && hi > fail {
        c.change = Change::Pass;
        c.reason = format!(
            "change {} [{}, {}]: even the worst case, {worst_ms:.3} ms, is below min_effect {} ms",
            fmt(point, &c.ci_unit),
            fmt(ci.lo, &c.ci_unit),
            fmt(ci.hi, &c.ci_unit),
            policy.min_effect_ms
        );
    } else if lo > fail {
        c.change = Change::Regression;
        c.reason = format!(
            "worse by {} [{}, {}], beyond the budget of {}{allowance}",
            fmt(point, &c.ci_unit),
            fmt(ci.lo, &c.ci_unit),
            fmt(ci.hi, &c.ci_unit),
            fmt(fail, &c.ci_unit)
        );
    } else if hi <= fail {
        if hi < 0.0 {
            c.change = Change::Improvement;
            c.reason = format!(
                "better by {} [{}, {}]{allowance}",
                fmt(-point, &c.ci_unit),
                fmt(-ci.hi, &c.ci_unit),
                fmt(-ci.lo, &c.ci_unit)
            );
        } else if warn.is_some_and(|w| point > w) {
            c.change = Change::Warn;
            c.reason = format!(
                "worse by {}, above the warning band of {} but within the budget of {}",
                fmt(point, &c.ci_unit),
                fmt(warn.unwrap_or(0.0), &c.ci_unit),
                fmt(fail, &c.ci_unit)
            );
        } else {
            c.change = Change::Pass;
            c.reason = format!(
                "change {} [{}, {}] is within the budget of {}{allowance}",
                fmt(point, &c.ci_unit),
                fmt(ci.lo, &c.ci_unit),
                fmt(ci.hi, &c.ci_unit),
                fmt(fail, &c.ci_unit)
            );
        }
    } else {
        c.change = Change::Inconclusive;
        c.reason = if noise_abs > 0.0 && ci.hi <= fail {
            format!(
                "change {} [{}, {}] is within the budget of {}, but not once ±{noise_abs:.1}{} of run-to-run noise is allowed for",
                fmt(point, &c.ci_unit),
                fmt(ci.lo, &c.ci_unit),
                fmt(ci.hi, &c.ci_unit),
                fmt(fail, &c.ci_unit),
                c.ci_unit
            )
        } else {
            format!(
                "change {} [{}, {}] straddles the budget of {}{allowance}",
                fmt(point, &c.ci_unit),
                fmt(ci.lo, &c.ci_unit),
                fmt(ci.hi, &c.ci_unit),
                fmt(fail, &c.ci_unit)
            )
        };
    }
    c
}

/// A server metric, head against base: a point comparison (one value per run, no sampling
/// interval), with the run-to-run noise allowed for in sequential mode.
fn judge_server(
    m: crate::gate::target::ServerMetric,
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
    let mut c = Comparison {
        name: format!("server: {} {} vs base", limit.metric, limit.text),
        subject: "server".into(),
        metric: limit.metric.to_string(),
        budget: limit.text.clone(),
        base: None,
        head: None,
        unit: limit.metric.unit().to_string(),
        delta_pct: None,
        worse_ci: None,
        ci_unit: match limit.fail {
            Amount::Relative(_) => "%".into(),
            Amount::Absolute(_) => limit.metric.unit().to_string(),
        },
        change: Change::Inconclusive,
        reason: String::new(),
        samples: (0, 0),
        pos,
    };
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
    let (worse, fail, warn, allowance) = match limit.fail {
        Amount::Relative(f) => {
            if b <= 0.0 {
                c.reason = "the base value is 0: a relative budget cannot judge it".into();
                return c;
            }
            (
                (h / b - 1.0) * 100.0,
                f * 100.0,
                limit
                    .warn
                    .map(|w| if let Amount::Relative(w) = w { w * 100.0 } else { 0.0 }),
                noise * 100.0,
            )
        }
        Amount::Absolute(a) => (
            h - b,
            a,
            limit.warn.map(|w| if let Amount::Absolute(w) = w { w } else { 0.0 }),
            noise * b,
        ),
    };
    c.worse_ci = Some((worse - allowance, worse + allowance));
    let u = c.ci_unit.clone();
    if worse - allowance > fail {
        c.change = Change::Regression;
        c.reason = format!("worse by {}, beyond the budget of {}", fmt(worse, &u), fmt(fail, &u));
    } else if worse + allowance <= fail {
        c.change = if worse + allowance < 0.0 {
            Change::Improvement
        } else if warn.is_some_and(|w| worse > w) {
            Change::Warn
        } else {
            Change::Pass
        };
        c.reason = format!("change {} is within the budget of {}", fmt(worse, &u), fmt(fail, &u));
    } else {
        c.reason = format!(
            "change {} is within ±{} of the budget {}: run-to-run noise cannot be told apart",
            fmt(worse, &u),
            fmt(allowance, &u),
            fmt(fail, &u)
        );
    }
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
                stages: vec![],
                generator: Default::default(),
                duet: None,
            },
            interrupted: false,
            requests: requests
                .into_iter()
                .map(|(name, steady)| RequestStats {
                    name,
                    method: crate::http::Method::Get,
                    phases: Phases {
                        ramp_up: Stats::default(),
                        steady,
                    },
                })
                .collect(),
            tasks: vec![],
            series: vec![],
            server: None,
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
        // ...sequential cannot tell it from run-to-run noise, and says so.
        let r = compare(
            &p,
            &results(vec![("GET /x".into(), base)]),
            &results(vec![("GET /x".into(), head)]),
            Mode::Sequential,
            false,
        );
        assert_eq!(r.comparisons[0].change, Change::Inconclusive);
        assert!(r.notes.iter().any(|n| n.contains("noise")), "{:?}", r.notes);
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
}
