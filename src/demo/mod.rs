//! The embedded demo backend: an in-memory reproduction of the PrismQ Web Client API (the reference
//! backend of `gates/prismq.yaml`), with knobs that make performance gates pass or fail on purpose.
//!
//! Layout: `data` holds the module catalogue and parameter validation, `runs` the run registry and
//! the background progression of runs, `stats` the cached system statistics, `knobs` the latency
//! and fault injection, `api` the HTTP handlers, and this file the options, the router and the server.

mod api;
mod data;
pub mod knobs;
mod runs;
mod stats;
mod time;

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use axum::routing::get;
use axum::Router;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

pub use knobs::{RouteFactor, ROUTES};

use crate::gate::duration::parse_duration;

/// Knobs of the demo backend.
#[derive(Clone, Debug, clap::Args)]
pub struct DemoOptions {
    /// Fixed latency added to every request (e.g. `20ms`).
    #[arg(long, default_value = "0ms", value_parser = parse_dur)]
    pub latency: Duration,
    /// Multiplies every route's base latency (1.0 = as the reference; 2.0 = twice as slow); no effect with `--no-base-latency`.
    #[arg(long, default_value_t = 1.0, value_parser = parse_slowdown)]
    pub slowdown: f64,
    /// Per-route slowdown, `"GET /api/modules=1.25"` (repeatable); route written as METHOD and the route template.
    #[arg(long = "slow-route", value_name = "ROUTE=FACTOR", value_parser = parse_route_factor)]
    pub slow_routes: Vec<RouteFactor>,
    /// Fraction of requests answered 500 (0.0..=1.0).
    #[arg(long, default_value_t = 0.0, value_parser = parse_error_rate)]
    pub error_rate: f64,
    /// Stall every request for `stall_for` during a window that recurs every `stall_every` (e.g. every 5s stall 500ms): requests arriving in the window wait until it ends.
    #[arg(long, value_parser = parse_dur)]
    pub stall_every: Option<Duration>,
    /// Length of each stall window (used with `--stall-every`).
    #[arg(long, default_value = "500ms", value_parser = parse_dur)]
    pub stall_for: Duration,
    /// Turn the reference base latencies off (answer as fast as possible).
    #[arg(long)]
    pub no_base_latency: bool,
    /// Seed for the demo's own randomness (failures, run outcomes).
    #[arg(id = "demo_seed", long = "demo-seed")]
    pub seed: Option<u64>,
    /// Leak this many KiB per request, and answer slower as the leak grows (0.1 ms per leaked MiB):
    /// a service that degrades over a run while every average may still pass.
    #[arg(long, value_name = "KIB", default_value_t = 0)]
    pub leak_kb: u64,
    /// Burn about this much CPU per request on the server's own threads (±20 % jitter, scaled by
    /// `--slowdown` and `--slow-route`): latency that comes from work, queueing behind other requests
    /// as a busy service's does, rather than from a sleep.
    #[arg(long, value_name = "DURATION", default_value = "0ms", value_parser = parse_dur)]
    pub cpu_work: Duration,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            latency: Duration::ZERO,
            slowdown: 1.0,
            slow_routes: Vec::new(),
            error_rate: 0.0,
            stall_every: None,
            stall_for: Duration::from_millis(500),
            no_base_latency: false,
            seed: None,
            leak_kb: 0,
            cpu_work: Duration::ZERO,
        }
    }
}

impl DemoOptions {
    /// Checks the knobs together; the message names the offending flag.
    pub fn validate(&self) -> Result<(), String> {
        check_slowdown(self.slowdown)?;
        if self.cpu_work > Duration::from_secs(1) {
            return Err(format!(
                "--cpu-work {:?} is more than 1s of CPU per request: the demo would serve almost nothing",
                self.cpu_work
            ));
        }
        check_error_rate(self.error_rate)?;
        let max_kb = (knobs::LEAK_CAP / 1024) as u64;
        if self.leak_kb > max_kb {
            return Err(format!(
                "--leak-kb {} is more than the {max_kb} KiB (2 GiB) the demo leaks in all: give at most {max_kb}",
                self.leak_kb
            ));
        }
        for rf in &self.slow_routes {
            knobs::Route::find(&rf.route).ok_or_else(|| unknown_route(&rf.route))?;
            check_factor(rf.factor, &rf.route)?;
        }
        if let Some(every) = self.stall_every {
            if every.is_zero() {
                return Err("--stall-every must be longer than zero".into());
            }
            if self.stall_for >= every {
                return Err(format!(
                    "--stall-for ({:?}) must be shorter than --stall-every ({:?}), or the demo would never answer",
                    self.stall_for, every
                ));
            }
        }
        Ok(())
    }
}

/// Parses a duration flag such as `20ms` or `1s`.
pub fn parse_dur(text: &str) -> Result<Duration, String> {
    parse_duration(text)
}

/// Parses `--slowdown`: a finite factor above zero.
pub fn parse_slowdown(text: &str) -> Result<f64, String> {
    let v: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("--slowdown expects a number such as 1.5, found `{text}`"))?;
    check_slowdown(v)?;
    Ok(v)
}

/// Parses `--error-rate`: a fraction between 0.0 and 1.0.
pub fn parse_error_rate(text: &str) -> Result<f64, String> {
    let v: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("--error-rate expects a fraction such as 0.05, found `{text}`"))?;
    check_error_rate(v)?;
    Ok(v)
}

