//! The run registry and the background progression of runs: queued -> running -> completed or failed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::sync::watch;

use super::data::{ModuleActivity, ModuleDef};
use super::lock;
use super::time::{iso, now_micros, stamp};

/// At most this many runs may be queued or running at once; further launches answer 409.
pub(crate) const MAX_ACTIVE: usize = 10;
/// The registry keeps at most this many runs; beyond it the oldest finished runs are forgotten.
const MAX_STORED: usize = 20_000;

/// A run's lifecycle state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RunStatus {
    Queued,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl RunStatus {
    /// Every status, in lifecycle order.
    pub(crate) const ALL: [RunStatus; 5] = [
        RunStatus::Queued,
        RunStatus::Running,
        RunStatus::Completed,
        RunStatus::Failed,
        RunStatus::Cancelled,
    ];

    /// The status's wire name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }

    /// Parses a wire name.
    pub(crate) fn parse(s: &str) -> Option<RunStatus> {
        RunStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Queued or running.
    pub(crate) fn is_active(self) -> bool {
        matches!(self, RunStatus::Queued | RunStatus::Running)
    }
}

/// One log line of a run.
#[derive(Clone, Debug)]
struct LogLine {
    at: u64,
    level: &'static str,
    message: String,
}

/// A log line as the API shows it.
#[derive(Serialize)]
pub(crate) struct LogView<'a> {
    timestamp: String,
    level: &'static str,
    message: &'a str,
}

/// One run of a module.
#[derive(Clone, Debug)]
pub(crate) struct Run {
    seq: u64,
    run_id: String,
    module_id: String,
    module_name: String,
    status: RunStatus,
    created: u64,
    started: Option<u64>,
    completed: Option<u64>,
    progress: u32,
    items_processed: u64,
    items_total: u64,
    exit_code: Option<i32>,
    error_message: Option<String>,
    parameters: Map<String, Value>,
    logs: Vec<LogLine>,
}

/// A run as the API shows it.
#[derive(Serialize)]
pub(crate) struct RunView<'a> {
    run_id: &'a str,
    module_id: &'a str,
    module_name: &'a str,
    status: RunStatus,
    created_at: String,
    started_at: Option<String>,
    completed_at: Option<String>,
    duration_seconds: Option<f64>,
    progress_percent: u32,
    items_processed: u64,
    items_total: u64,
    exit_code: Option<i32>,
    error_message: Option<&'a str>,
    parameters: &'a Map<String, Value>,
}

impl Run {
    /// The API view at time `now` (a running run's duration grows with `now`).
    pub(crate) fn view(&self, now: u64) -> RunView<'_> {
        let from = self.started.unwrap_or(self.created);
        let duration = match (self.status, self.completed) {
            (_, Some(end)) => Some(end.saturating_sub(from)),
            (RunStatus::Running, None) => Some(now.saturating_sub(from)),
            _ => None,
        };
        RunView {
            run_id: &self.run_id,
            module_id: &self.module_id,
            module_name: &self.module_name,
            status: self.status,
            created_at: iso(self.created),
            started_at: self.started.map(iso),
            completed_at: self.completed.map(iso),
            duration_seconds: duration.map(|us| (us as f64 / 10_000.0).round() / 100.0),
            progress_percent: self.progress,
            items_processed: self.items_processed,
            items_total: self.items_total,
            exit_code: self.exit_code,
            error_message: self.error_message.as_deref(),
            parameters: &self.parameters,
        }
    }

    /// The run's id.
    pub(crate) fn id(&self) -> &str {
        &self.run_id
    }

    /// How many log lines the run has.
    pub(crate) fn log_len(&self) -> usize {
        self.logs.len()
    }

    /// The last `tail` log lines.
    pub(crate) fn log_tail(&self, tail: usize) -> Vec<LogView<'_>> {
        let skip = self.logs.len().saturating_sub(tail);
        self.logs[skip..]
            .iter()
            .map(|l| LogView {
                timestamp: iso(l.at),
                level: l.level,
                message: &l.message,
            })
            .collect()
    }

    fn log(&mut self, at: u64, level: &'static str, message: String) {
        self.logs.push(LogLine { at, level, message });
    }
}

