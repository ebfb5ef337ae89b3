//! The scheduler: spawns users at the spawn rate, stops them at the run time, collects each second.

use super::arrivals::Schedule;
use super::client::Connector;
use super::pace::Pacer;
use super::plan::{Plan, RowPick};
use super::user::{Endpoint, Shared, User};
use crate::http::{BaseUrl, TlsOptions};
use crate::metrics::assemble::{Measurements, TargetMeasurements};
use crate::metrics::health::{process_cpu_seconds, Health};
use crate::metrics::Recorder;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// What the engine reports once a second.
#[derive(Debug, Clone)]
pub struct Progress {
    /// Time since load started.
    pub elapsed: Duration,
    /// Planned run time.
    pub run_time: Duration,
    /// Users running.
    pub users: u32,
    /// Planned users (in `perfgate ui`, the latest user count asked for).
    pub planned_users: u32,
    /// Requests so far.
    pub requests: u64,
    /// Failures so far.
    pub failures: u64,
    /// Requests per second over the last interval.
    pub rps: f64,
    /// Failures per second over the last interval.
    pub failures_per_s: f64,
    /// Head's 95th percentile latency over the last interval, ms (0 without requests).
    pub p95_ms: f64,
    /// Reads the run's numbers so far, for a live view; the engine never waits for it.
    pub live: LiveSource,
}

/// A handle on the running engine's recorders, read only on demand (by a live view).
#[derive(Clone)]
pub struct LiveSource {
    shared: Arc<Shared>,
    bases: Vec<String>,
    start: Instant,
    started_at: SystemTime,
    cpu_start: Option<f64>,
    workers: usize,
    ramp_up_s: Option<f64>,
    peak_users: u32,
}

impl std::fmt::Debug for LiveSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveSource")
            .field("bases", &self.bases)
            .finish_non_exhaustive()
    }
}

impl LiveSource {
    /// What the run measured so far: per-target totals, the latest interval as the only series point,
    /// and the generator's health up to now.
    pub fn measurements(&self) -> Measurements {
        let elapsed = self.start.elapsed().as_secs_f64();
        let cpu_s = match (self.cpu_start, process_cpu_seconds()) {
            (Some(a), Some(b)) => Some(((b - a) * 100.0).round() / 100.0),
            _ => None,
        };
        let targets = self
            .shared
            .endpoints
            .iter()
            .zip(&self.bases)
            .map(|(e, base)| {
                let (phases, tasks, last) = e.recorder.live();
                TargetMeasurements {
                    target: base.clone(),
                    phases,
                    tasks,
                    series: last.into_iter().collect(),
                }
            })
            .collect();
        Measurements {
            targets,
            generator: self.shared.health.summary(cpu_s, elapsed, self.workers),
            started_at: self.started_at,
            finished_at: SystemTime::now(),
            ramp_up_s: self.ramp_up_s.unwrap_or(elapsed),
            duration_s: elapsed,
            peak_users: self.peak_users,
            abandoned_requests: 0,
            interrupted: false,
            redirects_followed: self.shared.redirects.load(Ordering::Relaxed),
        }
    }
}

/// A command to a running engine (`perfgate ui`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Ramp to this many users at the plan's spawn rate, starting or stopping one at a time (the
    /// closed model; the open model ignores it).
    Users(u32),
    /// Clear what was measured so far; the run goes on.
    Reset,
}

/// Why load could not run.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The target did not accept a connection before load started.
    #[error("cannot reach {url}: {detail}")]
    Unreachable {
        /// The base URL.
        url: String,
        /// The connection error.
        detail: String,
    },
    /// The input cannot run: a CA file that does not load, a server name TLS cannot use, a duet the
    /// engine cannot interleave.
    #[error("{0}")]
    Input(String),
}

/// Arrivals that may wait for a free connection, per scenario; beyond this they are dropped and counted.
pub const ARRIVAL_QUEUE: usize = 100_000;

/// How long the reachability check before the run may take.
pub const PREFLIGHT_TIMEOUT: Duration = Duration::from_secs(5);