/// Parses `--slow-route "GET /api/modules=1.25"`; placeholder names in the template do not matter.
pub fn parse_route_factor(text: &str) -> Result<RouteFactor, String> {
    let (route, factor) = text.rsplit_once('=').ok_or_else(|| {
        format!("--slow-route expects `METHOD /path/template=FACTOR` such as `GET /api/modules=1.25`, found `{text}`")
    })?;
    let known = knobs::Route::find(route).ok_or_else(|| unknown_route(route))?;
    let factor: f64 = factor
        .trim()
        .parse()
        .map_err(|_| format!("--slow-route `{text}`: the factor `{}` is not a number", factor.trim()))?;
    check_factor(factor, route)?;
    Ok(RouteFactor {
        route: known.name().to_string(),
        factor,
    })
}

fn check_slowdown(v: f64) -> Result<(), String> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(format!(
            "--slowdown must be a finite number above 0 (1.0 = as the reference), found {v}"
        ))
    }
}

fn check_error_rate(v: f64) -> Result<(), String> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(format!("--error-rate must be between 0.0 and 1.0, found {v}"))
    }
}

fn check_factor(v: f64, route: &str) -> Result<(), String> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(format!(
            "--slow-route `{}`: the factor must be a finite number above 0, found {v}",
            route.trim()
        ))
    }
}

fn unknown_route(route: &str) -> String {
    let known: Vec<&str> = ROUTES.iter().map(|r| r.name()).collect();
    format!(
        "--slow-route: unknown route `{}`; the demo's routes are: {}",
        route.trim(),
        known.join(", ")
    )
}

/// The shared state of one demo instance.
pub(crate) struct Demo {
    knobs: knobs::Knobs,
    catalogue: data::Catalogue,
    configs: Mutex<std::collections::HashMap<String, data::SavedConfig>>,
    runs: Arc<Mutex<runs::Registry>>,
    rng: Mutex<SmallRng>,
    stats: stats::StatsCache,
    started: Instant,
    /// Flips to `true` when the server stops; background run tasks watch it.
    stop: watch::Sender<bool>,
    /// Memory leaked on purpose by `--leak-kb` (bounded by [`knobs::LEAK_CAP`]).
    leak: Mutex<Vec<Box<[u8]>>>,
}

impl Demo {
    fn new(opts: &DemoOptions) -> Demo {
        let seed = opts.seed.unwrap_or_else(entropy);
        Demo {
            knobs: knobs::Knobs::new(opts),
            catalogue: data::Catalogue::generate(),
            configs: Mutex::new(Default::default()),
            runs: Arc::new(Mutex::new(runs::Registry::default())),
            rng: Mutex::new(SmallRng::seed_from_u64(seed)),
            stats: stats::StatsCache::default(),
            started: Instant::now(),
            stop: watch::channel(false).0,
            leak: Mutex::new(Vec::new()),
        }
    }

    /// Draws a fresh 64-bit value from the demo's generator (seeds per-run generators).
    fn draw(&self) -> u64 {
        use rand::Rng;
        lock(&self.rng).random()
    }
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A seed for unseeded runs: the standard library's per-process random hasher keys, mixed with the clock.
fn entropy() -> u64 {
    use std::hash::BuildHasher;
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0x5eed);
    std::collections::hash_map::RandomState::new().hash_one(nanos)
}

fn build(opts: &DemoOptions) -> (Router, Arc<Demo>) {
    let demo = Arc::new(Demo::new(opts));
    let app = Router::new()
        .route("/api/health", get(api::health))
        .route("/health", get(api::health))
        .route("/api/system/stats", get(api::system_stats))
        .route("/api/modules", get(api::list_modules))
        .route("/api/modules/{module_id}", get(api::get_module))
        .route(
            "/api/modules/{module_id}/config",
            get(api::get_config).post(api::save_config),
        )
        .route("/api/modules/{module_id}/run", axum::routing::post(api::launch))
        .route("/api/runs", get(api::list_runs))
        .route("/api/runs/{run_id}", get(api::get_run).delete(api::cancel_run))
        .route("/api/runs/{run_id}/logs", get(api::run_logs))
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(demo.clone(), knobs::apply))
        .with_state(demo.clone());
    // The description FastAPI would serve, outside the latency and fault knobs.
    let app = Router::new().route("/openapi.json", get(api::openapi)).merge(app);
    (app, demo)
}

/// The demo's axum application; invalid knobs are clamped to sane values (use [`DemoOptions::validate`] first).
pub fn router(opts: DemoOptions) -> Router {
    build(&opts).0
}

/// Signals the background run tasks to stop when dropped (also when the serving future is dropped).
struct StopOnDrop(Arc<Demo>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop.send_replace(true);
    }
}

/// Serves on an already bound listener until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    opts: DemoOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    opts.validate()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let (app, demo) = build(&opts);
    let _stop = StopOnDrop(demo);
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

/// A running demo on 127.0.0.1 with an OS-chosen port; stops when dropped (or via `stop().await`).
pub struct DemoServer {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl DemoServer {
    /// Validates the knobs, binds 127.0.0.1:0 and starts serving in a background task.
    pub async fn start(opts: DemoOptions) -> std::io::Result<DemoServer> {
        opts.validate()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, opts, async move {
            let _ = rx.await;
        }));
        Ok(DemoServer {
            addr,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops gracefully: in-flight requests finish (for at most 5 s), idle connections close.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(Duration::from_secs(5), &mut task).await.is_err() {
                task.abort();
            }
        }
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
