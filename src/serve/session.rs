//! The service session: the signal handlers, head's and base's services, their resource samplers, and
//! the guarantee that every service perfgate started is stopped, whatever way the run ends.
//!
//! Order matters: [`Signals`] is installed before any service starts, so a signal during the readiness
//! wait stops the service instead of orphaning it; the first signal asks for a graceful stop (reports
//! are written), the second kills every started process group and exits at once with code 3.

use super::resources::Sampler;
use super::{signal_group, ServeError, Service, Signal};
use crate::gate::Serve;
use crate::metrics::results::{ServerInfo, ServerSample, Side};
use std::path::Path;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The exit code a second signal ends the process with (an untrusted run).
pub const SECOND_SIGNAL_EXIT: i32 = 3;

/// Set once any stop signal has arrived in this process: nothing is started again after it (no retry).
static SIGNALLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether a stop signal has arrived since the process started.
pub fn signalled() -> bool {
    SIGNALLED.load(std::sync::atomic::Ordering::SeqCst)
}

/// The process's stop signals (SIGINT, SIGTERM, SIGHUP, SIGQUIT): the first asks for a graceful stop,
/// the second stops every registered process group and exits.
#[derive(Clone)]
pub struct Signals {
    count: watch::Receiver<u32>,
    groups: Arc<Mutex<Vec<u32>>>,
    /// What the first signal's line says it does (empty: nothing printed).
    notice: Arc<Mutex<&'static str>>,
}

/// What the first signal does during the run.
const RUN_NOTICE: &str = "perfgate: stopping: in-flight requests get the grace period, then reports are written (a second signal exits at once)";

/// The handlers installed in this process, once [`Signals::install`] ran.
static INSTALLED: std::sync::OnceLock<Signals> = std::sync::OnceLock::new();

impl Signals {
    /// The handlers already installed, or new ones (in a runtime).
    pub fn installed() -> Signals {
        match INSTALLED.get() {
            Some(s) => s.clone(),
            None => Signals::install(),
        }
    }

    /// Sets the line the first signal prints from now on (empty: none; the waiter says what stopped).
    pub fn on_first_say(&self, line: &'static str) {
        *self.notice.lock().unwrap_or_else(|e| e.into_inner()) = line;
    }

    /// Signals received so far.
    pub fn count(&self) -> u32 {
        *self.count.borrow()
    }

    /// Resolves once more than `seen` signals have arrived.
    pub async fn after(&self, seen: u32) {
        let mut rx = self.count.clone();
        let _ = rx.wait_for(|n| *n > seen).await;
    }

    /// Installs the handlers; call it before anything that must be stopped is started.
    pub fn install() -> Signals {
        let (tx, count) = watch::channel(0u32);
        let groups: Arc<Mutex<Vec<u32>>> = Arc::default();
        let registered = groups.clone();
        let notice: Arc<Mutex<&'static str>> = Arc::new(Mutex::new(RUN_NOTICE));
        let said = notice.clone();
        let (hit, mut hits) = tokio::sync::mpsc::unbounded_channel::<()>();
        listen(hit);
        tokio::spawn(async move {
            let mut n = 0;
            while hits.recv().await.is_some() {
                n += 1;
                SIGNALLED.store(true, std::sync::atomic::Ordering::SeqCst);
                let _ = tx.send(n);
                if n == 1 {
                    let line = *said.lock().unwrap_or_else(|e| e.into_inner());
                    if !line.is_empty() {
                        errln!("{line}");
                    }
                } else {
                    for pid in registered.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                        signal_group(*pid, Signal::Kill);
                    }
                    errln!("perfgate: second signal: started services stopped, exiting now; reports not written yet are not written");
                    std::process::exit(SECOND_SIGNAL_EXIT);
                }
            }
        });
        let signals = Signals { count, groups, notice };
        let _ = INSTALLED.set(signals.clone());
        signals
    }

    /// Resolves once the first signal has arrived (at once if it already has).
    pub async fn first(&self) {
        let mut rx = self.count.clone();
        // The sender lives as long as the handler task, i.e. the runtime.
        let _ = rx.wait_for(|n| *n >= 1).await;
    }

    /// Whether the first signal has arrived.
    pub fn received(&self) -> bool {
        *self.count.borrow() >= 1
    }

    fn register(&self, pid: u32) {
        self.groups.lock().unwrap_or_else(|e| e.into_inner()).push(pid);
    }

    fn unregister(&self, pid: u32) {
        self.groups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|p| *p != pid);
    }
}

