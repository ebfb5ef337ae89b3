//! Latency and fault injection: the reference's per-route base latencies, and the knobs that change them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use rand::Rng;

use super::{api, lock, Demo, DemoOptions};

/// One route of the demo, named as perf gates name requests (`METHOD /path/{template}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Route {
    /// `GET /api/health` (also served at `GET /health`).
    Health,
    /// `GET /api/system/stats`.
    SystemStats,
    /// `GET /api/modules`.
    ListModules,
    /// `GET /api/modules/{module_id}`.
    GetModule,
    /// `GET /api/modules/{module_id}/config`.
    GetConfig,
    /// `POST /api/modules/{module_id}/config`.
    SaveConfig,
    /// `POST /api/modules/{module_id}/run`.
    Launch,
    /// `GET /api/runs`.
    ListRuns,
    /// `GET /api/runs/{run_id}`.
    GetRun,
    /// `DELETE /api/runs/{run_id}`.
    CancelRun,
    /// `GET /api/runs/{run_id}/logs`.
    RunLogs,
}

/// Every route of the demo, in the order of the reference's table.
pub const ROUTES: [Route; 11] = [
    Route::ListModules,
    Route::GetModule,
    Route::GetConfig,
    Route::SaveConfig,
    Route::Launch,
    Route::ListRuns,
    Route::GetRun,
    Route::CancelRun,
    Route::RunLogs,
    Route::Health,
    Route::SystemStats,
];

impl Route {
    /// The route's name, e.g. `GET /api/modules/{module_id}`.
    pub fn name(self) -> &'static str {
        match self {
            Route::Health => "GET /api/health",
            Route::SystemStats => "GET /api/system/stats",
            Route::ListModules => "GET /api/modules",
            Route::GetModule => "GET /api/modules/{module_id}",
            Route::GetConfig => "GET /api/modules/{module_id}/config",
            Route::SaveConfig => "POST /api/modules/{module_id}/config",
            Route::Launch => "POST /api/modules/{module_id}/run",
            Route::ListRuns => "GET /api/runs",
            Route::GetRun => "GET /api/runs/{run_id}",
            Route::CancelRun => "DELETE /api/runs/{run_id}",
            Route::RunLogs => "GET /api/runs/{run_id}/logs",
        }
    }

    /// The reference's per-endpoint baseline latency (its performance notes; 2 ms for a stats cache hit,
    /// whose misses add about 100 ms of CPU sampling; 8-10 ms for the routes the notes do not list).
    pub fn base_latency(self) -> Duration {
        Duration::from_millis(match self {
            Route::Health => 5,
            Route::SystemStats => 2,
            Route::ListModules => 15,
            Route::GetModule => 8,
            Route::GetConfig => 8,
            Route::SaveConfig => 12,
            Route::Launch => 25,
            Route::ListRuns => 10,
            Route::GetRun => 8,
            Route::CancelRun => 10,
            Route::RunLogs => 10,
        })
    }

    /// Finds a route by name; the method is case-insensitive and placeholder names do not matter
    /// (`GET /api/runs/{id}` finds `GET /api/runs/{run_id}`).
    pub fn find(text: &str) -> Option<Route> {
        let wanted = normalize(text)?;
        if wanted == "GET /health" {
            return Some(Route::Health);
        }
        ROUTES
            .into_iter()
            .find(|r| normalize(r.name()).as_deref() == Some(wanted.as_str()))
    }

    fn index(self) -> usize {
        ROUTES.iter().position(|r| *r == self).unwrap_or(0)
    }
}

fn normalize(text: &str) -> Option<String> {
    let mut words = text.split_whitespace();
    let method = words.next()?.to_ascii_uppercase();
    let path = words.next()?;
    if words.next().is_some() {
        return None;
    }
    let path = path.split('?').next().unwrap_or(path);
    let segments: Vec<&str> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            if s.starts_with('{') && s.ends_with('}') {
                "{}"
            } else {
                s
            }
        })
        .collect();
    Some(format!("{method} /{}", segments.join("/")))
}

/// A per-route slowdown: the route's base latency is multiplied by `factor`.
#[derive(Clone, Debug, PartialEq)]
pub struct RouteFactor {
    /// The route's canonical name, e.g. `GET /api/modules`.
    pub route: String,
    /// The multiplier (1.0 = unchanged).
    pub factor: f64,
}

