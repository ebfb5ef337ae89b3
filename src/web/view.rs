//! What the page shows, as one JSON document per update: built from the results so far and the
//! verdict on them, so the live table has the final report's columns and numbers.

use crate::metrics::results::{Results, ServerSample};
use crate::report::{row, terminal};
use crate::verdict::Verdict;
use serde::Serialize;

/// Where the run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Nothing runs (`perfgate ui` before Start).
    Idle,
    /// Load is running: the checks are provisional.
    Running,
    /// The run ended: the verdict is final.
    Finished,
}

/// One point of the charts.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Point {
    /// Seconds since load started.
    pub t: f64,
    /// Requests per second over the interval.
    pub rps: f64,
    /// Failures per second over the interval.
    pub fps: f64,
    /// Latency percentiles over the interval, ms.
    pub p50: f64,
    /// 95th percentile, ms.
    pub p95: f64,
    /// 99th percentile, ms.
    pub p99: f64,
    /// Users running.
    pub users: u32,
    /// The started service's CPU, percent of one core.
    pub cpu: Option<f64>,
    /// The started service's resident memory, MiB.
    pub rss: Option<f64>,
}

/// One row of the live stats table (the final table's columns).
#[derive(Debug, Clone, Serialize)]
pub struct TableRow {
    /// Request name or `Aggregated`.
    pub name: String,
    /// Cells in column order, formatted as the terminal shows them.
    pub cells: Vec<String>,
}

/// One check as it stands.
#[derive(Debug, Clone, Serialize)]
pub struct CheckView {
    /// `pass`, `FAIL`, `marginal` or `NO DATA`.
    pub outcome: &'static str,
    /// The check's name.
    pub name: String,
    /// What was measured against the limit.
    pub message: String,
}

/// Everything one update of the page shows.
#[derive(Debug, Clone, Serialize)]
pub struct View {
    /// Where the run is.
    pub stage: Stage,
    /// The gate's name.
    pub gate: String,
    /// The target's base URL.
    pub target: String,
    /// Seconds of load so far, and planned.
    pub elapsed_s: f64,
    /// Planned run time, seconds.
    pub run_time_s: f64,
    /// Users running now, and planned.
    pub users: u32,
    /// Planned users.
    pub planned_users: u32,
    /// Column headers of the table.
    pub columns: Vec<&'static str>,
    /// The stats table: one row per request name, then `Aggregated`.
    pub rows: Vec<TableRow>,
    /// The latest interval.
    pub point: Option<Point>,
    /// Failures by kind, each request's line followed by its top reasons.
    pub failures: Vec<String>,
    /// The verdict's headline (provisional while running).
    pub headline: String,
    /// Whether the gate passes (so far).
    pub passed: bool,
    /// Every check, failing first.
    pub checks: Vec<CheckView>,
    /// The generator's health.
    pub generator: String,
    /// Why the generator's numbers cannot be trusted, if so.
    pub untrusted: Option<String>,
    /// The started service's resources, when perfgate started it.
    pub server: Option<String>,
    /// Whether the final HTML report can be downloaded.
    pub report: bool,
    /// The checks as they stood when someone asked to judge (`perfgate ui`'s Judge now).
    pub judged: Option<serde_json::Value>,
    /// What the controls last said (a run that could not start, for one).
    pub message: Option<String>,
}

/// The table's column headers, in the final table's order.
pub const COLUMNS: [&str; 13] = [
    "Name", "# reqs", "# fails", "fail %", "avg", "min", "max", "p50", "p90", "p95", "p99", "p99.9", "req/s",
];

/// What a run shows now: `users` running, the service's latest `server` sample.
#[derive(Debug, Clone, Copy, Default)]
pub struct Now {
    /// Users running.
    pub users: u32,
    /// Users asked for (None: the plan's).
    pub planned_users: Option<u32>,
    /// The started service's latest sample.
    pub server: Option<ServerSample>,
}