/// Run totals for the statistics endpoint.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Totals {
    pub created: u64,
    pub completed: u64,
    pub failed: u64,
    pub active: usize,
}

/// Why a cancel was refused.
pub(crate) enum CancelError {
    NotFound,
    Finished(RunStatus),
}

/// Every run the demo knows, in creation order, with counters kept up to date on each transition.
#[derive(Default)]
pub(crate) struct Registry {
    runs: Vec<Run>,
    index: HashMap<String, usize>,
    next_seq: u64,
    totals: Totals,
    cancelled: u64,
    modules: HashMap<String, ModuleActivity>,
}

impl Registry {
    /// Runs queued or running now.
    pub(crate) fn active(&self) -> usize {
        self.totals.active
    }

    /// Counters over all runs ever launched.
    pub(crate) fn totals(&self) -> Totals {
        self.totals
    }

    /// How many modules have an active run.
    pub(crate) fn busy_modules(&self) -> usize {
        self.modules.values().filter(|m| m.active > 0).count()
    }

    /// How many runs are stored.
    pub(crate) fn len(&self) -> usize {
        self.runs.len()
    }

    /// A module's live activity.
    pub(crate) fn activity(&self, module_id: &str) -> Option<&ModuleActivity> {
        self.modules.get(module_id)
    }

    /// The run with this id.
    pub(crate) fn get(&self, run_id: &str) -> Option<&Run> {
        self.index.get(run_id).and_then(|&i| self.runs.get(i))
    }

    fn get_mut(&mut self, run_id: &str) -> Option<&mut Run> {
        let i = *self.index.get(run_id)?;
        self.runs.get_mut(i)
    }

    /// Creates a queued run, unless [`MAX_ACTIVE`] runs are active already (then `None`).
    pub(crate) fn launch(
        &mut self,
        module: &ModuleDef,
        parameters: Map<String, Value>,
        items_total: u64,
        suffix: u64,
    ) -> Option<&Run> {
        if self.totals.active >= MAX_ACTIVE {
            return None;
        }
        let now = now_micros();
        let mut run_id = format!("run_{}_{}_{:08x}", stamp(now), module.id, suffix as u32);
        if self.index.contains_key(&run_id) {
            run_id = format!("{run_id}{:x}", self.next_seq);
        }
        let mut run = Run {
            seq: self.next_seq,
            run_id: run_id.clone(),
            module_id: module.id.clone(),
            module_name: module.name.clone(),
            status: RunStatus::Queued,
            created: now,
            started: None,
            completed: None,
            progress: 0,
            items_processed: 0,
            items_total,
            exit_code: None,
            error_message: None,
            parameters,
            logs: Vec::new(),
        };
        run.log(now, "INFO", format!("Run {run_id} queued for module '{}'", module.id));
        self.next_seq += 1;
        self.totals.created += 1;
        self.totals.active += 1;
        let act = self.modules.entry(module.id.clone()).or_default();
        act.active += 1;
        act.launched += 1;
        act.last_run = Some(now);
        if self.runs.len() >= MAX_STORED {
            self.evict();
        }
        self.index.insert(run_id, self.runs.len());
        self.runs.push(run);
        self.runs.last()
    }

    /// Forgets the oldest tenth of the finished runs and rebuilds the index.
    fn evict(&mut self) {
        let mut budget = MAX_STORED / 10;
        self.runs.retain(|r| {
            if budget > 0 && !r.status.is_active() {
                budget -= 1;
                false
            } else {
                true
            }
        });
        self.index = self
            .runs
            .iter()
            .enumerate()
            .map(|(i, r)| (r.run_id.clone(), i))
            .collect();
    }