/// The knobs compiled for the request path.
pub(crate) struct Knobs {
    /// KiB leaked per request.
    leak_kb: u64,
    latency: Duration,
    base: bool,
    /// Global slowdown times the route's own factor, by [`Route::index`].
    factors: [f64; ROUTES.len()],
    error_rate: f64,
    stall: Option<(Duration, Duration)>,
    epoch: Instant,
    /// CPU to burn per request, before the route's factor.
    cpu_work: Duration,
    /// Iterations of the burn loop per millisecond, measured when the knobs are built (0 without
    /// `cpu_work`).
    per_ms: f64,
}

impl Knobs {
    /// Compiles the options; invalid values are clamped rather than rejected (validation happens earlier).
    pub(crate) fn new(opts: &DemoOptions) -> Knobs {
        let slowdown = if opts.slowdown.is_finite() && opts.slowdown > 0.0 {
            opts.slowdown
        } else {
            1.0
        };
        let mut factors = [slowdown; ROUTES.len()];
        for rf in &opts.slow_routes {
            if let Some(route) = Route::find(&rf.route) {
                if rf.factor.is_finite() && rf.factor > 0.0 {
                    factors[route.index()] = slowdown * rf.factor;
                }
            }
        }
        let error_rate = if opts.error_rate.is_nan() {
            0.0
        } else {
            opts.error_rate.clamp(0.0, 1.0)
        };
        let stall = opts
            .stall_every
            .filter(|every| !every.is_zero() && !opts.stall_for.is_zero() && opts.stall_for < *every)
            .map(|every| (every, opts.stall_for));
        Knobs {
            per_ms: if opts.cpu_work.is_zero() {
                0.0
            } else {
                iterations_per_ms()
            },
            leak_kb: opts.leak_kb,
            latency: opts.latency,
            base: !opts.no_base_latency,
            factors,
            error_rate,
            stall,
            epoch: Instant::now(),
            cpu_work: opts.cpu_work,
        }
    }

    /// The global slowdown times the route's own factor.
    pub(crate) fn factor(&self, route: Route) -> f64 {
        self.factors[route.index()]
    }

    /// How long a request on `route` sleeps for its base latency (drawn `jitter` times the reference's)
    /// plus `extra`, both scaled by the route's slowdown; `None` when there is nothing to sleep.
    pub(crate) fn delay(&self, route: Route, extra: Duration, jitter: f64) -> Option<Duration> {
        if !self.base {
            return None;
        }
        let base = route.base_latency().as_secs_f64() * jitter + extra.as_secs_f64();
        let total = base * self.factor(route);
        (total > 0.0 && total.is_finite()).then(|| Duration::from_secs_f64(total.min(3600.0)))
    }

    /// How long a request arriving at `now` must wait for the current stall window to end.
    /// Windows start at the server's start and recur every `stall_every`.
    fn stall_wait(&self, now: Instant) -> Option<Duration> {
        let (every, stall_for) = self.stall?;
        let elapsed = now.saturating_duration_since(self.epoch).as_nanos();
        let phase = Duration::from_nanos((elapsed % every.as_nanos()) as u64);
        (phase < stall_for).then(|| stall_for - phase)
    }
}

/// Iterations of [`burn`] per millisecond of CPU on this machine, measured once per process.
///
/// Measured when the demo starts, before it listens: measured at the first request instead, each
/// process of a duet calibrated while the load (and the other process) was starting, and the one
/// that measured under more contention burned less per request for its whole life (a same-build
/// duet of the CPU demo read head 1.2 % faster than base in 15 of 20 trials).
pub fn iterations_per_ms() -> f64 {
    static RATE: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *RATE.get_or_init(|| {
        // The fastest of 20 samples of 2 ms: the machine's rate when nothing else runs.
        (0..20)
            .map(|_| {
                let start = Instant::now();
                let mut n = 0u64;
                while start.elapsed() < Duration::from_millis(2) {
                    burn(1_000);
                    n += 1_000;
                }
                n as f64 / start.elapsed().as_secs_f64() / 1000.0
            })
            .fold(1.0, f64::max)
    })
}

/// Spends CPU on `iterations` rounds of a hash chain the optimiser cannot remove.
fn burn(iterations: u64) -> u64 {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for i in 0..iterations {
        x = std::hint::black_box((x ^ i).wrapping_mul(0xBF58_476D_1CE4_E5B9).rotate_left(31));
    }
    x
}

