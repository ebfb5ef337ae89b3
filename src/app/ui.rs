//! `perfgate ui`: the live view with a form (users, spawn rate, host, scenarios, run time), Start,
//! Stop, a new user count while running, Reset stats and Judge now; one run at a time, each bounded
//! by `--max-run-time`.

use super::live::WebOptions;
use super::run::{run_ui, LoadOptions, RunOptions};
use super::{Error, Outcome};
use crate::gate::Gate;
use crate::load::engine::Command;
use crate::serve::Signals;
use crate::web::{self, Control, Feed, StartForm};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// The page's controls of one running engine: its command channel (taken once) and its stop.
#[derive(Clone)]
pub struct Controls {
    commands: Arc<Mutex<Option<mpsc::Receiver<Command>>>>,
    /// Set when the page asked the run to stop.
    pub stop: watch::Receiver<bool>,
}

impl std::fmt::Debug for Controls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controls").finish_non_exhaustive()
    }
}

impl Controls {
    /// The engine's command channel, the first time it is asked for.
    pub fn take_commands(&self) -> Option<mpsc::Receiver<Command>> {
        self.commands.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// Everything `perfgate ui` needs besides the gate.
#[derive(Debug, Clone)]
pub struct UiOptions {
    /// Where the page is served, and its token.
    pub web: WebOptions,
    /// `--host`: the default of the form's host (None: the gate's).
    pub host: Option<String>,
    /// The longest a run may last, also one started "until stopped".
    pub max_run_time: Duration,
    /// TLS settings and `--quiet`.
    pub load: LoadOptions,
}

/// A run the page started.
struct Running {
    /// Whether the page asked it to stop.
    stopped: bool,
    commands: mpsc::Sender<Command>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<Outcome, Error>>,
}

/// Serves the page and runs what it asks for until Ctrl-C.
pub async fn ui(gate: &Gate, opts: &UiOptions) -> Result<Outcome, Error> {
    let target = opts.host.clone().or_else(|| gate.host.clone()).unwrap_or_default();
    let feed = Feed::new(&web::view::idle(&gate.name, &target));
    let (ctl_tx, mut ctl_rx) = mpsc::channel(16);
    let server = web::start(opts.web.addr, opts.web.token.clone(), feed.clone(), Some(ctl_tx))
        .await
        .map_err(Error::input)?;
    let signals = Signals::install();
    errln!(
        "perfgate ui: {} at {} (Ctrl-C ends it); each run lasts at most {}",
        gate.name,
        server.url(),
        crate::gate::duration::format_duration(opts.max_run_time)
    );
    let gate = Arc::new(gate.clone());
    let mut running: Option<Running> = None;
    loop {
        let finished = async {
            match running.as_mut() {
                Some(r) => (&mut r.task).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = signals.first() => break,
            done = finished => {
                let stopped = running.take().is_some_and(|r| r.stopped);
                match done {
                    Ok(Ok(o)) => errln!("perfgate ui: the run ended: {o:?}"),
                    Ok(Err(Error::Untrusted(_))) if stopped => {
                        errln!("perfgate ui: the run was stopped from the page");
                        feed.say(Some("stopped: the numbers describe the run until Stop".into()));
                    }
                    Ok(Err(e)) => {
                        errln!("perfgate ui: the run ended: {e}");
                        feed.say(Some(format!("the run ended: {e}")));
                    }
                    Err(e) => errln!("perfgate ui: the run stopped: {e}"),
                }
            }
            c = ctl_rx.recv() => match c {
                None => break,
                Some(Control::Start(form)) if running.is_none() => match run_options(&form, opts) {
                    Ok(mut run) => {
                        let (commands, rx) = mpsc::channel(16);
                        let (stop, stop_rx) = watch::channel(false);
                        run.controls = Some(Controls { commands: Arc::new(Mutex::new(Some(rx))), stop: stop_rx });
                        run.reports.web = Some(feed.clone());
                        feed.reset();
                        feed.say(None);
                        let (gate, signals) = (gate.clone(), signals.clone());
                        let task = tokio::spawn(async move { run_ui(&gate, &run, &signals).await });
                        running = Some(Running { stopped: false, commands, stop, task });
                    }
                    Err(why) => feed.say(Some(format!("cannot start: {why}"))),
                },
                Some(Control::Start(_)) => feed.say(Some("a run is going on: stop it first".into())),
                Some(Control::Stop) => match running.as_mut() {
                    Some(r) => {
                        r.stopped = true;
                        let _ = r.stop.send(true);
                    }
                    None => feed.say(Some("nothing runs".into())),
                },
                Some(Control::Users(n)) => match &running {
                    Some(r) if n > 0 => {
                        let _ = r.commands.try_send(Command::Users(n));
                        feed.say(Some(format!("ramping to {n} users")));
                    }
                    Some(_) => feed.say(Some("give at least 1 user (Stop ends the run)".into())),
                    None => feed.say(Some("nothing runs: Start first".into())),
                },
                Some(Control::Reset) => {
                    if let Some(r) = &running {
                        let _ = r.commands.try_send(Command::Reset);
                    }
                    feed.reset();
                    feed.say(Some("stats reset".into()));
                }
                Some(Control::Judge) => feed.judge_now(),
            },
        }
    }
    if let Some(r) = running {
        let _ = r.stop.send(true);
        let _ = r.task.await;
    }
    Ok(Outcome::Pass)
}

/// The run the form asks for, checked; an error says which field and why.
fn run_options(form: &StartForm, opts: &UiOptions) -> Result<RunOptions, String> {
    if let Some(u) = form.users {
        if u == 0 {
            return Err("users: give at least 1".into());
        }
    }
    if let Some(r) = form.spawn_rate {
        if !(r.is_finite() && r > 0.0) {
            return Err(format!(
                "spawn rate: `{r}` is not a positive number of users per second"
            ));
        }
    }
    let run_time = match form.run_time.trim() {
        "" => opts.max_run_time,
        t => crate::gate::duration::parse_duration(t)
            .map_err(|e| format!("run time: {e}"))?
            .min(opts.max_run_time),
    };
    let host = match form.host.trim() {
        "" => opts.host.clone(),
        h => Some(h.to_string()),
    };
    Ok(RunOptions {
        host,
        scenarios: form
            .scenarios
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        load: LoadOptions {
            users: form.users,
            spawn_rate: form.spawn_rate,
            run_time: Some(run_time),
            ..opts.load.clone()
        },
        ..RunOptions::default()
    })
}
