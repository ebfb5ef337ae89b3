//! The pull request a workflow run is about, from the event file `GITHUB_EVENT_PATH` names.

use serde_json::Value;

/// The pull request and the commit under test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    /// PR number.
    pub number: u64,
    /// The PR's head commit (never the merge commit GitHub checks out).
    pub head_sha: String,
}

/// Reads the PR from an event payload: `pull_request`, `pull_request_target` or `workflow_run`.
pub fn pull_request(event: &Value) -> Option<PullRequest> {
    if let Some(pr) = event.get("pull_request") {
        return Some(PullRequest {
            number: pr.get("number")?.as_u64()?,
            head_sha: pr.get("head")?.get("sha")?.as_str()?.to_string(),
        });
    }
    if let Some(run) = event.get("workflow_run") {
        let pr = run.get("pull_requests")?.as_array()?.first()?;
        return Some(PullRequest {
            number: pr.get("number")?.as_u64()?,
            head_sha: run
                .get("head_sha")
                .and_then(Value::as_str)
                .or_else(|| pr.get("head")?.get("sha")?.as_str())?
                .to_string(),
        });
    }
    None
}

/// The event file `GITHUB_EVENT_PATH` names, parsed.
pub fn read_env() -> Result<Value, String> {
    let path = std::env::var("GITHUB_EVENT_PATH")
        .map_err(|_| "GITHUB_EVENT_PATH is not set: not a GitHub Actions run".to_string())?;
    let text = crate::input::read_text(std::path::Path::new(&path), crate::input::EVENT_MAX)
        .map_err(|e| format!("cannot read the event file {path}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("the event file {path} is not JSON: {e}"))
}

/// Why there is no pull request to comment on.
pub fn not_a_pull_request() -> String {
    let name = std::env::var("GITHUB_EVENT_NAME").unwrap_or_else(|_| "this".into());
    format!(
        "the {name} event is not about a pull request (pull_request, pull_request_target, or workflow_run from one; a fork's workflow_run needs --pr-file)"
    )
}

/// Reads the event file; says why when there is no PR to comment on.
pub fn from_env() -> Result<PullRequest, String> {
    pull_request(&read_env()?).ok_or_else(not_a_pull_request)
}

/// A `workflow_run` from a pull request whose own event names none (a fork's: GitHub leaves
/// `pull_requests` empty): the run's head commit, and the head repository's owner and branch to
/// look the pull request up by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForkRun {
    /// The head commit the run measured (GitHub's, trusted).
    pub head_sha: String,
    /// The head repository's owner (the fork's).
    pub head_owner: Option<String>,
    /// The head branch.
    pub head_branch: Option<String>,
}

/// The `workflow_run` event of a pull request's run, when the event itself names no pull request.
pub fn fork_run(event: &Value) -> Option<ForkRun> {
    let run = event.get("workflow_run")?;
    let from_pr = matches!(
        run.get("event").and_then(Value::as_str),
        Some("pull_request") | Some("pull_request_target") | None
    );
    if !from_pr {
        return None;
    }
    Some(ForkRun {
        head_sha: run.get("head_sha")?.as_str()?.to_string(),
        head_owner: run
            .get("head_repository")
            .and_then(|r| r.get("owner"))
            .and_then(|o| o.get("login"))
            .and_then(Value::as_str)
            .map(str::to_string),
        head_branch: run.get("head_branch").and_then(Value::as_str).map(str::to_string),
    })
}

/// The pull request file the gate job uploads with its results (`{"number": 7, "head_sha": "..."}`),
/// for the `workflow_run` that comments. It comes from the pull request's own run, so it is checked
/// against GitHub before it is believed.
pub fn read_pr_file(path: &std::path::Path) -> Result<PullRequest, String> {
    let text = crate::input::read_text(path, crate::input::EVENT_MAX)
        .map_err(|e| format!("--pr-file {}: {e}", path.display()))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("--pr-file {} is not JSON: {e}", path.display()))?;
    let number = v
        .get("number")
        .and_then(|n| n.as_u64().or_else(|| n.as_str()?.parse().ok()))
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("--pr-file {} has no pull request `number`", path.display()))?;
    let head_sha = v
        .get("head_sha")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_hexdigit()))
        .ok_or_else(|| format!("--pr-file {} has no hexadecimal `head_sha`", path.display()))?
        .to_string();
    Ok(PullRequest { number, head_sha })
}

/// The pull request's labels: from the event (`pull_request.labels[].name`), else from the gate job's
/// `--pr-file` (`"labels": [...]`, for a fork's `workflow_run`); empty when neither names any.
pub fn labels(pr_file: Option<&std::path::Path>) -> Vec<String> {
    let names = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|l| l.get("name").and_then(Value::as_str).or_else(|| l.as_str()))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    if let Ok(event) = read_env() {
        if let Some(pr) = event.get("pull_request") {
            return names(pr.get("labels"));
        }
    }
    pr_file
        .and_then(|p| crate::input::read_text(std::path::Path::new(&p), crate::input::EVENT_MAX).ok())
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .map(|v| names(v.get("labels")))
        .unwrap_or_default()
}

/// Under `pull_request_target`, or a `workflow_run` of a pull request's run, the commits that are the
/// pull request's own code: its head (and its merge commit). Those events run with the base
/// repository's secrets and a write token, so starting that code is a "pwn request".
pub fn privileged_pull_request_commits(event_name: &str, event: &Value) -> Vec<String> {
    let mut out = Vec::new();
    match event_name {
        "pull_request_target" => {
            if let Some(pr) = event.get("pull_request") {
                for v in [pr.get("head").and_then(|h| h.get("sha")), pr.get("merge_commit_sha")]
                    .into_iter()
                    .flatten()
                {
                    if let Some(s) = v.as_str() {
                        out.push(s.to_string());
                    }
                }
            }
        }
        "workflow_run" => {
            if let Some(run) = fork_run(event) {
                out.push(run.head_sha);
            }
            if let Some(prs) = event
                .get("workflow_run")
                .and_then(|r| r.get("pull_requests"))
                .and_then(Value::as_array)
            {
                for pr in prs {
                    if let Some(s) = pr.get("head").and_then(|h| h.get("sha")).and_then(Value::as_str) {
                        out.push(s.to_string());
                    }
                }
            }
        }
        _ => {}
    }
    out.retain(|s| !s.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_three_event_kinds() {
        let pr = json!({"pull_request": {"number": 7, "head": {"sha": "abc"}, "merge_commit_sha": "mmm"}});
        assert_eq!(
            pull_request(&pr),
            Some(PullRequest {
                number: 7,
                head_sha: "abc".into()
            })
        );
        let run =
            json!({"workflow_run": {"head_sha": "def", "pull_requests": [{"number": 9, "head": {"sha": "def"}}]}});
        assert_eq!(
            pull_request(&run),
            Some(PullRequest {
                number: 9,
                head_sha: "def".into()
            })
        );
        assert_eq!(
            pull_request(&json!({"workflow_run": {"head_sha": "x", "pull_requests": []}})),
            None
        );
        assert_eq!(pull_request(&json!({"ref": "refs/heads/main"})), None);
    }
}