    /// Moves an active run to a final status and updates the counters.
    fn finish(&mut self, run_id: &str, status: RunStatus, now: u64) {
        let Some(run) = self.get_mut(run_id) else { return };
        if !run.status.is_active() {
            return;
        }
        run.status = status;
        run.completed = Some(now);
        let module_id = run.module_id.clone();
        self.totals.active = self.totals.active.saturating_sub(1);
        let act = self.modules.entry(module_id).or_default();
        act.active = act.active.saturating_sub(1);
        match status {
            RunStatus::Completed => {
                self.totals.completed += 1;
                act.completed += 1;
            }
            RunStatus::Failed => {
                self.totals.failed += 1;
                act.failed += 1;
            }
            RunStatus::Cancelled => self.cancelled += 1,
            RunStatus::Queued | RunStatus::Running => {}
        }
    }

    /// Cancels a queued or running run.
    pub(crate) fn cancel(&mut self, run_id: &str) -> Result<&Run, CancelError> {
        let now = now_micros();
        let run = self.get_mut(run_id).ok_or(CancelError::NotFound)?;
        if !run.status.is_active() {
            return Err(CancelError::Finished(run.status));
        }
        run.error_message = Some("Cancelled by user".to_string());
        run.log(
            now,
            "WARNING",
            "Run cancelled by user; stopping the module process".to_string(),
        );
        self.finish(run_id, RunStatus::Cancelled, now);
        self.get(run_id).ok_or(CancelError::NotFound)
    }

    /// Sorts all runs newest first (on every call, as the reference does), then filters and pages them.
    /// Returns the number of matching runs and the requested page.
    pub(crate) fn list(
        &self,
        status: Option<RunStatus>,
        module_id: Option<&str>,
        offset: usize,
        limit: usize,
    ) -> (usize, Vec<&Run>) {
        let mut all: Vec<&Run> = self.runs.iter().collect();
        all.sort_by(|a, b| b.created.cmp(&a.created).then(b.seq.cmp(&a.seq)));
        let matching: Vec<&Run> = all
            .into_iter()
            .filter(|r| status.is_none_or(|s| r.status == s))
            .filter(|r| module_id.is_none_or(|m| r.module_id == m))
            .collect();
        let total = matching.len();
        (total, matching.into_iter().skip(offset).take(limit).collect())
    }
}

/// What a run will do, decided at launch so the background task needs no randomness.
pub(crate) struct Plan {
    queued_for: Duration,
    step_every: Duration,
    steps: Vec<Step>,
    failure: Option<&'static str>,
}