/// Checks that a target accepts a connection (and a TLS handshake) before load starts.
pub async fn preflight(base: &BaseUrl, tls: &TlsOptions) -> Result<(), EngineError> {
    let connector = Connector::new(base, tls).map_err(EngineError::Input)?;
    let url = base.to_string();
    match tokio::time::timeout(PREFLIGHT_TIMEOUT, connector.connect()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(f)) => Err(EngineError::Unreachable { url, detail: f.detail }),
        Err(_) => Err(EngineError::Unreachable {
            url,
            detail: format!("no connection within {}s", PREFLIGHT_TIMEOUT.as_secs()),
        }),
    }
}

fn user_seed(seed: u64, user: u64) -> u64 {
    // splitmix64 of (seed, user): independent, reproducible streams per user.
    let mut z = seed ^ user.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Checks, before anything starts, that the engine can reach `base` with these TLS settings: the CA
/// file loads and the server name suits TLS. An error is the input's fault.
pub fn check_endpoint(base: &BaseUrl, tls: &TlsOptions) -> Result<(), String> {
    Connector::new(base, tls).map(|_| ())
}

/// Checks that connections can be opened from every source address (each is this machine's); an
/// error is the input's fault. A wrong one would otherwise fail every connection of the run.
pub fn check_sources(sources: &[std::net::IpAddr], target: &BaseUrl) -> Result<(), String> {
    // A target written as an address of the other family could never be reached from these.
    if let (Some(src), Ok(to)) = (sources.first(), target.host.parse::<std::net::IpAddr>()) {
        if src.is_ipv4() != to.is_ipv4() {
            let fam = |ip: &std::net::IpAddr| if ip.is_ipv4() { "IPv4" } else { "IPv6" };
            return Err(format!(
                "load.source_addresses: {src} is {} but the target {target} is {}: every connection would fail; give source addresses of the target's family (127.0.0.2 for 127.0.0.1, ::1 for [::1])",
                fam(src),
                fam(&to)
            ));
        }
    }
    for ip in sources {
        std::net::TcpListener::bind((*ip, 0)).map_err(|e| {
            format!(
                "load.source_addresses: cannot open connections from {ip}: {e}; give addresses of this machine (on Linux every 127.x.y.z is one; elsewhere add an alias, e.g. `sudo ifconfig lo0 alias 127.0.0.2` on macOS)"
            )
        })?;
    }
    Ok(())
}

/// Checks that the plan can drive `base` beside its own target in one duet; an error is the input's fault.
pub fn check_duet(plan: &Plan, base: &BaseUrl) -> Result<(), String> {
    if plan.open.is_some() {
        return Err(
            "duet mode needs the closed model (`users`): with an arrival rate, the second target's sends would wait for the first's".into(),
        );
    }
    if base.prefix != plan.base.prefix {
        return Err(format!(
            "duet mode needs the same path prefix on both targets: `{}` and `{}`",
            plan.base, base
        ));
    }
    Ok(())
}

/// Runs the plan to completion (or until `interrupt` resolves) and returns what it measured.
pub async fn run(
    plan: Arc<Plan>,
    progress: impl FnMut(&Progress),
    interrupt: impl Future<Output = ()>,
) -> Result<Measurements, EngineError> {
    run_endpoints(
        plan.clone(),
        std::slice::from_ref(&plan.base),
        progress,
        interrupt,
        None,
    )
    .await
}

/// Runs the plan like [`run`], also taking `commands` while it runs: a new user count, a reset.
pub async fn run_controlled(
    plan: Arc<Plan>,
    progress: impl FnMut(&Progress),
    interrupt: impl Future<Output = ()>,
    commands: mpsc::Receiver<Command>,
) -> Result<Measurements, EngineError> {
    run_endpoints(
        plan.clone(),
        std::slice::from_ref(&plan.base),
        progress,
        interrupt,
        Some(commands),
    )
    .await
}

/// Runs the plan against head and base in the same window (duet mode): every user drives both with the
/// same task and think-time sequence, alternating which goes first. Measurements: head first, base second.
pub async fn run_duet(
    plan: Arc<Plan>,
    base: BaseUrl,
    progress: impl FnMut(&Progress),
    interrupt: impl Future<Output = ()>,
) -> Result<Measurements, EngineError> {
    check_duet(&plan, &base).map_err(EngineError::Input)?;
    run_endpoints(plan.clone(), &[plan.base.clone(), base], progress, interrupt, None).await
}

async fn run_endpoints(
    plan: Arc<Plan>,
    bases: &[BaseUrl],
    mut progress: impl FnMut(&Progress),
    interrupt: impl Future<Output = ()>,
    mut commands: Option<mpsc::Receiver<Command>>,
) -> Result<Measurements, EngineError> {
    let started_at = SystemTime::now();
    let start = Instant::now();
    let cpu_start = process_cpu_seconds();
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let open = plan.open.is_some();
    let mut endpoints = Vec::new();
    for base in bases {
        check_sources(&plan.source_addresses, base).map_err(EngineError::Input)?;
        endpoints.push(Endpoint {
            recorder: Recorder::new(plan.names.clone(), plan.tasks.len(), workers, start.into_std(), open),
            connector: Connector::new(base, &plan.tls)
                .map_err(EngineError::Input)?
                .with_sources(&plan.source_addresses),
            host: hyper::header::HeaderValue::from_str(&base.authority)
                .map_err(|_| EngineError::Input(format!("invalid host `{}`", base.authority)))?,
            base: base.clone(),
        });
    }
    let shared = Arc::new(Shared {
        endpoints,
        health: Health::default(),
        timeout: plan.timeout,
        stopping: AtomicBool::new(false),
        in_flight: AtomicU64::new(0),
        counter: AtomicU64::new(1),
        redirects: AtomicU64::new(0),
        stopped_at: std::sync::OnceLock::new(),
        stop_spread: plan.grace / 2,
    });
    // Also when this future is dropped mid-run: the users see the stop.
    let _stop_on_drop = StopOnDrop(shared.clone());
    let active = Arc::new(AtomicU32::new(0));
    let peak = Arc::new(AtomicU32::new(0));
    let (stop_tx, stop_rx) = watch::channel(false);
    let deadline = start + plan.run_time;

    // Closed model: user k starts at k / spawn_rate. Open model: the whole pool starts at once and
    // arrivals wait in their scenario's queue for a free connection; the wait counts in their latency.
    let mut users: JoinSet<()> = JoinSet::new();
    let spawn_every = if plan.spawn_rate.is_finite() && !open {
        Duration::from_secs_f64(1.0 / plan.spawn_rate)
    } else {
        Duration::ZERO
    };
    // Arrivals are shared among scenarios like users are: by the scenario's share of the pool.
    let arrivals: Vec<Arc<Arrivals>> = match &plan.open {
        Some(o) => {
            let total = plan.assignment.len().max(1) as f64;
            (0..plan.scenarios.len())
                .map(|i| {
                    let users = plan.assignment.iter().filter(|&&a| a == i).count() as f64;
                    Arc::new(Arrivals::new(Schedule::scaled(&o.stages, users / total), start))
                })
                .collect()
        }
        None => Vec::new(),
    };
    // The open model's ramp-up is its first stage when that stage ramps up.
    let open_ramp = plan
        .open
        .as_ref()
        .and_then(|o| o.stages.first().filter(|s| s.to > s.from).map(|s| s.duration));
    let mut next_user = 0usize;
    // Closed model: how many users should run, and each running user's own stop (newest last).
    let mut target = plan.assignment.len();
    let mut running: Vec<watch::Sender<bool>> = Vec::new();
    let mut next_step = start;
    let mut ramp_up_s = None;
    let mut tick = tokio::time::interval_at(start + Duration::from_secs(1), Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_requests = 0u64;
    let mut last_failures = 0u64;
    let mut interrupted = false;
    tokio::pin!(interrupt);

    loop {
        // Start every user that is due; past a lowered target, stop the newest, at the same rate.
        while running.len() > target && Instant::now() >= next_step {
            if let Some(stop) = running.pop() {
                let _ = stop.send(true);
            }
            next_step += spawn_every;
        }
        while running.len() < target && Instant::now() >= next_step {
            let k = next_user;
            next_user += 1;
            let due = next_step;
            next_step += spawn_every;
            shared.health.user_due();
            let (own_stop, own_rx) = watch::channel(false);
            running.push(own_stop);
            let scenario_index = plan.assignment[k % plan.assignment.len().max(1)];
            let (plan, shared, active, peak) = (plan.clone(), shared.clone(), active.clone(), peak.clone());
            let mut stop = if open { stop_rx.clone() } else { own_rx };
            let arrivals = arrivals.get(scenario_index).cloned();
            users.spawn(async move {
                shared.health.user_began(Instant::now().saturating_duration_since(due));
                let scenario = &plan.scenarios[scenario_index];
                let row = plan.rows.get(k).copied().unwrap_or(RowPick::None);
                // `unique` data ran out: this user has no row and does not start.
                if row == RowPick::Exhausted {
                    return;
                }
                let n = active.fetch_add(1, Ordering::Relaxed) + 1;
                peak.fetch_max(n, Ordering::Relaxed);
                let mut user = User::new(&shared, scenario, user_seed(plan.seed, k as u64), k % 2 == 1);
                if let RowPick::Row(i) = row {
                    user.bind(i);
                }
                match arrivals {
                    None => user.run(stop).await,
                    Some(arrivals) => {
                        if user.start().await {
                            serve_arrivals(&arrivals, &mut user, &shared, &mut stop).await;
                        }
                    }
                }
                user.stop().await;
                active.fetch_sub(1, Ordering::Relaxed);
            });
        }
        let ramp_done = match open_ramp {
            Some(d) => start.elapsed() >= d,
            None => running.len() >= target,
        };
        if ramp_done && ramp_up_s.is_none() {
            ramp_up_s = Some(start.elapsed().as_secs_f64());
            shared.endpoints.iter().for_each(|t| t.recorder.end_ramp_up());
        }
        let far = deadline + Duration::from_secs(3600);
        let next_spawn = if running.len() != target { next_step } else { far };
        let command = async {
            match commands.as_mut() {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        let next_ramp = match (open_ramp, ramp_up_s) {
            (Some(d), None) => start + d,
            _ => far,
        };
        tokio::select! {
            _ = tokio::time::sleep_until(next_spawn.min(next_ramp).min(deadline)) => {
                if Instant::now() >= deadline { break; }
            }
            _ = tick.tick() => {
                let users = active.load(Ordering::Relaxed);
                shared.endpoints.iter().for_each(|t| t.recorder.collect(users));
                let (requests, failures) = shared.endpoints.iter().map(|t| t.recorder.counts()).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
                let p95_ms = shared.endpoints.first().map_or(0.0, |e| e.recorder.last_p95_ms());
                progress(&Progress {
                    elapsed: start.elapsed(),
                    run_time: plan.run_time,
                    users: active.load(Ordering::Relaxed),
                    planned_users: if open { plan.users } else { target as u32 },
                    requests,
                    failures,
                    rps: (requests - last_requests) as f64,
                    failures_per_s: (failures - last_failures) as f64,
                    p95_ms,
                    live: LiveSource {
                        shared: shared.clone(),
                        bases: bases.iter().map(|b| b.to_string()).collect(),
                        start,
                        started_at,
                        cpu_start,
                        workers,
                        ramp_up_s,
                        peak_users: peak.load(Ordering::Relaxed),
                    },
                });
                last_requests = requests;
                last_failures = failures;
            }
            c = command => match c {
                Some(Command::Users(n)) if !open => {
                    target = n as usize;
                    next_step = next_step.max(Instant::now());
                }
                Some(Command::Users(_)) => {}
                Some(Command::Reset) => {
                    shared.endpoints.iter().for_each(|t| t.recorder.reset());
                    (last_requests, last_failures) = (0, 0);
                }
                None => commands = None,
            },
            _ = &mut interrupt => {
                interrupted = true;
                break;
            }
        }
    }
    let duration_s = start.elapsed().as_secs_f64();
    if ramp_up_s.is_none() {
        shared.endpoints.iter().for_each(|t| t.recorder.end_ramp_up());
    }

    // Stop: no new request starts; in-flight requests and on_stop get the grace period, the users'
    // on_stop steps starting spread over its first half.
    let _ = shared.stopped_at.set(Instant::now());
    shared.stopping.store(true, Ordering::Relaxed);
    let _ = stop_tx.send(true);
    if !arrivals.is_empty() {
        // Planned: every arrival due before the stop, sent or still waiting for a connection.
        let at = (Instant::now().min(deadline) - start).as_secs_f64();
        let planned = arrivals.iter().map(|a| a.schedule.due(at)).sum();
        let dropped = arrivals.iter().map(|a| a.dropped.load(Ordering::Relaxed)).sum();
        shared.health.arrivals(planned, dropped);
    }
    running.iter().for_each(|s| {
        let _ = s.send(true);
    });
    let grace_end = Instant::now() + plan.grace;
    let mut abandoned = 0;
    loop {
        tokio::select! {
            next = users.join_next() => if next.is_none() { break },
            _ = tokio::time::sleep_until(grace_end) => {
                abandoned = shared.in_flight.load(Ordering::Relaxed);
                users.abort_all();
                while users.join_next().await.is_some() {}
                break;
            }
            _ = &mut interrupt, if !interrupted => {
                interrupted = true;
                abandoned = shared.in_flight.load(Ordering::Relaxed);
                users.abort_all();
                while users.join_next().await.is_some() {}
                break;
            }
        }
    }
    let users = active.load(Ordering::Relaxed);
    shared.endpoints.iter().for_each(|t| t.recorder.collect(users));
    let finished_at = SystemTime::now();
    let cpu_s = match (cpu_start, process_cpu_seconds()) {
        (Some(a), Some(b)) => Some(((b - a) * 100.0).round() / 100.0),
        _ => None,
    };
    let generator = shared.health.summary(cpu_s, start.elapsed().as_secs_f64(), workers);
    let targets = shared
        .endpoints
        .iter()
        .zip(bases)
        .map(|(e, base)| {
            let (phases, tasks, series) = e.recorder.snapshot();
            TargetMeasurements {
                target: base.to_string(),
                phases,
                tasks,
                series,
            }
        })
        .collect();
    Ok(Measurements {
        targets,
        generator,
        started_at,
        finished_at,
        ramp_up_s: ramp_up_s.unwrap_or(duration_s),
        duration_s,
        peak_users: peak.load(Ordering::Relaxed),
        abandoned_requests: abandoned,
        redirects_followed: shared.redirects.load(Ordering::Relaxed),
        interrupted,
    })
}

/// Sets the stop flag when dropped.
struct StopOnDrop(Arc<Shared>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stopping.store(true, Ordering::Relaxed);
    }
}

/// One scenario's share of the open model's arrivals: users claim them in order with one atomic
/// add, each waits for its own arrival's time and sends it (no dispatcher, queue or lock).
struct Arrivals {
    schedule: Schedule,
    start: Instant,
    /// Index of the next arrival to claim.
    next: AtomicU64,
    /// Arrivals skipped because more than [`ARRIVAL_QUEUE`] were waiting for a connection.
    dropped: AtomicU64,
}

impl Arrivals {
    fn new(schedule: Schedule, start: Instant) -> Arrivals {
        Arrivals {
            schedule,
            start,
            next: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    /// The planned time of the next unclaimed arrival, now this caller's; None when the schedule
    /// has no more. An arrival more than [`ARRIVAL_QUEUE`] behind the schedule is dropped: the
    /// backlog is cut to the queue's length and counted.
    fn claim(&self) -> Option<Instant> {
        loop {
            let k = self.next.fetch_add(1, Ordering::Relaxed);
            let intended = self.start + Duration::from_secs_f64(self.schedule.at(k)?);
            let now = Instant::now();
            // Cheap test first: a backlog that long is seconds behind at any rate.
            if now.saturating_duration_since(intended) < BACKLOG_CHECK {
                return Some(intended);
            }
            let due = self.schedule.due((now - self.start).as_secs_f64());
            let keep_from = due.saturating_sub(ARRIVAL_QUEUE as u64);
            if k >= keep_from {
                return Some(intended);
            }
            // Skip to the newest ARRIVAL_QUEUE arrivals; this one is dropped too.
            let mut cur = self.next.load(Ordering::Relaxed);
            let mut skipped = 1;
            while cur < keep_from {
                match self
                    .next
                    .compare_exchange(cur, keep_from, Ordering::Relaxed, Ordering::Relaxed)
                {
                    Ok(_) => {
                        skipped += keep_from - cur;
                        break;
                    }
                    Err(c) => cur = c,
                }
            }
            self.dropped.fetch_add(skipped, Ordering::Relaxed);
        }
    }
}

/// How late an arrival must be before [`Arrivals::claim`] looks at the backlog behind it.
const BACKLOG_CHECK: Duration = Duration::from_millis(100);

/// An open-model user's life after on_start: claim the next arrival, wait for its time on this
/// thread ([`Pacer`]), run a task; until the stop (a schedule that ends early leaves the user idle
/// until then, so on_stop comes at the end of the run).
async fn serve_arrivals(arrivals: &Arrivals, user: &mut User<'_>, shared: &Shared, stop: &mut watch::Receiver<bool>) {
    let mut pacer = Pacer::new();
    while let Some(intended) = arrivals.claim() {
        let now = Instant::now();
        if intended > now {
            tokio::select! {
                // The stop first: an arrival not yet due then is not a run.
                biased;
                _ = stop.wait_for(|s| *s) => return,
                _ = pacer.until(intended) => {}
            }
            // The user was free before the arrival's time: any lateness is the generator's own.
            shared
                .health
                .planned_send(Instant::now().saturating_duration_since(intended));
        } else {
            if *stop.borrow() {
                return;
            }
            // Every connection was busy: the arrival waited for this one, in its latency.
            shared.health.queued(now - intended);
        }
        user.task(Some(intended)).await;
    }
    let _ = stop.wait_for(|s| *s).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::Stage;

    fn constant(rate: f64, secs: u64) -> Schedule {
        Schedule::new(&[Stage {
            duration: Duration::from_secs(secs),
            from: rate,
            to: rate,
        }])
    }

    #[tokio::test]
    async fn users_claim_each_arrival_once_in_order() {
        let a = Arc::new(Arrivals::new(
            constant(1000.0, 2),
            Instant::now() + Duration::from_secs(60),
        ));
        let claimers: Vec<_> = (0..4)
            .map(|_| {
                let a = a.clone();
                std::thread::spawn(move || std::iter::from_fn(|| a.claim()).collect::<Vec<Instant>>())
            })
            .collect();
        let mut all: Vec<Instant> = claimers.into_iter().flat_map(|c| c.join().unwrap()).collect();
        assert_eq!(all.len(), 2000);
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 2000, "no arrival is claimed twice");
        assert_eq!(a.dropped.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn a_backlog_longer_than_the_queue_is_dropped_and_counted() {
        // 1,000,000 arrivals/s that started 1 s ago: about 1,000,000 are due, the queue keeps the
        // newest ARRIVAL_QUEUE of them.
        let start = Instant::now() - Duration::from_secs(1);
        let a = Arrivals::new(constant(1_000_000.0, 10), start);
        let first = a.claim().unwrap();
        let dropped = a.dropped.load(Ordering::Relaxed);
        let behind = (Instant::now() - first).as_secs_f64();
        // Time since the first claim looked at the clock, bounded by what has passed since `first`
        // fell 0.1 s behind.
        let behind_us = |first: Instant| ((Instant::now() - first).as_micros() as u64).saturating_sub(100_000);
        assert!((850_000..=950_000).contains(&dropped), "{dropped}");
        assert!(
            behind > 0.05 && behind < 1.0,
            "the oldest kept arrival is the queue's length behind: {behind} s"
        );
        // The next claim goes on from there: it drops only what fell due since (one per µs here).
        let before = Instant::now();
        a.claim().unwrap();
        let more = a.dropped.load(Ordering::Relaxed) - dropped;
        let since_us = (Instant::now() - before).as_micros() as u64 + behind_us(first);
        assert!(more <= since_us + 1, "{more} more dropped in {since_us} µs");
    }
}
