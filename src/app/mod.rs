//! The application layer: one function per subcommand, each returning an [`Outcome`] or an [`Error`]
//! that knows its exit code. Every input check runs before anything is started.
//!
//! Exit codes (README's table): 0 every check passed; 1 the gate failed; 2 invalid input (arguments,
//! gate file, baseline or results file, an unusable report path); 3 the run could not be trusted
//! (unreachable, interrupted, a service that would not start or died, an overloaded generator);
//! 4 the verdict was reached but a report could not be written.

mod conclude;
pub mod console;
mod fetch;
mod import;
mod live;
mod merge;
mod provenance;
mod run;
mod saved;
mod ui;
mod validate;

pub use fetch::{fetch_baseline, FetchOptions};
pub use import::{import, ImportFormat};
pub use live::WebOptions;
pub use merge::merge;
pub use provenance::{current_commit, current_environment};
pub use run::{calibrate, demo, run, serve_demo, Baseline, DemoOptions, LoadOptions, RunOptions, Sharding};
pub use saved::{comment, compare, report};
pub use ui::{ui, Controls, UiOptions};
pub use validate::{unset_env_warnings, validate};

use crate::gate::GateError;
use crate::report::Paths;

/// Every check passed (inconclusive checks pass unless the gate says otherwise).
pub const EXIT_PASS: i32 = 0;
/// The gate failed: a target missed or a regression found.
pub const EXIT_FAIL: i32 = 1;
/// Invalid input: arguments, gate file, baseline or results file.
pub const EXIT_INPUT: i32 = 2;
/// The run could not be trusted: unreachable, interrupted, a service that died, an overloaded generator.
pub const EXIT_UNTRUSTED: i32 = 3;
/// The verdict was reached, but a report could not be written.
pub const EXIT_REPORTS: i32 = 4;

/// The example gate, embedded so `perfgate demo` runs from anywhere.
pub const PRISMQ_GATE: &str = include_str!("../../gates/prismq.yaml");

/// How a command that reached a verdict came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every check passed (or the command judges nothing, like `validate`).
    Pass,
    /// The gate failed.
    Fail,
}

impl Outcome {
    /// The process exit code.
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Pass => EXIT_PASS,
            Outcome::Fail => EXIT_FAIL,
        }
    }
}

/// Why a command could not reach a trustworthy verdict; the message is printed as it is.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Invalid input: arguments, gate file, baseline or results file, an unusable report path.
    #[error("{0}")]
    Input(String),
    /// The run could not be trusted.
    #[error("{0}")]
    Untrusted(String),
    /// A report could not be written (the others were).
    #[error("{0}")]
    Reports(String),
}

impl Error {
    /// The process exit code this error ends with.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input(_) => EXIT_INPUT,
            Error::Untrusted(_) => EXIT_UNTRUSTED,
            Error::Reports(_) => EXIT_REPORTS,
        }
    }

    /// An input error, `error: ` prefixed.
    pub fn input(message: impl std::fmt::Display) -> Error {
        Error::Input(format!("error: {message}"))
    }

    /// An untrusted-run error, `error: ` prefixed, with an optional help line.
    pub fn untrusted(message: impl std::fmt::Display, help: Option<&str>) -> Error {
        Error::Untrusted(match help {
            Some(h) => format!("error: {message}\n  = help: {h}"),
            None => format!("error: {message}"),
        })
    }
}

/// `--accept-label`: when the pull request carries the label, every regression, warning and
/// marginal comparison is accepted (and says so).
pub(crate) fn apply_accept_label(
    verdict: &mut crate::verdict::Verdict,
    label: Option<&str>,
    pr_file: Option<&std::path::Path>,
) {
    let (Some(label), Some(reg)) = (label.filter(|l| !l.is_empty()), verdict.regression.as_mut()) else {
        return;
    };
    if crate::github::event::labels(pr_file).iter().any(|l| l == label) {
        errln!("perfgate: the pull request has the label `{label}`: its regressions are accepted");
        crate::verdict::compare::accept_by_label(reg, label);
    }
}

/// What to do about an `accept:` entry past its `until` date.
pub(crate) const EXPIRED_HELP: &str =
    "remove the entry (the regression is no longer accepted), or move its `until` if it still is";

/// A gate whose `accept:` entries are past their `until` date is invalid input: an accepted
/// regression must be looked at again, not accepted for ever.
pub(crate) fn check_acceptances(gate: &crate::gate::Gate) -> Result<(), Error> {
    let expired = gate
        .regression
        .expired_acceptances(&gate.file, crate::gate::today_utc());
    if expired.is_empty() {
        return Ok(());
    }
    Err(Error::Input(format!(
        "error: {}\n  = help: {EXPIRED_HELP}",
        expired.join("\nerror: ")
    )))
}

impl From<GateError> for Error {
    fn from(e: GateError) -> Error {
        // The diagnostics render themselves, with file:line:column.
        Error::Input(e.to_string())
    }
}

/// Report files to write and whether to comment on the pull request.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    /// Where each report goes.
    pub paths: Paths,
    /// Post or update the sticky PR comment, this way.
    pub comment: Option<crate::github::CommentOptions>,
    /// `--accept-label`: the pull request label that accepts every regression.
    pub accept_label: Option<String>,
    /// Another attempt follows an untrusted run (`--retries`): it writes no report and publishes
    /// nothing.
    pub retry_left: bool,
    /// The live view (`--web`), shown the final verdict and offering the downloads.
    pub web: Option<crate::web::Feed>,
}
