//! What the app prints on the terminal while it works: the gate outline, live progress, the results,
//! the verdict and the calibration table.

use crate::gate::Gate;
use crate::load::Progress;
use crate::metrics::results::Results;
use crate::report::terminal;
use crate::verdict;
use crate::verdict::compare::Mode;
use std::io::IsTerminal;
use std::time::Duration;

/// Prints what a validated gate would run.
pub fn print_outline(g: &Gate) {
    let l = &g.load;
    let rate = if l.spawn_rate.is_finite() {
        format!("{}/s", l.spawn_rate)
    } else {
        "all at once".into()
    };
    let run = crate::gate::duration::format_duration(l.run_time);
    match &l.open {
        Some(o) => outln!("  load: {}, run {run}", o.text()),
        None => outln!("  load: {} users, spawn {rate}, run {run}", l.users),
    }
    for s in g.selected_scenarios() {
        let (lo, hi) = s.think_time;
        let think = if hi.is_zero() {
            "no think time".to_string()
        } else {
            format!(
                "think {}..{}",
                crate::gate::duration::format_duration(lo),
                crate::gate::duration::format_duration(hi)
            )
        };
        outln!(
            "  scenario {} (weight {}, {think}): {}",
            s.name,
            s.weight,
            crate::verdict::count(s.tasks.len(), "task")
        );
    }
    outln!("  request names: {}", g.request_names().join(", "));
    let defaulted = |key: &str| g.defaults.iter().any(|(k, _)| k == key);
    outln!(
        "  timeout: {} per request{}",
        crate::gate::duration::format_duration(g.timeout),
        if defaulted("timeout") { " (default)" } else { "" }
    );
    let rest: Vec<_> = g.defaults.iter().filter(|(k, _)| k != "timeout").collect();
    if !rest.is_empty() {
        outln!("  defaults applied (the file leaves these out):");
        for (key, value) in rest {
            outln!("    {key}: {value}");
        }
    }
}

/// Prints the noise floor an A/A run measured for every budget, and which budgets it cannot resolve;
/// `served` is the ramp-up of a round when perfgate started both copies (None: `--baseline-host`).
pub fn print_calibration(gate: &Gate, a: &Results, b: &Results, served: Option<Duration>) {
    let reg = verdict::compare::compare(&gate.regression, a, b, Mode::Duet, gate.verdict.include_ramp_up);
    let pairs = match (b.load.rounds, served) {
        (0 | 1, None) => "one pair of processes: the noise between processes is not covered; let perfgate start both copies (--serve without --baseline-host) to run in rounds and include it".to_string(),
        (0 | 1, Some(ramp_up)) => format!(
            "one pair of processes: the noise between processes is not covered; a run of {} or more at this ramp-up goes in rounds, or set `regression.rounds`",
            crate::gate::duration::format_duration(super::run::rounds_run_time(ramp_up))
        ),
        (k, _) => format!("{k} rounds, each a fresh pair of processes: the noise between processes is covered"),
    };
    outln!("A/A calibration: two processes of the same build, interleaved ({pairs}). The noise floor is the widest change the intervals allow when nothing changed; a budget should sit above it.");
    if reg.comparisons.is_empty() {
        outln!("  the gate has no regression budgets to calibrate");
    }
    for c in &reg.comparisons {
        let (floor_text, verdict) = noise_floor(c);
        outln!(
            "  {:<50} noise floor {floor_text:<10} {verdict}",
            format!("{} {}", c.subject, c.metric)
        );
    }
}

/// The noise floor of one A/A comparison (the widest change its interval allows when nothing changed),
/// whether its budget can be resolved above it, and the smallest budget this run length supports.
fn noise_floor(c: &verdict::compare::Comparison) -> (String, String) {
    match c.worse_ci.map(|(lo, hi)| lo.abs().max(hi.abs())) {
        Some(f) => {
            // A budget a quarter above the floor leaves room for the floor's own run-to-run spread.
            let recommended = (f * 1.25 * 10.0).ceil() / 10.0;
            let advice = format!(
                "; recommended budget at this run length: at least +{recommended:.1}{}",
                c.ci_unit
            );
            (
                format!("±{f:.1}{}", c.ci_unit),
                if c.fail_at > f {
                    format!("resolvable{advice}")
                } else {
                    format!(
                        "WARNING: budget {} is below the noise floor{advice}, or run longer",
                        c.budget
                    )
                },
            )
        }
        None => ("unknown".into(), format!("inconclusive: {}", c.reason)),
    }
}

/// Prints the comparison with the baseline: one line per comparison, regressions first, then notes.
pub fn print_regression(r: &verdict::compare::Regression, file: &str) {
    outln!(
        "Compared with base ({}, {:.0}% confidence for all {} comparisons together):",
        match r.mode {
            Mode::Duet => "duet: loaded together",
            Mode::Sequential => "sequential: base ran earlier",
        },
        r.confidence * 100.0,
        r.comparisons.len()
    );
    let mut comps: Vec<_> = r.comparisons.iter().collect();
    comps.sort_by_key(|c| c.change.rank());
    for c in comps {
        let values = match (c.base, c.head) {
            (Some(b), Some(h)) => format!(
                "{}{} -> {}{}{}",
                verdict::fmt_value(b),
                c.unit,
                verdict::fmt_value(h),
                c.unit,
                c.delta_pct.map(|d| format!(" ({d:+.1}%)")).unwrap_or_default()
            ),
            _ => "-".into(),
        };
        let sensitivity = crate::report::sensitivity_text(c)
            .map(|s| format!("; {s}"))
            .unwrap_or_default();
        outln!(
            "  {:<12} {}: {values}; {}{sensitivity}  [{file}:{}]",
            c.change.label(),
            c.name,
            c.reason,
            c.pos.line
        );
    }
    for n in &r.notes {
        outln!("  note: {n}");
    }
}