impl Knobs {
    /// The CPU work of one request on `route`, in iterations of the burn loop (0 when the knob is off).
    pub(crate) fn cpu_iterations(&self, route: Route, jitter: f64) -> u64 {
        if self.cpu_work.is_zero() {
            return 0;
        }
        let ms = self.cpu_work.as_secs_f64() * 1000.0 * jitter * self.factor(route);
        (ms * self.per_ms) as u64
    }
}

impl Demo {
    /// Sleeps for the route's base latency (with ±20 % jitter, scaled by the slowdown knobs) plus `extra`
    /// (also scaled); nothing when base latencies are off.
    pub(crate) async fn pace(&self, route: Route, extra: Duration) {
        let work = self.knobs.cpu_iterations(route, lock(&self.rng).random_range(0.8..1.2));
        if work > 0 {
            // On the request's own worker thread, as a CPU-bound handler runs: others queue behind it.
            std::hint::black_box(burn(work));
        }
        if !self.knobs.base {
            return;
        }
        let jitter: f64 = lock(&self.rng).random_range(0.8..1.2);
        if let Some(delay) = self.knobs.delay(route, extra, jitter) {
            tokio::time::sleep(delay).await;
        }
    }
}

/// Most memory `--leak-kb` leaks; beyond it the demo stops growing (so a forgotten demo cannot exhaust RAM).
pub const LEAK_CAP: usize = 2 << 30;

impl Demo {
    /// Leaks `--leak-kb` KiB (touched, so it counts in RSS) and returns the extra latency the leak causes.
    fn leak(&self) -> Duration {
        let kb = self.knobs.leak_kb;
        if kb == 0 {
            return Duration::ZERO;
        }
        let mut leak = lock(&self.leak);
        let leaked: usize = leak.len() * kb as usize * 1024;
        if leaked < LEAK_CAP {
            leak.push(vec![0xA5u8; kb as usize * 1024].into_boxed_slice());
        }
        // 0.1 ms per leaked MiB: latency grows with the leak, like a registry scanned on every call.
        Duration::from_secs_f64(leaked as f64 / (1024.0 * 1024.0) * 0.0001)
    }
}

