//! The terminal report: a Locust-like table per request name with a total row.

use super::row::{ms, rows, StatsRow};
use crate::metrics::results::{Results, Stats};
use comfy_table::{presets, CellAlignment, Table, TableComponent};

fn cells(v: &StatsRow) -> Vec<String> {
    let fails = if v.requests > 0 {
        format!("{} ({:.1}%)", v.failures, v.error_rate_pct)
    } else {
        "0".into()
    };
    let mut cells = vec![v.name.to_string(), v.requests.to_string(), fails];
    cells.extend(v.latencies_ms().map(|(_, x)| ms(x)));
    cells.push(format!("{:.2}", v.rps));
    cells
}

/// The stats table of a run (every phase), one row per request name and a total.
pub fn stats_table(r: &Results) -> String {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_HORIZONTAL_ONLY);
    t.remove_style(TableComponent::HorizontalLines);
    t.remove_style(TableComponent::MiddleIntersections);
    t.set_header(vec![
        "Name", "# reqs", "# fails", "Avg ms", "Min ms", "Max ms", "p50 ms", "p90 ms", "p95 ms", "p99 ms", "p99.9 ms",
        "req/s",
    ]);
    for row in rows(r) {
        t.add_row(cells(&row.values));
    }
    for (i, col) in t.column_iter_mut().enumerate() {
        if i > 0 {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
    t.to_string()
}

/// What phase the stats table covers, when that differs from what the checks judge: the table shows
/// every phase (as Locust's does); checks and comparisons judge the steady phase unless a target
/// includes the ramp-up.
pub fn phase_line(r: &Results) -> Option<String> {
    // Saturating: a damaged results file must not overflow (counts this large are never real).
    let ramp = r
        .requests
        .iter()
        .fold(0u64, |a, q| a.saturating_add(q.phases.ramp_up.requests));
    if ramp == 0 {
        return None;
    }
    let steady = r.total(false);
    let secs = (r.load.duration_s - r.load.ramp_up_s).max(0.0);
    let steady_text = if secs < 1.0 {
        format!(
            "{} requests (the run ended with the ramp-up: lengthen `run_time`)",
            steady.requests
        )
    } else {
        format!(
            "{} requests over {secs:.1} s, {:.2} req/s",
            steady.requests,
            steady.requests as f64 / secs
        )
    };
    Some(format!(
        "the table covers the whole run, ramp-up included ({ramp} requests in its first {:.1} s); the checks judge the steady phase: {steady_text}",
        r.load.ramp_up_s
    ))
}

/// The status mix of the answers that counted as successes, when some were not 2xx (a gate whose every
/// request is redirected to a login page would otherwise pass without anyone seeing it), and the
/// task iterations (k6's `iterations`).
pub fn answer_lines(r: &Results) -> Vec<String> {
    let mut out = Vec::new();
    let total = r.total(true);
    let ok: Vec<(u16, u64)> = total
        .status_codes
        .iter()
        .map(|(c, n)| (*c, n.saturating_sub(total.failed_statuses.get(c).copied().unwrap_or(0))))
        .filter(|(_, n)| *n > 0)
        .collect();
    if ok.iter().any(|(c, _)| !(200..300).contains(c)) {
        let mix: Vec<String> = ok.iter().map(|(c, n)| format!("{c}: {n}")).collect();
        out.push(format!(
            "successful answers by status: {} (some outside 2xx passed: a request without `expect:` accepts any 2xx or 3xx, and a redirect to a login page is a 3xx)",
            mix.join(", ")
        ));
    }
    let runs = r.tasks.iter().fold(0u64, |a, t| a.saturating_add(t.runs));
    if runs > 0 {
        out.push(format!(
            "iterations: {runs} task runs, {:.2}/s",
            super::row::per_second(runs, r.load.duration_s)
        ));
    }
    out
}

/// One compact line on the wire and timing of all requests: bytes each way, new connections and the
/// time to open them, and the time to first byte beside the total time; None for results without them.
pub fn network_line(r: &Results) -> Option<String> {
    let all = rows(r);
    let net = super::row::net_rows(&all);
    let t = net.last()?;
    let mut parts = vec![format!(
        "network: sent {}, received {}",
        super::row::bytes_text(t.bytes_sent),
        super::row::bytes_text(t.bytes_received)
    )];
    if let (Some(avg), Some(max)) = (t.connect_avg_ms, t.connect_max_ms) {
        parts.push(format!(
            "{} new connections (connect avg {} ms, max {} ms)",
            t.connects,
            ms(avg),
            ms(max)
        ));
    }
    if let (Some(p50), Some(p95)) = (t.ttfb_p50_ms, t.ttfb_p95_ms) {
        parts.push(format!(
            "time to first byte p50 {} ms, p95 {} ms (total p95 {} ms)",
            ms(p50),
            ms(p95),
            ms(t.total_p95_ms)
        ));
    }
    Some(parts.join("; "))
}

/// Failure reasons shown per request name in the terminal, markdown and HTML (all in the results
/// JSON and the failures CSV).
pub const TOP_REASONS: usize = 3;

/// Lines on failures by kind, status and top reasons, and on skipped tasks, when there are any.
pub fn failure_lines(r: &Results) -> Vec<String> {
    let mut out = Vec::new();
    for q in &r.requests {
        let s = q.phases.all();
        if s.failures == 0 {
            continue;
        }
        let kinds: Vec<String> = s
            .failures_by_kind
            .iter()
            .map(|(k, n)| format!("{} {n}", k.label()))
            .collect();
        let codes: Vec<String> = s.status_codes.iter().map(|(c, n)| format!("{c}: {n}")).collect();
        let statuses = if codes.is_empty() {
            "no answer".to_string()
        } else {
            format!("statuses {}", codes.join(", "))
        };
        out.push(format!(
            "{}: {} failed ({}); {statuses}",
            q.name,
            s.failures,
            kinds.join(", ")
        ));
        // The top reasons, as the client said them.
        for r in s.top_reasons().into_iter().take(TOP_REASONS) {
            out.push(format!("{}: {} × {}: {}", q.name, r.count, r.kind.label(), r.reason));
        }
    }
    for t in &r.tasks {
        if t.skipped > 0 {
            out.push(format!(
                "{} / {}: skipped {} (a variable it reads was not set yet); ran {}",
                t.scenario,
                t.task,
                crate::verdict::times(t.skipped),
                crate::verdict::times(t.runs)
            ));
        }
    }
    out
}

/// One line on the generator: its CPU, how late planned sends were, and dropped arrivals.
pub fn generator_line(r: &Results) -> String {
    let g = &r.load.generator;
    let cores = match r.environment.cpus {
        1 => "1 core".to_string(),
        n => format!("{n} cores"),
    };
    let cpu = match (g.cpu_s, g.cpu_pct) {
        // A merge sums the shards' CPU and keeps the busiest machine's share (shards on one add up).
        (Some(s), Some(p)) if !r.load.shards.is_empty() => format!(
            "{s:.2} s CPU in {} (at most {p:.1}% of one machine's cores)",
            match r.load.shards.len() {
                1 => "1 shard".to_string(),
                n => format!("{n} shards"),
            }
        ),
        (Some(s), Some(p)) => format!("{s:.2} s CPU ({p:.1}% of {cores})"),
        _ => "CPU unknown".into(),
    };
    let mut line = format!(
        "generator: {cpu}; {} of {} planned sends late by more than 10 ms (max {:.1} ms)",
        g.late_sends, g.planned_sends, g.max_lag_ms
    );
    if g.late_after_unanswered > 0 {
        line.push_str(&format!(
            " (and {} of {} sends after an unanswered request, set apart: the service's timeouts woke those users together)",
            g.late_after_unanswered, g.after_unanswered
        ));
    }
    if r.load.model == crate::metrics::results::LoadModel::Open {
        line.push_str(&format!(
            "; {} arrivals, {} dropped (no free connection), {} waited for a connection",
            g.arrivals, g.dropped, g.queued
        ));
    }
    if r.load.model == crate::metrics::results::LoadModel::Open {
        let mut service = Stats::default();
        let mut total = Stats::default();
        for q in &r.requests {
            let s = q.phases.all();
            if let Some(h) = &s.service_histogram {
                service.histogram.add(h);
            }
            total.merge(&s);
        }
        let q = |s: &Stats, p: f64| ms(s.histogram.quantile_us(p) as f64 / 1000.0);
        line.push_str(&format!(
            "\nlatency from the planned send: p50 {} / p99 {} ms; service time from the actual send: p50 {} / p99 {} ms",
            q(&total, 0.5),
            q(&total, 0.99),
            q(&service, 0.5),
            q(&service, 0.99)
        ));
    }
    if let Some(why) = &g.untrusted {
        line.push_str(&format!("\n  UNTRUSTED: {why}"));
    }
    line
}

/// One line on the service perfgate started: CPU and memory (peak and mean), files, threads, its log.
pub fn server_line(r: &Results) -> Option<String> {
    let s = r.server.as_ref()?;
    let exited = s.exited.as_ref().map(|e| format!("; {e}")).unwrap_or_default();
    if s.samples.is_empty() {
        return Some(format!(
            "service: not sampled (it ran less than a second under load); output in {}{exited}",
            s.log
        ));
    }
    let n = s.samples.len() as f64;
    let peak = |f: fn(&crate::metrics::results::ServerSample) -> f64| s.samples.iter().map(f).fold(0.0, f64::max);
    // `+ 0.0` turns a -0.0 (an f64 sum starts there) into 0.
    let mean = |f: fn(&crate::metrics::results::ServerSample) -> f64| s.samples.iter().map(f).sum::<f64>() / n + 0.0;
    Some(format!(
        "service: CPU mean {:.0}% (peak {:.0}%) of one core, RSS mean {:.1} MB (peak {:.1} MB), up to {:.0} open files and {:.0} threads over {} samples; output in {}{exited}",
        mean(|x| x.cpu_pct),
        peak(|x| x.cpu_pct),
        mean(|x| x.rss_mb),
        peak(|x| x.rss_mb),
        peak(|x| x.fds as f64),
        peak(|x| x.threads as f64),
        s.samples.len(),
        s.log,
    ))
}

/// A line on the requests still in flight when the run ended: they are in no stats row, and they were
/// the slowest ones; None when there were none.
pub fn abandoned_line(r: &Results) -> Option<String> {
    let n = r.load.abandoned_requests;
    (n > 0).then(|| {
        let done = r.total(true).requests;
        let share = n as f64 * 100.0 / (done + n).max(1) as f64;
        format!(
            "abandoned: {n} requests ({share:.1}% of those sent) were still waiting for an answer when the grace period ended; they are in no row above, and they were the slowest"
        )
    })
}

/// One paragraph about the run: target, load, duration, ramp-up, seed.
pub fn run_summary(r: &Results) -> String {
    format!(
        "{} against {}: {}, ran {:.1}s of {:.0}s, ramp-up {:.1}s, seed {}{}{}",
        r.gate.name,
        r.target,
        super::load_words(r),
        r.load.duration_s,
        r.load.run_time_s,
        r.load.ramp_up_s,
        r.load.seed,
        match r.load.redirects_followed {
            0 => String::new(),
            n => format!(", {n} redirects followed (rows show the final status)"),
        },
        if r.interrupted { " (interrupted)" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::results::ServerInfo;

    #[test]
    fn a_service_with_no_sample_is_not_shown_as_minus_zero() {
        let mut r = Results::from_json("min", include_str!("../../tests/data/minimal-results.json")).unwrap();
        r.server = Some(ServerInfo {
            command: "x".into(),
            log: "x.log".into(),
            samples: Vec::new(),
            exited: None,
        });
        let line = server_line(&r).unwrap();
        assert!(!line.contains("-0"), "{line}");
        assert!(line.contains("not sampled"), "{line}");
    }
}