/// Forwards every SIGINT, SIGTERM, SIGHUP and SIGQUIT to `hit`, from the moment this returns.
fn listen(hit: tokio::sync::mpsc::UnboundedSender<()>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let kinds = [
            SignalKind::interrupt(),
            SignalKind::terminate(),
            SignalKind::hangup(),
            SignalKind::quit(),
        ];
        for kind in kinds {
            // Registered here, synchronously: a signal that arrives before the task first runs is kept.
            let Ok(mut stream) = signal(kind) else { continue };
            let hit = hit.clone();
            tokio::spawn(async move {
                while stream.recv().await.is_some() {
                    if hit.send(()).is_err() {
                        break;
                    }
                }
            });
        }
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            if hit.send(()).is_err() {
                break;
            }
        }
    });
}

/// Why a service could not be started for the session.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The service failed to start or to become ready.
    #[error("{0}")]
    Serve(#[from] ServeError),
    /// A signal arrived while the service was starting; it was stopped.
    #[error("interrupted while the {0} was starting; it was stopped")]
    Interrupted(&'static str),
}

/// A started service, its sampler, and how it ended.
struct Running {
    service: Service,
    sampler: Option<SamplerThread>,
    exited: Option<String>,
}

/// What one side's service recorded, for the results.
pub type ServerInfos = (Option<ServerInfo>, Option<ServerInfo>);

/// The services of one run, head's and base's; stops them on drop.
pub struct Session {
    signals: Signals,
    head: Option<Running>,
    base: Option<Running>,
}

impl Session {
    /// A session with no service yet, stopped by `signals`.
    pub fn new(signals: Signals) -> Session {
        Session {
            signals,
            head: None,
            base: None,
        }
    }

    /// Starts one side's service on `port` and waits for readiness; a signal meanwhile stops it.
    pub async fn start(&mut self, side: Side, spec: &Serve, port: u16, log: &Path) -> Result<&Service, SessionError> {
        let which = match side {
            Side::Head => "service",
            Side::Base => "base service",
        };
        errln!(
            "perfgate: starting the {which}: {} (output: {})",
            spec.command.replace("{port}", &port.to_string()),
            log.display()
        );
        let service = tokio::select! {
            s = Service::start(spec, port, log) => s?,
            // Dropping the start future drops the half-started service, which kills its group.
            _ = self.signals.first() => return Err(SessionError::Interrupted(which)),
        };
        self.signals.register(service.pid());
        let slot = match side {
            Side::Head => &mut self.head,
            Side::Base => &mut self.base,
        };
        let running = slot.insert(Running {
            service,
            sampler: None,
            exited: None,
        });
        Ok(&running.service)
    }

    /// Starts sampling every service's process tree once a second, on a thread of its own (never on
    /// the load runtime's workers), with times counted from `load_start`.
    pub fn start_sampling(&mut self, load_start: Instant) {
        for r in [&mut self.head, &mut self.base].into_iter().flatten() {
            r.sampler = SamplerThread::spawn(r.service.pid(), load_start);
        }
    }

    /// The latest sample of head's service, while it is sampled (None when perfgate started none).
    pub fn head_sample(&self) -> Option<LatestSample> {
        self.head.as_ref()?.sampler.as_ref().map(|s| s.latest.clone())
    }

    /// Resolves when a started service exits, with its side and status (never, when none runs); the
    /// side's exit is recorded for its results.
    pub async fn exited(&mut self) -> (Side, String) {
        let (h, b) = (&mut self.head, &mut self.base);
        let head = async move {
            match h {
                Some(r) => r.service.exited().await,
                None => std::future::pending().await,
            }
        };
        let base = async move {
            match b {
                Some(r) => r.service.exited().await,
                None => std::future::pending().await,
            }
        };
        let (side, status) = tokio::select! {
            s = head => (Side::Head, s),
            s = base => (Side::Base, s),
        };
        let slot = match side {
            Side::Head => &mut self.head,
            Side::Base => &mut self.base,
        };
        if let Some(r) = slot {
            r.exited = Some(status.clone());
        }
        (side, status)
    }

    /// Stops the samplers and the services (SIGTERM, grace, SIGKILL) and returns what each side's
    /// service recorded: its samples, log, and exit status if it exited during the run.
    pub async fn finish(mut self) -> ServerInfos {
        let head = self.head.take();
        let base = self.base.take();
        let mut out = (None, None);
        for (side, r) in [(Side::Head, head), (Side::Base, base)] {
            let Some(mut r) = r else { continue };
            let samples = r.sampler.take().map(SamplerThread::stop).unwrap_or_default();
            // A service that died but was not awaited yet is noticed here.
            if r.exited.is_none() {
                r.exited = r.service.exit_status();
            }
            let what = match side {
                Side::Head => "the service",
                Side::Base => "the base service",
            };
            let exited = r
                .exited
                .take()
                .map(|status| format!("{what} exited during the run ({status})"));
            if exited.is_some() {
                errln!(
                    "  {what}'s last output ({}):\n{}",
                    r.service.log.display(),
                    r.service.tail()
                );
            }
            let info = ServerInfo {
                command: r.service.command.clone(),
                log: r.service.log.display().to_string(),
                samples,
                exited,
            };
            let pid = r.service.pid();
            r.service.stop().await;
            self.signals.unregister(pid);
            match side {
                Side::Head => out.0 = Some(info),
                Side::Base => out.1 = Some(info),
            }
        }
        out
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Early returns and panics: samplers end, and each Service's own drop kills its group.
        for r in [self.head.take(), self.base.take()].into_iter().flatten() {
            self.signals.unregister(r.service.pid());
        }
    }
}

/// The latest sample of a service's process tree, shared with a live view.
#[derive(Debug, Clone, Default)]
pub struct LatestSample(Arc<std::sync::Mutex<Option<ServerSample>>>);

impl LatestSample {
    /// The latest sample, if one was taken.
    pub fn get(&self) -> Option<ServerSample> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A thread sampling one process tree every second until stopped.
struct SamplerThread {
    stop: mpsc::Sender<()>,
    latest: LatestSample,
    handle: std::thread::JoinHandle<Vec<ServerSample>>,
}

impl SamplerThread {
    fn spawn(pid: u32, start: Instant) -> Option<SamplerThread> {
        let (stop, stopped) = mpsc::channel::<()>();
        let latest = LatestSample::default();
        let publish = latest.clone();
        let handle = std::thread::Builder::new()
            .name("perfgate-sampler".into())
            .spawn(move || {
                let mut sampler = Sampler::new(pid, start);
                loop {
                    if !sampler.sample() {
                        break;
                    }
                    if let Some(last) = sampler.samples.last() {
                        *publish.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(*last);
                    }
                    match stopped.recv_timeout(Duration::from_secs(1)) {
                        Err(mpsc::RecvTimeoutError::Timeout) => {}
                        _ => break,
                    }
                }
                sampler.samples
            })
            .ok()?;
        Some(SamplerThread { stop, latest, handle })
    }

    fn stop(self) -> Vec<ServerSample> {
        let _ = self.stop.send(());
        self.handle.join().unwrap_or_default()
    }
}
