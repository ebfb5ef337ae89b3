//! The results document assembled from what the engine measured, what was planned, and where the run
//! ran: a pure function, so the engine knows nothing of the file format, git or CI.

use super::results::{
    Duet, Environment, GateInfo, Generator, LoadInfo, Phases, RequestStats, Results, SeriesPoint, Side, TaskStats,
    Tool, SCHEMA, SCHEMA_VERSION,
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
    /// Whether the run was stopped early.
    pub interrupted: bool,
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
