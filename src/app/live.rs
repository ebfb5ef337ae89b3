//! The app's side of the live view: starts the web server, turns the engine's once-a-second
//! progress into views on a thread of the blocking pool (never on the engine's), publishes the final
//! verdict and its downloads, and keeps the page up after the run for `--web-linger`.

use super::provenance::current_environment;
use super::Error;
use crate::gate::Gate;
use crate::load::Progress;
use crate::metrics::assemble::{assemble, Planned, Provenance};
use crate::metrics::results::GateInfo;
use crate::report::{self, Format};
use crate::serve::session::LatestSample;
use crate::verdict;
use crate::web::{self, Downloads, Feed, Now, Stage};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::watch;

/// `--web`, `--web-token`, `--web-linger`.
#[derive(Debug, Clone)]
pub struct WebOptions {
    /// Where the page is served.
    pub addr: SocketAddr,
    /// The token requests need off loopback (None: generated when needed).
    pub token: Option<String>,
    /// How long the final page stays up after the run.
    pub linger: Duration,
}

/// Starts the live view's server for `gate`; the URL is printed (with the token off loopback).
pub async fn start(opts: &WebOptions, gate: &Gate, target: &str) -> Result<(web::Server, Feed), Error> {
    let feed = Feed::new(&web::view::idle(&gate.name, target));
    let server = web::start(opts.addr, opts.token.clone(), feed.clone(), None)
        .await
        .map_err(Error::input)?;
    errln!("perfgate: live view at {}", server.url());
    Ok((server, feed))
}

/// Keeps the final page up for `linger`, or until the next stop signal.
pub async fn linger(server: &web::Server, linger: Duration) {
    if linger.is_zero() || crate::serve::session::signalled() {
        return;
    }
    let signals = crate::serve::Signals::installed();
    signals.on_first_say("");
    let seen = signals.count();
    errln!(
        "perfgate: the final page stays at {} for {} (Ctrl-C ends it)",
        server.url(),
        crate::gate::duration::format_duration(linger)
    );
    tokio::select! {
        _ = tokio::time::sleep(linger) => {}
        _ = signals.after(seen) => {}
    }
}

/// Turns progress into views off the engine's threads: the engine hands over its latest progress
/// (replacing any not yet shown) and goes on.
pub struct Publisher {
    latest: watch::Sender<Option<Progress>>,
    task: tokio::task::JoinHandle<()>,
}

impl Publisher {
    /// Publishes to `feed` what `gate`'s run measured so far, with head's service sample when sampled.
    pub fn spawn(feed: Feed, gate: Gate, planned: Planned, server: Option<LatestSample>) -> Publisher {
        let (latest, mut rx) = watch::channel::<Option<Progress>>(None);
        let provenance = Provenance::new(
            GateInfo {
                file: gate.file.clone(),
                name: gate.name.clone(),
                sha256: gate.sha256.clone(),
            },
            None,
            current_environment(),
        );
        let task = tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let Some(p) = rx.borrow_and_update().clone() else {
                    continue;
                };
                let (feed, gate, planned, provenance, server) = (
                    feed.clone(),
                    gate.clone(),
                    planned.clone(),
                    provenance.clone(),
                    server.clone(),
                );
                let _ = tokio::task::spawn_blocking(move || {
                    let mut sides = assemble(&planned, p.live.measurements(), &provenance).into_iter();
                    if let Some(r) = sides.next() {
                        let v = verdict::judge(&gate, &r);
                        let now = Now {
                            users: p.users,
                            planned_users: Some(p.planned_users),
                            server: server.as_ref().and_then(LatestSample::get),
                        };
                        feed.publish(&web::view::view(Stage::Running, &r, &v, now));
                    }
                })
                .await;
            }
        });
        Publisher { latest, task }
    }

    /// Hands over the latest progress; never waits.
    pub fn send(&self, p: &Progress) {
        self.latest.send_replace(Some(p.clone()));
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Shows the final verdict and offers the run's files for download.
pub fn finish(feed: &Feed, input: &report::Input) {
    let (results, verdict) = (input.results, input.verdict);
    let text = |f: &dyn Format| {
        f.render(input)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .map(Into::into)
    };
    let csv: Vec<(&'static str, std::sync::Arc<str>)> = [
        ("stats.csv", &report::csv::StatsCsv as &dyn Format),
        ("stats_history.csv", &report::csv::HistoryCsv),
        ("failures.csv", &report::csv::FailuresCsv),
        ("exceptions.csv", &report::csv::ExceptionsCsv),
    ]
    .into_iter()
    .filter_map(|(name, f)| text(f).map(|t| (name, t)))
    .collect();
    feed.set_downloads(Downloads {
        html: report::html::render(input).ok().map(Into::into),
        results: serde_json::to_string_pretty(results).ok().map(Into::into),
        csv,
    });
    feed.publish(&web::view::view(Stage::Finished, results, verdict, Now::default()));
}