/// Prints the verdict: headline, then every check with failures first.
pub fn print_verdict(v: &verdict::Verdict, file: &str) {
    outln!("Verdict: {}", v.headline());
    for c in crate::report::checks_failing_first(v) {
        outln!(
            "  {:<7} {}: {}  [{file}:{}]",
            c.outcome.label(),
            c.name,
            c.message(),
            c.pos.line
        );
    }
    for n in &v.notes {
        outln!("  note: {n}");
    }
    if let Some(r) = &v.regression {
        print_regression(r, file);
    }
}

/// Prints the run summary, stats table and failure lines.
pub fn print_results(r: &Results) {
    outln!("{}", terminal::run_summary(r));
    outln!("{}", terminal::generator_line(r));
    if let Some(line) = terminal::abandoned_line(r) {
        outln!("{line}");
    }
    if let Some(line) = terminal::server_line(r) {
        outln!("{line}");
    }
    outln!("{}", terminal::stats_table(r));
    if let Some(line) = terminal::phase_line(r) {
        outln!("  {line}");
    }
    for line in terminal::answer_lines(r) {
        outln!("  {line}");
    }
    if let Some(line) = terminal::network_line(r) {
        outln!("  {line}");
    }
    for line in terminal::failure_lines(r) {
        outln!("  {line}");
    }
}

/// Live progress: a bar on a terminal, a plain line every 10 s elsewhere (CI logs).
pub struct ProgressDisplay {
    bar: Option<indicatif::ProgressBar>,
    plain: bool,
    last_plain: Duration,
}

impl ProgressDisplay {
    pub fn new(quiet: bool, run_time: Duration) -> ProgressDisplay {
        let tty = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
        let bar = (!quiet && tty).then(|| {
            let bar = indicatif::ProgressBar::new(run_time.as_secs().max(1));
            if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len}s {msg}") {
                bar.set_style(style);
            }
            bar
        });
        ProgressDisplay {
            bar,
            plain: !quiet && !tty,
            last_plain: Duration::ZERO,
        }
    }

    pub fn update(&mut self, p: &Progress) {
        let msg = progress_text(p);
        if let Some(bar) = &self.bar {
            bar.set_position(p.elapsed.as_secs().min(p.run_time.as_secs()));
            bar.set_message(msg);
        } else if self.plain && p.elapsed >= self.last_plain + Duration::from_secs(10) {
            self.last_plain = p.elapsed;
            errln!("[{:>4}s/{}s] {msg}", p.elapsed.as_secs(), p.run_time.as_secs());
        }
    }

    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// The live line: users, counts, and the last second's rate, p95 and failures.
fn progress_text(p: &Progress) -> String {
    format!(
        "users {}/{}, {} requests ({} failed); now {:.1} req/s, p95 {} ms, {:.1} failures/s",
        p.users,
        p.planned_users,
        p.requests,
        p.failures,
        p.rps,
        crate::report::row::ms(p.p95_ms),
        p.failures_per_s
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::compare::{Change, Comparison};

    fn comparison(budget: &str, fail_at: f64, ci: (f64, f64)) -> Comparison {
        Comparison {
            name: format!("GET /x: avg {budget} vs base"),
            subject: "GET /x".into(),
            metric: "avg".into(),
            budget: budget.into(),
            fail_at,
            base: Some(20.0),
            head: Some(20.0),
            unit: " ms".into(),
            delta_pct: Some(0.0),
            worse_ci: Some(ci),
            higher_is_worse: true,
            ci_unit: " ms".into(),
            change: Change::Pass,
            reason: String::new(),
            samples: (100, 100),
            blocks: None,
            min_detectable: None,
            rounds: None,
            confirmations: Vec::new(),
            pos: crate::gate::Pos::default(),
        }
    }

    #[test]
    fn the_noise_floor_is_weighed_against_the_budget_in_the_interval_unit() {
        // `+1.5s` is 1500 ms: a ±100 ms floor is well below it (reading the text gave 1.5).
        let (floor, verdict) = noise_floor(&comparison("+1.5s", 1500.0, (-100.0, 80.0)));
        assert_eq!(
            (floor.as_str(), verdict.as_str()),
            (
                "±100.0 ms",
                "resolvable; recommended budget at this run length: at least +125.0 ms"
            )
        );
        let (_, verdict) = noise_floor(&comparison("+2ms", 2.0, (-3.0, 2.5)));
        assert_eq!(
            verdict,
            "WARNING: budget +2ms is below the noise floor; recommended budget at this run length: at least +3.8 ms, or run longer"
        );
    }
}