/// The view of `results` (so far, or final) judged by `verdict`.
pub fn view(stage: Stage, results: &Results, verdict: &Verdict, now: Now) -> View {
    let rows = row::rows(results)
        .into_iter()
        .map(|r| {
            let v = &r.values;
            let mut cells = vec![
                v.name.to_string(),
                v.requests.to_string(),
                v.failures.to_string(),
                format!("{:.2}", v.error_rate_pct),
            ];
            cells.extend(v.latencies_ms().iter().map(|(_, x)| row::ms(*x)));
            cells.push(format!("{:.1}", v.rps));
            TableRow {
                name: v.name.to_string(),
                cells,
            }
        })
        .collect();
    let point = results.series.last().map(|p| {
        let dt = if p.dt > 0.0 { p.dt } else { 1.0 };
        Point {
            t: p.t,
            rps: p.requests as f64 / dt,
            fps: p.failures as f64 / dt,
            p50: p.p50_ms,
            p95: p.p95_ms,
            p99: p.p99_ms,
            users: now.users,
            cpu: now.server.map(|s| s.cpu_pct),
            rss: now.server.map(|s| s.rss_mb),
        }
    });
    let server = match (&results.server, now.server) {
        (Some(_), _) => terminal::server_line(results),
        (None, Some(s)) => Some(format!(
            "service: CPU {:.0}% of one core, RSS {:.1} MB, {} open files, {} threads",
            s.cpu_pct, s.rss_mb, s.fds, s.threads
        )),
        (None, None) => None,
    };
    let headline = match stage {
        Stage::Finished => verdict.headline(),
        _ => format!("provisional: {}", verdict.headline()),
    };
    View {
        stage,
        gate: results.gate.name.clone(),
        target: results.target.clone(),
        elapsed_s: results.load.duration_s,
        run_time_s: results.load.run_time_s,
        users: now.users,
        planned_users: now.planned_users.unwrap_or(results.load.users),
        columns: COLUMNS.to_vec(),
        rows,
        point,
        failures: terminal::failure_lines(results),
        headline,
        passed: verdict.passed(),
        checks: crate::report::checks_failing_first(verdict)
            .into_iter()
            .map(|c| CheckView {
                outcome: c.outcome.label(),
                name: c.name.clone(),
                message: c.message(),
            })
            .collect(),
        generator: terminal::generator_line(results),
        untrusted: results.load.generator.untrusted.clone(),
        server,
        report: false,
        judged: None,
        message: None,
    }
}

/// The view of a page with no run yet (`perfgate ui` before Start).
pub fn idle(gate: &str, target: &str) -> View {
    View {
        stage: Stage::Idle,
        gate: gate.into(),
        target: target.into(),
        elapsed_s: 0.0,
        run_time_s: 0.0,
        users: 0,
        planned_users: 0,
        columns: COLUMNS.to_vec(),
        rows: Vec::new(),
        point: None,
        failures: Vec::new(),
        headline: "not started".into(),
        passed: true,
        checks: Vec::new(),
        generator: String::new(),
        untrusted: None,
        server: None,
        report: false,
        judged: None,
        message: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_the_final_columns_and_the_checks_are_provisional_while_running() {
        let r = Results::from_json("min", include_str!("../../tests/data/minimal-results.json")).unwrap();
        let v = crate::verdict::Verdict {
            checks: Vec::new(),
            no_data_fails: false,
            regression: None,
            notes: Vec::new(),
        };
        let running = view(Stage::Running, &r, &v, Now::default());
        assert!(running.headline.starts_with("provisional: "), "{}", running.headline);
        let last = running.rows.last().unwrap();
        assert_eq!(last.name, row::AGGREGATED);
        assert_eq!(last.cells.len(), COLUMNS.len());
        let total = r.total(true);
        assert_eq!(last.cells[1], total.requests.to_string());
        let done = view(Stage::Finished, &r, &v, Now::default());
        assert_eq!(done.headline, v.headline());
    }
}
