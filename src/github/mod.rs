//! Publishing to GitHub Actions: step summary, workflow commands and outputs, and the sticky PR comment.

pub mod body;
pub mod commands;
pub mod comment;
pub mod event;
pub mod summary;
pub mod zip;

pub use summary::append_step_summary;

use crate::metrics::results::Results;
use crate::report::{markdown, Input};
use crate::verdict::compare::Change;
use crate::verdict::Outcome;

/// Where the reports went, for the step's outputs.
#[derive(Debug, Clone, Default)]
pub struct Paths {
    /// Results JSON.
    pub results: Option<String>,
    /// Markdown summary.
    pub summary: Option<String>,
    /// JUnit XML.
    pub junit: Option<String>,
}

/// How the sticky comment is posted.
#[derive(Debug, Clone, Default)]
pub struct CommentOptions {
    /// `--comment-key`: told apart from the same gate's other comments on the PR (a matrix job's).
    pub key: Option<String>,
    /// `perfgate comment --dry-run`: print the body instead of posting it.
    pub dry_run: bool,
    /// `--pr-file`: the pull request a fork's `workflow_run` is about, from the gate job's artifact.
    pub pr_file: Option<std::path::PathBuf>,
    /// `--accept-label`, named in the comment's hint on accepting a regression.
    pub accept_label: Option<String>,
}

/// `pass`, `fail` or `untrusted`, as the step output `verdict`.
pub fn verdict_word(input: &Input) -> &'static str {
    let r = input.results;
    if r.interrupted || r.load.generator.untrusted.is_some() {
        "untrusted"
    } else if input.verdict.passed() {
        "pass"
    } else {
        "fail"
    }
}

/// Everything the job sees: step summary, annotations and outputs (under Actions), and the PR comment
/// when asked. Problems are notices: publishing never changes the exit code.
pub async fn publish(input: &Input<'_>, paths: &Paths, comment: Option<&CommentOptions>, base: Option<&Results>) {
    if let Err(e) = append_step_summary(&markdown::render(input)) {
        errln!("warning: {e}");
    }
    if commands::in_actions() {
        for line in annotations(input) {
            outln!("{line}");
        }
        let mut outputs = vec![("verdict", verdict_word(input).to_string())];
        for (name, p) in [
            ("results", &paths.results),
            ("summary", &paths.summary),
            ("junit", &paths.junit),
        ] {
            if let Some(p) = p {
                outputs.push((name, p.clone()));
            }
        }
        if let Err(e) = commands::set_outputs(&outputs) {
            errln!("warning: {e}");
        }
    }
    if let Some(opts) = comment {
        match post_comment(input, opts, base).await {
            Ok(msg) => errln!("{msg}"),
            Err(msg) => notice(&format!("PR comment skipped: {msg}")),
        }
    }
}

/// A notice: `::notice` under Actions, else on stderr.
pub fn notice(msg: &str) {
    if commands::in_actions() {
        outln!("::notice title=perfgate::{}", commands::escape_data(msg));
    } else {
        errln!("notice: {msg}");
    }
}

/// `::error` per failing check and regression, `::warning` per no-data check and inconclusive comparison.
pub fn annotations(input: &Input) -> Vec<String> {
    let v = input.verdict;
    let file = input.gate_file;
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    for c in &v.checks {
        let line = commands::annotation(
            if c.outcome == Outcome::Pass { "notice" } else { "error" },
            file,
            c.pos.line,
            &format!("perfgate: {}", c.name),
            &c.message(),
        );
        match c.outcome {
            Outcome::Fail => errors.push(line),
            Outcome::NoData if v.no_data_fails => errors.push(line),
            Outcome::NoData | Outcome::Marginal => warnings.push(line.replacen("::error", "::warning", 1)),
            Outcome::Pass => {}
        }
    }
    if let Some(reg) = &v.regression {
        for c in &reg.comparisons {
            let title = format!("perfgate: {}", c.name);
            match c.change {
                Change::Regression => errors.push(commands::annotation("error", file, c.pos.line, &title, &c.reason)),
                Change::Inconclusive | Change::Marginal if reg.fail_on_inconclusive => {
                    errors.push(commands::annotation("error", file, c.pos.line, &title, &c.reason))
                }
                Change::Inconclusive | Change::Marginal | Change::Warn => {
                    warnings.push(commands::annotation("warning", file, c.pos.line, &title, &c.reason))
                }
                Change::Accepted => warnings.push(commands::annotation("notice", file, c.pos.line, &title, &c.reason)),
                _ => {}
            }
        }
    }
    if let Some(why) = &input.results.load.generator.untrusted {
        errors.insert(
            0,
            format!("::error title=perfgate: untrusted run::{}", commands::escape_data(why)),
        );
    }
    errors.truncate(commands::MAX_ANNOTATIONS);
    warnings.truncate(commands::MAX_ANNOTATIONS);
    errors.into_iter().chain(warnings).collect()
}

