//! `perfgate fetch-baseline`: the base commit's results from its perf run's artifact, for when the
//! Actions cache no longer has them (entries unused for 7 days are evicted).

use super::{Error, Outcome};
use crate::metrics::results::Results;
use std::path::Path;

/// What to fetch.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// The base commit.
    pub commit: String,
    /// The workflow file whose runs are searched (None: every workflow).
    pub workflow: Option<String>,
    /// The artifact's name.
    pub artifact: String,
    /// The file in the artifact.
    pub file: String,
}

/// Downloads the results and writes them to `out`. Finding none, or GitHub failing, is a notice and
/// exit 0 with nothing written (the gate then runs without a baseline and says so); only invalid
/// arguments are an error.
pub async fn fetch_baseline(opts: &FetchOptions, out: &Path) -> Result<Outcome, Error> {
    if opts.commit.is_empty() || !opts.commit.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Error::input(format_args!(
            "--commit `{}` is not a commit SHA",
            opts.commit
        )));
    }
    crate::report::check_writable(out).map_err(|e| Error::input(format_args!("--out {e}")))?;
    let fetched =
        crate::github::fetch_artifact_file(&opts.commit, opts.workflow.as_deref(), &opts.artifact, &opts.file).await;
    let (bytes, source) = match fetched {
        Ok(Some(found)) => found,
        Ok(None) => {
            crate::github::notice(&format!(
                "no baseline artifact `{}` from a successful run of commit {}: the gate runs without a baseline",
                opts.artifact, opts.commit
            ));
            return Ok(Outcome::Pass);
        }
        Err(why) => {
            crate::github::notice(&format!("baseline artifact not fetched: {why}"));
            return Ok(Outcome::Pass);
        }
    };
    let text = String::from_utf8_lossy(&bytes);
    let results = match Results::from_json(&opts.file, &text) {
        Ok(r) => r,
        Err(e) => {
            crate::github::notice(&format!(
                "the artifact `{}` of run {} holds no usable results: {e}",
                source.artifact, source.run_id
            ));
            return Ok(Outcome::Pass);
        }
    };
    crate::report::write_atomic(out, &bytes)
        .map_err(|e| Error::Reports(format!("error: cannot write {}: {e}", out.display())))?;
    errln!(
        "baseline: the results of commit {} from workflow run {} (artifact `{}`{}) → {}",
        results.commit.as_deref().unwrap_or(&opts.commit),
        source.run_id,
        source.artifact,
        if source.run_url.is_empty() {
            String::new()
        } else {
            format!(", {}", source.run_url)
        },
        out.display()
    );
    Ok(Outcome::Pass)
}
