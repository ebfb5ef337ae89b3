//! Commands on saved results files: `report`, `compare` and `comment` judge without running load.

use super::conclude::conclude;
use super::{Error, Outcome, ReportOptions};
use crate::gate::Gate;
use crate::metrics::results::Results;
use crate::report::Reports;
use crate::verdict::compare::Mode;
use std::path::{Path, PathBuf};

/// Judges a saved results file against a gate's targets and writes reports.
pub async fn report(results: &Path, gate: Option<PathBuf>, opts: &ReportOptions) -> Result<Outcome, Error> {
    let head = Results::read(results).map_err(Error::input)?;
    let gate = gate_for(&head, results, gate)?;
    let reports = checked_reports(opts)?;
    conclude(&gate, &head, None, &[], &reports, opts).await
}

/// Compares two saved results files under a gate's budgets (and judges head's targets).
pub async fn compare(base: &Path, head: &Path, gate: Option<PathBuf>, opts: &ReportOptions) -> Result<Outcome, Error> {
    let (gate, head_results, base) = load_pair(base, head, gate)?;
    let reports = checked_reports(opts)?;
    conclude(&gate, &head_results, Some((&base.0, base.1)), &[], &reports, opts).await
}

/// Reads base and head and the gate, and tells duet from sequential.
fn load_pair(base: &Path, head: &Path, gate: Option<PathBuf>) -> Result<(Gate, Results, (Results, Mode)), Error> {
    let base_results = Results::read(base).map_err(Error::input)?;
    let head_results = Results::read(head).map_err(Error::input)?;
    let gate = gate_for(&head_results, head, gate)?;
    let mode = match (&base_results.load.duet, &head_results.load.duet) {
        (Some(b), Some(h)) if b.id == h.id && b.side != h.side => Mode::Duet,
        _ => Mode::Sequential,
    };
    if mode == Mode::Duet {
        if let Some(why) = gate.regression.duet_refusal(&gate.file) {
            return Err(Error::input(why));
        }
    }
    Ok((gate, head_results, (base_results, mode)))
}

/// Posts or updates the sticky PR comment for a saved results file (with a baseline: its deltas).
/// `--dry-run` prints exactly the body it would post, and nothing else on stdout: no token, no API.
pub async fn comment(
    results: &Path,
    baseline: Option<&Path>,
    gate: Option<PathBuf>,
    comment: crate::github::CommentOptions,
    accept_label: Option<String>,
) -> Result<Outcome, Error> {
    if comment.dry_run {
        let (gate, head, base) = match baseline {
            Some(b) => {
                let (g, h, b) = load_pair(b, results, gate)?;
                (g, h, Some(b))
            }
            None => {
                let h = Results::read(results).map_err(Error::input)?;
                (gate_for(&h, results, gate)?, h, None)
            }
        };
        let mut verdict = match &base {
            Some((b, mode)) => crate::verdict::judge_with_baseline(&gate, &head, b, *mode),
            None => crate::verdict::judge(&gate, &head),
        };
        super::apply_accept_label(&mut verdict, accept_label.as_deref(), comment.pr_file.as_deref());
        let input = crate::report::Input {
            results: &head,
            verdict: &verdict,
            base: base.as_ref().map(|(b, _)| b),
            gate_file: &gate.file,
        };
        let pr = crate::github::event::from_env()
            .ok()
            .or_else(|| crate::github::event::read_pr_file(comment.pr_file.as_deref()?).ok());
        let body = crate::github::body::render(
            &input,
            &crate::github::body::Context {
                key: comment.key.as_deref(),
                pr_head: pr.as_ref().map(|p| p.head_sha.as_str()),
                base: base.as_ref().map(|(b, _)| b),
                run_url: crate::github::body::Context::run_url_from_env(),
                accept_label: accept_label.as_deref(),
            },
        );
        crate::print_line(format_args!("{body}"));
        return Ok(if verdict.passed() { Outcome::Pass } else { Outcome::Fail });
    }
    let opts = ReportOptions {
        comment: Some(comment),
        accept_label,
        ..ReportOptions::default()
    };
    match baseline {
        Some(base) => compare(base, results, gate, &opts).await,
        None => report(results, gate, &opts).await,
    }
}

fn checked_reports(opts: &ReportOptions) -> Result<Reports, Error> {
    let reports = Reports::new(&opts.paths);
    reports.check().map_err(Error::input)?;
    Ok(reports)
}

/// Loads the gate named by `--gate` or by the results, warning when it changed since the run.
fn gate_for(results: &Results, path: &Path, gate: Option<PathBuf>) -> Result<Gate, Error> {
    let gate_path = gate.unwrap_or_else(|| PathBuf::from(&results.gate.file));
    let gate = Gate::load(&gate_path).map_err(|e| {
        Error::Input(format!(
            "{e}\n  = help: pass the gate file that produced {} with --gate",
            path.display()
        ))
    })?;
    super::check_acceptances(&gate)?;
    if gate.sha256 != results.gate.sha256 {
        errln!(
            "warning: {} has changed since {} was recorded (sha256 differs); its current targets judge the old run",
            gate.file,
            path.display()
        );
    }
    Ok(gate)
}