/// The middleware applying the knobs every request shares: stall windows, fixed latency, the leak, injected 500s.
pub(crate) async fn apply(State(demo): State<Arc<Demo>>, req: Request, next: Next) -> Response {
    let slower = demo.leak();
    if !slower.is_zero() {
        tokio::time::sleep(slower).await;
    }
    if let Some(wait) = demo.knobs.stall_wait(Instant::now()) {
        tokio::time::sleep(wait).await;
    }
    if !demo.knobs.latency.is_zero() {
        tokio::time::sleep(demo.knobs.latency).await;
    }
    if demo.knobs.error_rate > 0.0 {
        let roll: f64 = lock(&demo.rng).random();
        if roll < demo.knobs.error_rate {
            return api::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_ERROR",
                "Internal server error (injected by the demo's --error-rate)".to_string(),
            );
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {

    #[test]
    fn cpu_work_is_calibrated_work_scaled_by_the_route_factor() {
        let off = Knobs::new(&DemoOptions::default());
        assert_eq!(off.cpu_iterations(Route::ListModules, 1.0), 0);
        assert_eq!(off.per_ms, 0.0, "no calibration without --cpu-work");
        let k = Knobs::new(&DemoOptions {
            cpu_work: Duration::from_millis(4),
            slow_routes: vec![super::super::RouteFactor {
                route: "GET /api/modules".parse().unwrap(),
                factor: 1.10,
            }],
            ..DemoOptions::default()
        });
        // Calibrated when the knobs are built (before the demo listens), not by the first request.
        assert!(k.per_ms > 0.0);
        let (plain, slowed) = (
            k.cpu_iterations(Route::Health, 1.0),
            k.cpu_iterations(Route::ListModules, 1.0),
        );
        assert!(plain > 0);
        let ratio = slowed as f64 / plain as f64;
        assert!((ratio - 1.10).abs() < 0.001, "{ratio}");
        // The work is real: burning 4 ms worth takes at least a couple of milliseconds of this thread.
        let start = Instant::now();
        std::hint::black_box(burn(plain));
        assert!(start.elapsed() >= Duration::from_millis(2), "{:?}", start.elapsed());
    }

    use super::*;

    #[test]
    fn finds_routes_by_template() {
        assert_eq!(Route::find("GET /api/modules"), Some(Route::ListModules));
        assert_eq!(Route::find("get /api/runs/{id}"), Some(Route::GetRun));
        assert_eq!(Route::find("DELETE /api/runs/{run_id}/"), Some(Route::CancelRun));
        assert_eq!(Route::find("POST /api/modules/{x}/run"), Some(Route::Launch));
        assert_eq!(Route::find("GET /health"), Some(Route::Health));
        assert_eq!(Route::find("PUT /api/modules"), None);
        assert_eq!(Route::find("/api/modules"), None);
        assert_eq!(Route::find(""), None);
        for r in ROUTES {
            assert_eq!(Route::find(r.name()), Some(r));
        }
    }

    /// `d` in milliseconds, for comparisons that allow the float rounding of `from_secs_f64`.
    fn ms(d: Option<Duration>) -> f64 {
        d.map_or(-1.0, |d| d.as_secs_f64() * 1000.0)
    }

    fn assert_ms(got: Option<Duration>, want: f64, what: &str) {
        assert!((ms(got) - want).abs() < 1e-6, "{what}: {got:?}, expected {want} ms");
    }

    #[test]
    fn base_latency_is_the_reference_times_the_jitter() {
        let k = Knobs::new(&DemoOptions::default());
        assert_ms(k.delay(Route::Health, Duration::ZERO, 1.0), 5.0, "health");
        assert_ms(k.delay(Route::ListRuns, Duration::ZERO, 1.0), 10.0, "runs");
        assert_ms(
            k.delay(Route::ListModules, Duration::ZERO, 0.8),
            12.0,
            "modules, low jitter",
        );
        assert_ms(
            k.delay(Route::ListModules, Duration::ZERO, 1.2),
            18.0,
            "modules, high jitter",
        );
        // `extra` (e.g. the per-run sorting cost) is added after the jitter.
        assert_ms(
            k.delay(Route::ListRuns, Duration::from_millis(3), 0.8),
            11.0,
            "runs + 3 ms",
        );
    }

    #[test]
    fn slow_route_scales_only_its_route_and_multiplies_the_slowdown() {
        let k = Knobs::new(&DemoOptions {
            slow_routes: vec![RouteFactor {
                route: "GET /api/modules".into(),
                factor: 6.0,
            }],
            ..DemoOptions::default()
        });
        assert_ms(k.delay(Route::ListModules, Duration::ZERO, 1.0), 90.0, "slowed modules");
        assert_ms(k.delay(Route::Health, Duration::ZERO, 1.0), 5.0, "health untouched");
        assert_ms(k.delay(Route::ListRuns, Duration::ZERO, 1.0), 10.0, "runs untouched");
        assert_ms(
            k.delay(Route::GetModule, Duration::ZERO, 1.0),
            8.0,
            "a neighbouring route untouched",
        );

        let k = Knobs::new(&DemoOptions {
            slowdown: 2.0,
            slow_routes: vec![RouteFactor {
                route: "GET /api/modules".into(),
                factor: 1.5,
            }],
            ..DemoOptions::default()
        });
        assert_ms(
            k.delay(Route::ListModules, Duration::ZERO, 1.0),
            45.0,
            "2 x 1.5 x 15 ms",
        );
        assert_ms(k.delay(Route::Health, Duration::ZERO, 1.0), 10.0, "2 x 5 ms");
        assert_ms(
            k.delay(Route::ListRuns, Duration::from_millis(5), 1.0),
            30.0,
            "extra is scaled too",
        );
    }

    #[test]
    fn no_base_latency_means_no_delay_whatever_the_slowdown() {
        let k = Knobs::new(&DemoOptions {
            no_base_latency: true,
            slowdown: 4.0,
            slow_routes: vec![RouteFactor {
                route: "GET /api/modules".into(),
                factor: 6.0,
            }],
            ..DemoOptions::default()
        });
        for route in ROUTES {
            assert_eq!(k.delay(route, Duration::from_millis(5), 1.0), None, "{}", route.name());
        }
    }

    #[test]
    fn stall_windows_recur_from_the_start() {
        let opts = DemoOptions {
            stall_every: Some(Duration::from_secs(1)),
            stall_for: Duration::from_millis(300),
            ..DemoOptions::default()
        };
        let k = Knobs::new(&opts);
        let at = |ms| k.epoch + Duration::from_millis(ms);
        assert_eq!(k.stall_wait(at(100)), Some(Duration::from_millis(200)));
        assert_eq!(k.stall_wait(at(500)), None);
        assert_eq!(k.stall_wait(at(1_250)), Some(Duration::from_millis(50)));
    }
}