struct Step {
    items: u64,
    note: Option<(&'static str, String)>,
}

const FAILURES: &[&str] = &[
    "Upstream API returned 429 Too Many Requests after 3 retries",
    "Connection timed out while fetching page 4",
    "Upstream API returned 503 Service Unavailable",
    "Invalid response payload: missing field 'items'",
    "Authentication failed: the API key was rejected",
];

impl Plan {
    /// Draws a plan: 1-4 s in total, 0.1-0.4 s of it queued, 4-8 progress updates, about 10 % failures.
    pub(crate) fn draw(seed: u64, items_total: u64) -> Plan {
        let mut rng = SmallRng::seed_from_u64(seed);
        let total = rng.random_range(1.0..4.0);
        let queued = rng.random_range(0.1..0.4);
        let updates: u64 = rng.random_range(4..=8);
        let step_every = Duration::from_secs_f64((total - queued) / (updates + 1) as f64);
        let fail_at = rng.random_bool(0.1).then(|| rng.random_range(1..=updates));
        let mut steps = Vec::new();
        for k in 1..=updates {
            if fail_at.is_some_and(|f| k > f) {
                break;
            }
            let items = items_total * k / (updates + 1);
            let note = match rng.random_range(0..10) {
                0 => Some((
                    "WARNING",
                    format!("Rate limit approaching; backing off {} ms", rng.random_range(100..600)),
                )),
                1 | 2 => Some((
                    "DEBUG",
                    format!("Fetched page {k} ({} bytes)", rng.random_range(8_000..64_000)),
                )),
                _ => None,
            };
            steps.push(Step { items, note });
        }
        let failure = fail_at.map(|_| FAILURES[rng.random_range(0..FAILURES.len())]);
        Plan {
            queued_for: Duration::from_secs_f64(queued),
            step_every,
            steps,
            failure,
        }
    }
}

/// Sleeps for `d`, or returns `false` at once when the server stops.
async fn pause(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    if *stop.borrow() {
        return false;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = stop.wait_for(|stopped| *stopped) => false,
    }
}

/// Drives one run through its plan; returns early when the run is cancelled or forgotten, or the server stops.
pub(crate) async fn drive(runs: Arc<Mutex<Registry>>, run_id: String, plan: Plan, mut stop: watch::Receiver<bool>) {
    if !pause(plan.queued_for, &mut stop).await {
        return;
    }
    {
        let mut reg = lock(&runs);
        let Some(run) = reg.get_mut(&run_id).filter(|r| r.status == RunStatus::Queued) else {
            return;
        };
        let now = now_micros();
        run.status = RunStatus::Running;
        run.started = Some(now);
        let params = Value::Object(run.parameters.clone());
        let name = run.module_name.clone();
        run.log(now, "INFO", format!("Starting {name}"));
        run.log(now, "INFO", format!("Parameters: {params}"));
        run.log(now, "DEBUG", "Connecting to the upstream API".to_string());
    }
    for step in &plan.steps {
        if !pause(plan.step_every, &mut stop).await {
            return;
        }
        let mut reg = lock(&runs);
        let Some(run) = reg.get_mut(&run_id).filter(|r| r.status == RunStatus::Running) else {
            return;
        };
        let now = now_micros();
        run.items_processed = step.items;
        run.progress = percent(step.items, run.items_total);
        if let Some((level, text)) = &step.note {
            run.log(now, level, text.clone());
        }
        let msg = format!("Processed {}/{} items ({}%)", step.items, run.items_total, run.progress);
        run.log(now, "INFO", msg);
    }
    if !pause(plan.step_every, &mut stop).await {
        return;
    }
    let mut reg = lock(&runs);
    let Some(run) = reg.get_mut(&run_id).filter(|r| r.status == RunStatus::Running) else {
        return;
    };
    let now = now_micros();
    match plan.failure {
        Some(why) => {
            run.exit_code = Some(1);
            run.error_message = Some(why.to_string());
            run.log(now, "ERROR", why.to_string());
            run.log(now, "ERROR", "Module process exited with code 1".to_string());
            reg.finish(&run_id, RunStatus::Failed, now);
        }
        None => {
            run.items_processed = run.items_total;
            run.progress = 100;
            run.exit_code = Some(0);
            let msg = format!("Collected {} items", run.items_total);
            run.log(now, "INFO", msg);
            run.log(now, "INFO", "Module process exited with code 0".to_string());
            reg.finish(&run_id, RunStatus::Completed, now);
        }
    }
}

fn percent(done: u64, total: u64) -> u32 {
    done.saturating_mul(100).checked_div(total).unwrap_or(0).min(100) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How long after launch `drive` gives a run its final status: the queue, then one pause per
    /// step and one before the end.
    fn lasts(plan: &Plan) -> Duration {
        plan.queued_for + plan.step_every * (plan.steps.len() as u32 + 1)
    }

    #[test]
    fn a_plan_lasts_one_to_four_seconds_and_a_failure_ends_it_early() {
        let mut failed = 0;
        for seed in 0..1_000 {
            let plan = Plan::draw(seed, 10);
            let took = lasts(&plan);
            assert!(
                (Duration::from_millis(100)..Duration::from_millis(400)).contains(&plan.queued_for),
                "seed {seed}: queued for {:?}",
                plan.queued_for
            );
            if plan.failure.is_some() {
                failed += 1;
                assert!(
                    took < Duration::from_secs(4),
                    "seed {seed}: a failed run lasts {took:?}"
                );
            } else {
                assert!(
                    (4..=8).contains(&plan.steps.len()),
                    "seed {seed}: {} steps",
                    plan.steps.len()
                );
                // Float rounding of the step length may shave a few nanoseconds off the drawn total.
                let (low, high) = (Duration::from_millis(999), Duration::from_secs(4));
                assert!(
                    (low..high).contains(&took),
                    "seed {seed}: a completed run lasts {took:?}"
                );
            }
        }
        assert!(
            (60..=140).contains(&failed),
            "{failed} of 1000 plans fail, expected about 10 %"
        );
    }
}