/// `file` from the artifact `artifact` of the newest successful run for `commit` (see
/// [`comment::Client::artifact_file`]), with the token, repository and API from the environment.
pub async fn fetch_artifact_file(
    commit: &str,
    workflow: Option<&str>,
    artifact: &str,
    file: &str,
) -> Result<Option<(Vec<u8>, comment::ArtifactSource)>, String> {
    let token = std::env::var("GITHUB_TOKEN")
        .or_else(|_| std::env::var("GH_TOKEN"))
        .ok()
        .filter(|t| !t.is_empty())
        .ok_or("no GITHUB_TOKEN in the environment (give the step `env: GITHUB_TOKEN: ${{ github.token }}` and `permissions: actions: read`)")?;
    let repo = std::env::var("GITHUB_REPOSITORY").map_err(|_| "GITHUB_REPOSITORY is not set".to_string())?;
    let api = std::env::var("GITHUB_API_URL").unwrap_or_else(|_| "https://api.github.com".into());
    let client = comment::Client::new(&api, &token, &repo)?;
    client.artifact_file(commit, workflow, artifact, file).await
}

async fn post_comment(input: &Input<'_>, opts: &CommentOptions, base: Option<&Results>) -> Result<String, String> {
    let token = std::env::var("GITHUB_TOKEN")
        .or_else(|_| std::env::var("GH_TOKEN"))
        .ok()
        .filter(|t| !t.is_empty())
        .ok_or("no GITHUB_TOKEN in the environment (give the step `env: GITHUB_TOKEN: ${{ github.token }}` and `permissions: pull-requests: write`)")?;
    let repo = std::env::var("GITHUB_REPOSITORY").map_err(|_| "GITHUB_REPOSITORY is not set".to_string())?;
    let api = std::env::var("GITHUB_API_URL").unwrap_or_else(|_| "https://api.github.com".into());
    let event = event::read_env()?;
    let client = comment::Client::new(&api, &token, &repo)?;
    let pr = match event::pull_request(&event) {
        Some(pr) => pr,
        None => {
            let run = event::fork_run(&event).ok_or_else(event::not_a_pull_request)?;
            let claimed = opts.pr_file.as_deref().map(event::read_pr_file).transpose()?;
            client.pull_request_of_run(&run, claimed.as_ref()).await?
        }
    };
    let key = opts.key.as_deref();
    let body = body::render(
        input,
        &body::Context {
            key,
            pr_head: Some(&pr.head_sha),
            base,
            run_url: body::Context::run_url_from_env(),
            accept_label: opts.accept_label.as_deref(),
        },
    );
    match client
        .upsert(pr.number, &comment::marker(&input.results.gate.name, key), &body)
        .await
    {
        Ok(comment::Posted::Created(id)) => Ok(format!("PR #{}: created comment {id}", pr.number)),
        Ok(comment::Posted::Updated(id)) => Ok(format!("PR #{}: updated comment {id}", pr.number)),
        Err(comment::CommentError::Refused { status: 403, .. }) => Err(format!(
            "the token may not comment on PR #{} (403: a fork's read-only token?); the gate still decides",
            pr.number
        )),
        Err(e) => Err(e.to_string()),
    }
}
