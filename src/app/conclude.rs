//! The end of every judging command: verdict, terminal output, reports, publishing, outcome.

use super::console::{print_results, print_verdict};
use super::{Error, Outcome, ReportOptions};
use crate::gate::Gate;
use crate::metrics::results::Results;
use crate::report::{self, Reports};
use crate::verdict::{
    self,
    compare::{Mode, Regression},
};

/// Judges `results` (against `base` when given), prints, writes every report, publishes, and returns
/// the outcome: an untrusted run is an error (exit 3) even after its reports are written.
pub(super) async fn conclude(
    gate: &Gate,
    results: &Results,
    base: Option<(&Results, Mode)>,
    windows: &[Regression],
    reports: &Reports,
    opts: &ReportOptions,
) -> Result<Outcome, Error> {
    let mut verdict = match base {
        Some((b, mode)) => verdict::judge_with_baseline(gate, results, b, mode),
        None => verdict::judge(gate, results),
    };
    if let Some(r) = &mut verdict.regression {
        r.confirm_with(windows);
    }
    let pr_file = opts.comment.as_ref().and_then(|c| c.pr_file.as_deref());
    super::apply_accept_label(&mut verdict, opts.accept_label.as_deref(), pr_file);
    if opts.retry_left && !results.interrupted {
        if let Some(why) = &results.load.generator.untrusted {
            // Another attempt follows: its reports and publishing are the ones that count.
            print_results(results);
            print_verdict(&verdict, &gate.file);
            return Err(Error::untrusted(why, None));
        }
    }
    // The results file carries the verdict it got.
    let mut judged = results.clone();
    judged.verdict = serde_json::to_value(&verdict).ok();
    let results = &judged;
    let input = report::Input {
        results,
        verdict: &verdict,
        base: base.map(|(b, _)| b),
        gate_file: &gate.file,
    };
    // The files first: nothing printed (to a slow or closed pipe) can keep them from being written.
    let written = reports.write(&input);
    if let Some(feed) = &opts.web {
        super::live::finish(feed, &input);
    }
    print_results(results);
    print_verdict(&verdict, &gate.file);
    written.done.iter().for_each(|d| errln!("wrote {d}"));
    let shown = |p: &Option<std::path::PathBuf>| p.as_ref().map(|p| p.display().to_string());
    let paths = crate::github::Paths {
        results: shown(&opts.paths.out),
        summary: shown(&opts.paths.summary),
        junit: shown(&opts.paths.junit),
    };
    publish_bounded(&input, &paths, opts.comment.as_ref(), base.map(|(b, _)| b)).await;
    if results.interrupted {
        return Err(Error::untrusted(
            "the run was interrupted; its numbers describe a partial run",
            None,
        ));
    }
    if let Some(why) = &results.load.generator.untrusted {
        // A local limit's or a late start's message carries its own fix.
        let help = (results.load.generator.local_faults == 0 && !why.contains("after --start-at")).then_some(
            if results.load.model == crate::metrics::results::LoadModel::Open {
                "give the generator its own core, lower the load, or raise `max_connections`"
            } else {
                "give the generator its own core, or lower the load"
            },
        );
        return Err(Error::untrusted(why, help));
    }
    if !written.failed.is_empty() {
        return Err(Error::Reports(
            written
                .failed
                .iter()
                .map(|f| format!("error: {f}"))
                .collect::<Vec<_>>()
                .join("\n"),
        ));
    }
    Ok(if verdict.passed() { Outcome::Pass } else { Outcome::Fail })
}

/// How long publishing (step summary, annotations, outputs, the PR comment) may take in all.
const PUBLISH_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Publishes within `PERFGATE_PUBLISH_TIMEOUT` (60 s by default) and stops at the next stop signal:
/// a stalled GitHub API never holds a finished run, whose reports are already written. Publishing
/// never changes the exit code.
async fn publish_bounded(
    input: &report::Input<'_>,
    paths: &crate::github::Paths,
    comment: Option<&crate::github::CommentOptions>,
    base: Option<&Results>,
) {
    let limit = match std::env::var("PERFGATE_PUBLISH_TIMEOUT") {
        Ok(v) => crate::gate::duration::parse_duration(&v).unwrap_or_else(|e| {
            errln!(
                "warning: PERFGATE_PUBLISH_TIMEOUT: {e}; using {}s",
                PUBLISH_LIMIT.as_secs()
            );
            PUBLISH_LIMIT
        }),
        Err(_) => PUBLISH_LIMIT,
    };
    let signals = crate::serve::Signals::installed();
    // The run is over: a signal now only ends publishing, which says so itself.
    signals.on_first_say("");
    let seen = signals.count();
    let what = if comment.is_some() {
        "publishing to GitHub (the PR comment)"
    } else {
        "publishing to GitHub"
    };
    tokio::select! {
        _ = crate::github::publish(input, paths, comment, base) => {}
        _ = tokio::time::sleep(limit) => errln!(
            "warning: {what} did not finish within {}; stopped it (the reports are written; PERFGATE_PUBLISH_TIMEOUT sets the limit)",
            crate::gate::duration::format_duration(limit)
        ),
        _ = signals.after(seen) => errln!("perfgate: {what} stopped by a signal (the reports are written)"),
    }
}
