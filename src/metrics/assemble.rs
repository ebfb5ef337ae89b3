//! The results document assembled from what the engine measured, what was planned, and where the run
//! ran: a pure function, so the engine knows nothing of the file format, git or CI.

use super::results::{
    Duet, Environment, GateInfo, Generator, LoadInfo, Phases, RequestStats, Results, SeriesPoint, Side, TaskStats,
    Tool, SCHEMA, SCHEMA_MINOR, SCHEMA_VERSION,
};
use crate::http::Method;
use std::time::SystemTime;

/// The load as planned, in the results' terms.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The planned load; what only the run can tell (ramp-up, duration, peak users, abandoned
    /// requests, generator health, duet) is filled in from the measurements.
    pub load: LoadInfo,
    /// Request names, in stats order, with their methods.
    pub names: Vec<(String, Method)>,
    /// Per request name: sent only by `on_start` or `on_stop` steps.
    pub lifecycle: Vec<bool>,
    /// Tasks as (scenario, task), in the recorder's task order.
    pub tasks: Vec<(String, String)>,
}

/// What the engine measured against one target.
#[derive(Debug, Clone, Default)]
pub struct TargetMeasurements {
    /// The target's base URL.
    pub target: String,
    /// Per request name (in [`Planned::names`] order), both phases.
    pub phases: Vec<Phases>,
    /// Per task (in [`Planned::tasks`] order): (runs, skipped).
    pub tasks: Vec<(u64, u64)>,
    /// Per interval.
    pub series: Vec<SeriesPoint>,
}

/// What one engine run measured: per-target snapshots, the generator's health, and timings.
#[derive(Debug, Clone)]
pub struct Measurements {
    /// Head first; in duet mode, base second.
    pub targets: Vec<TargetMeasurements>,
    /// How well the generator held the plan.
    pub generator: Generator,
    /// When load started.
    pub started_at: SystemTime,
    /// When the run (grace period included) ended.
    pub finished_at: SystemTime,
    /// Seconds until every user was running.
    pub ramp_up_s: f64,
    /// Seconds during which load ran.
    pub duration_s: f64,
    /// Most users running at once.
    pub peak_users: u32,
    /// Requests still in flight when the grace period ended.
    pub abandoned_requests: u64,
    /// Redirects followed to the target's host.
    pub redirects_followed: u64,
    /// Whether the run was stopped early.
    pub interrupted: bool,
}

impl Measurements {
    /// Appends the next round of a duet run in rounds: request stats and task counts add up, the
    /// series continues (its points tagged with `round`, times and running totals carried on), and
    /// the generator's health covers every round.
    pub fn append_round(&mut self, next: Measurements, round: u32) {
        let offset = self.duration_s;
        for (mine, theirs) in self.targets.iter_mut().zip(next.targets) {
            for (a, b) in mine.phases.iter_mut().zip(&theirs.phases) {
                a.ramp_up.merge(&b.ramp_up);
                a.steady.merge(&b.steady);
            }
            for (a, b) in mine.tasks.iter_mut().zip(&theirs.tasks) {
                a.0 += b.0;
                a.1 += b.1;
            }
            let before = mine.series.last().map(|p| p.cumulative.clone()).unwrap_or_default();
            mine.series.extend(theirs.series.into_iter().map(|mut p| {
                p.t = round3(p.t + offset);
                p.round = round;
                let c = &mut p.cumulative;
                let n = before.requests + c.requests;
                if n > 0 {
                    c.avg_ms = (before.avg_ms * before.requests as f64 + c.avg_ms * c.requests as f64) / n as f64;
                }
                if before.requests > 0 {
                    c.min_ms = if c.requests > 0 {
                        c.min_ms.min(before.min_ms)
                    } else {
                        before.min_ms
                    };
                    c.max_ms = c.max_ms.max(before.max_ms);
                }
                c.requests = n;
                c.failures += before.failures;
                c.bytes += before.bytes;
                p
            }));
        }
        let (g, h) = (&mut self.generator, next.generator);
        let weight = |a: Option<f64>, wa: f64, b: Option<f64>, wb: f64| match (a, b) {
            (Some(a), Some(b)) if wa + wb > 0.0 => Some((a * wa + b * wb) / (wa + wb)),
            (a, b) => a.or(b),
        };
        g.cpu_pct = weight(g.cpu_pct, self.duration_s, h.cpu_pct, next.duration_s);
        g.cpu_s = match (g.cpu_s, h.cpu_s) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        g.mean_lag_ms = weight(
            Some(g.mean_lag_ms),
            g.planned_sends as f64,
            Some(h.mean_lag_ms),
            h.planned_sends as f64,
        )
        .unwrap_or(0.0);
        g.planned_sends += h.planned_sends;
        g.late_sends += h.late_sends;
        g.max_lag_ms = g.max_lag_ms.max(h.max_lag_ms);
        g.arrivals += h.arrivals;
        g.dropped += h.dropped;
        g.queued += h.queued;
        if g.untrusted.is_none() {
            g.untrusted = h.untrusted.map(|why| format!("round {}: {why}", round + 1));
        }
        self.finished_at = next.finished_at;
        self.duration_s += next.duration_s;
        self.peak_users = self.peak_users.max(next.peak_users);
        self.abandoned_requests += next.abandoned_requests;
        self.redirects_followed += next.redirects_followed;
        self.interrupted |= next.interrupted;
    }
}

