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

/// Reads the event file; says why when there is no PR to comment on.
pub fn from_env() -> Result<PullRequest, String> {
    let path = std::env::var("GITHUB_EVENT_PATH")
        .map_err(|_| "GITHUB_EVENT_PATH is not set: not a GitHub Actions run".to_string())?;
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read the event file {path}: {e}"))?;
    let event: Value = serde_json::from_str(&text).map_err(|e| format!("the event file {path} is not JSON: {e}"))?;
    pull_request(&event).ok_or_else(|| {
        let name = std::env::var("GITHUB_EVENT_NAME").unwrap_or_else(|_| "this".into());
        format!(
            "the {name} event is not about a pull request (pull_request, pull_request_target or workflow_run from one)"
        )
    })
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
