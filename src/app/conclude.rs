//! The end of every judging command: verdict, terminal output, reports, publishing, outcome.

use super::console::{print_results, print_verdict};
use super::{Error, Outcome, ReportOptions};
use crate::gate::Gate;
use crate::metrics::results::Results;
use crate::report::{self, Reports};
use crate::verdict::{self, compare::Mode};

/// Judges `results` (against `base` when given), prints, writes every report, publishes, and returns
/// the outcome: an untrusted run is an error (exit 3) even after its reports are written.
pub(super) async fn conclude(
    gate: &Gate,
    results: &Results,
    base: Option<(&Results, Mode)>,
    reports: &Reports,
    opts: &ReportOptions,
) -> Result<Outcome, Error> {
    let mut verdict = match base {
        Some((b, mode)) => verdict::judge_with_baseline(gate, results, b, mode),
        None => verdict::judge(gate, results),
    };
    let pr_file = opts.comment.as_ref().and_then(|c| c.pr_file.as_deref());
    super::apply_accept_label(&mut verdict, opts.accept_label.as_deref(), pr_file);
    print_results(results);
    print_verdict(&verdict, &gate.file);
    if opts.retry_left && !results.interrupted {
        if let Some(why) = &results.load.generator.untrusted {
            // Another attempt follows: its reports and publishing are the ones that count.
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
        gate_file: &gate.file,
    };
    let written = reports.write(&input);
    written.done.iter().for_each(|d| eprintln!("wrote {d}"));
    let shown = |p: &Option<std::path::PathBuf>| p.as_ref().map(|p| p.display().to_string());
    let paths = crate::github::Paths {
        results: shown(&opts.paths.out),
        summary: shown(&opts.paths.summary),
        junit: shown(&opts.paths.junit),
    };
    crate::github::publish(&input, &paths, opts.comment.as_ref(), base.map(|(b, _)| b)).await;
    if results.interrupted {
        return Err(Error::untrusted(
            "the run was interrupted; its numbers describe a partial run",
            None,
        ));
    }
    if let Some(why) = &results.load.generator.untrusted {
        return Err(Error::untrusted(
            why,
            Some("give the generator its own core, lower the load, or raise `max_connections`"),
        ));
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