/// Where and by what a run ran: gathered at the edge (the app layer), not by the engine.
#[derive(Debug, Clone)]
pub struct Provenance {
    /// The writer.
    pub tool: Tool,
    /// The gate file.
    pub gate: GateInfo,
    /// The commit under test, when known.
    pub commit: Option<String>,
    /// The machine.
    pub environment: Environment,
}

impl Provenance {
    /// This build of perfgate, the given gate, commit and machine.
    pub fn new(gate: GateInfo, commit: Option<String>, environment: Environment) -> Provenance {
        Provenance {
            tool: Tool {
                name: "perfgate".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
            gate,
            commit,
            environment,
        }
    }
}

/// One results document per measured target (head first): a pure function of its inputs.
pub fn assemble(planned: &Planned, m: Measurements, p: &Provenance) -> Vec<Results> {
    let started = humantime::format_rfc3339_seconds(m.started_at).to_string();
    let finished = humantime::format_rfc3339_seconds(m.finished_at).to_string();
    let duet_id = (m.targets.len() > 1).then(|| format!("{}-{started}", planned.load.seed));
    m.targets
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            let requests = planned
                .names
                .iter()
                .zip(t.phases)
                .enumerate()
                .map(|(i, ((name, method), phases))| RequestStats {
                    name: name.clone(),
                    method: *method,
                    lifecycle: planned.lifecycle.get(i).copied().unwrap_or(false),
                    phases,
                })
                .collect();
            let tasks = planned
                .tasks
                .iter()
                .zip(t.tasks)
                .map(|((scenario, task), (runs, skipped))| TaskStats {
                    scenario: scenario.clone(),
                    task: task.clone(),
                    runs,
                    skipped,
                })
                .collect();
            Results {
                schema: SCHEMA.into(),
                schema_version: SCHEMA_VERSION,
                schema_minor: SCHEMA_MINOR,
                tool: p.tool.clone(),
                gate: p.gate.clone(),
                // The commit is head's; base's is not known here.
                commit: if i == 0 { p.commit.clone() } else { None },
                environment: p.environment.clone(),
                started_at: started.clone(),
                finished_at: finished.clone(),
                target: t.target,
                load: LoadInfo {
                    ramp_up_s: round3(m.ramp_up_s),
                    duration_s: round3(m.duration_s),
                    peak_users: m.peak_users,
                    abandoned_requests: m.abandoned_requests,
                    redirects_followed: m.redirects_followed,
                    generator: m.generator.clone(),
                    duet: duet_id.clone().map(|id| Duet {
                        id,
                        side: if i == 0 { Side::Head } else { Side::Base },
                    }),
                    ..planned.load.clone()
                },
                interrupted: m.interrupted,
                requests,
                tasks,
                series: t.series,
                server: None,
                verdict: None,
            }
        })
        .collect()
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::results::{Cumulative, Stats};

    fn round(requests: u64, seconds: usize) -> Measurements {
        let stats = Stats {
            requests,
            sum_us: requests * 1000,
            min_us: 1000,
            max_us: 1000,
            ..Stats::default()
        };
        let point = |t: usize| SeriesPoint {
            t: t as f64 + 1.0,
            dt: 1.0,
            users: 1,
            ramp_up: false,
            requests: requests / seconds as u64,
            failures: 0,
            p50_ms: 1.0,
            p95_ms: 1.0,
            p99_ms: 1.0,
            total_pct_ms: vec![],
            bytes: 0,
            cumulative: Cumulative {
                requests: requests / seconds as u64 * (t as u64 + 1),
                avg_ms: 1.0,
                min_ms: 1.0,
                max_ms: 1.0,
                ..Cumulative::default()
            },
            names: vec![],
            round: 0,
        };
        Measurements {
            targets: vec![TargetMeasurements {
                target: "http://127.0.0.1:1".into(),
                phases: vec![Phases {
                    ramp_up: Stats::default(),
                    steady: stats,
                }],
                tasks: vec![(requests, 0)],
                series: (0..seconds).map(point).collect(),
            }],
            generator: Generator {
                planned_sends: requests,
                late_sends: 1,
                max_lag_ms: 3.0,
                ..Generator::default()
            },
            started_at: SystemTime::UNIX_EPOCH,
            finished_at: SystemTime::UNIX_EPOCH,
            ramp_up_s: 0.5,
            duration_s: seconds as f64,
            peak_users: 1,
            abandoned_requests: 2,
            redirects_followed: 0,
            interrupted: false,
        }
    }

    #[test]
    fn rounds_add_up_and_the_series_goes_on_tagged_with_its_round() {
        let mut m = round(100, 10);
        m.append_round(round(50, 5), 1);
        let t = &m.targets[0];
        assert_eq!(t.phases[0].steady.requests, 150);
        assert_eq!(t.tasks[0], (150, 0));
        assert_eq!(t.series.len(), 15);
        assert_eq!((t.series[9].t, t.series[9].round), (10.0, 0));
        assert_eq!((t.series[10].t, t.series[10].round), (11.0, 1));
        assert_eq!(t.series[14].cumulative.requests, 150);
        assert_eq!((m.duration_s, m.abandoned_requests), (15.0, 4));
        assert_eq!((m.generator.planned_sends, m.generator.late_sends), (150, 2));
    }
}
