//! The sticky pull-request comment: found by a hidden marker and by its author across every page of
//! comments, updated in place with PATCH or created, capped at GitHub's size limit.

use octocrab::service::middleware::retry::RetryConfig;
use octocrab::Octocrab;
use serde_json::{json, Value};
use std::time::Duration;

/// GitHub's limit on a comment body, in characters.
pub const MAX_BODY: usize = 65_536;
/// Comments fetched per page (GitHub's maximum).
const PER_PAGE: usize = 100;
/// Pages searched at most (10,000 comments).
const MAX_PAGES: usize = 100;
/// Attempts per request when GitHub answers 5xx or a secondary rate limit.
const ATTEMPTS: u32 = 3;

/// Why a comment could not be posted.
#[derive(Debug, thiserror::Error)]
pub enum CommentError {
    /// The token may not write here (a fork's read-only token) or sees no such PR.
    #[error("GitHub refused ({status}) {what}: {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The request.
        what: String,
        /// GitHub's message.
        message: String,
    },
    /// GitHub kept failing (5xx, rate limits) or could not be reached.
    #[error("GitHub is unavailable for {what}: {message}")]
    Unavailable {
        /// The request.
        what: String,
        /// The last error.
        message: String,
    },
}

/// What happened to the comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Posted {
    /// A new comment with this id.
    Created(u64),
    /// The existing comment with this id was updated.
    Updated(u64),
}

/// A client for one repository's issue comments.
pub struct Client {
    gh: Octocrab,
    repo: String,
    backoff: Duration,
    author: Option<String>,
}

impl Client {
    /// A client for `owner/name` at `api` (e.g. `https://api.github.com` or an Enterprise `/api/v3`).
    pub fn new(api: &str, token: &str, repo: &str) -> Result<Client, String> {
        let gh = Octocrab::builder()
            .base_uri(api)
            .map_err(|e| format!("GITHUB_API_URL `{api}`: {e}"))?
            .personal_token(token.to_string())
            .add_retry_config(RetryConfig::None)
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(Duration::from_secs(30)))
            .build()
            .map_err(|e| format!("cannot set up the GitHub client: {e}"))?;
        let backoff = std::env::var("PERFGATE_GITHUB_BACKOFF_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map(Duration::from_millis)
            .unwrap_or(Duration::from_secs(2));
        Ok(Client {
            gh,
            repo: repo.to_string(),
            backoff,
            author: std::env::var("PERFGATE_COMMENT_AUTHOR").ok().filter(|a| !a.is_empty()),
        })
    }

    /// Sends one request, retrying 5xx and rate limits with backoff; returns status and JSON body.
    async fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, Value), CommentError> {
        let what = format!("{method} {path}");
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(self.backoff * 2u32.pow(attempt - 1)).await;
            }
            let resp = match method {
                "GET" => self.gh._get(path).await,
                "POST" => self.gh._post(path, body).await,
                _ => self.gh._patch(path, body).await,
            };
            let resp = match resp {
                Ok(r) => r,
                Err(e) => {
                    last = e.to_string();
                    continue;
                }
            };
            let status = resp.status().as_u16();
            let retry_after = resp.headers().contains_key("retry-after");
            let text = self.gh.body_to_string(resp).await.unwrap_or_default();
            let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            let message = json.get("message").and_then(Value::as_str).unwrap_or(&text).to_string();
            let rate_limited = status == 429
                || (status == 403 && (retry_after || message.to_ascii_lowercase().contains("rate limit")));
            if (200..300).contains(&status) {
                return Ok((status, json));
            }
            if status >= 500 || rate_limited {
                last = format!("{status} {message}");
                continue;
            }
            return Err(CommentError::Refused { status, what, message });
        }
        Err(CommentError::Unavailable { what, message: last })
    }

    /// The login comments are posted as: `PERFGATE_COMMENT_AUTHOR`, else `GET /user`, else the Actions bot.
    async fn me(&self) -> String {
        if let Some(a) = &self.author {
            return a.clone();
        }
        match self.send("GET", "/user", None).await {
            Ok((_, v)) => v
                .get("login")
                .and_then(Value::as_str)
                .unwrap_or("github-actions[bot]")
                .to_string(),
            // The workflow's GITHUB_TOKEN may not read /user; it posts as the Actions bot.
            Err(_) => "github-actions[bot]".to_string(),
        }
    }

    /// Finds our comment on PR `pr`: it carries `marker` and was written by us; searches every page.
    pub async fn find(&self, pr: u64, marker: &str) -> Result<Option<u64>, CommentError> {
        let me = self.me().await;
        for page in 1..=MAX_PAGES {
            let path = format!(
                "/repos/{}/issues/{pr}/comments?per_page={PER_PAGE}&page={page}",
                self.repo
            );
            let (_, v) = self.send("GET", &path, None).await?;
            let comments = v.as_array().cloned().unwrap_or_default();
            for c in &comments {
                let ours = c
                    .get("body")
                    .and_then(Value::as_str)
                    .is_some_and(|b| b.contains(marker))
                    && c.get("user").and_then(|u| u.get("login")).and_then(Value::as_str) == Some(me.as_str());
                if ours {
                    return Ok(c.get("id").and_then(Value::as_u64));
                }
            }
            if comments.len() < PER_PAGE {
                break;
            }
        }
        Ok(None)
    }

    /// Updates our comment on PR `pr` in place, or creates it.
    pub async fn upsert(&self, pr: u64, marker: &str, body: &str) -> Result<Posted, CommentError> {
        let payload = json!({ "body": body });
        match self.find(pr, marker).await? {
            Some(id) => {
                let path = format!("/repos/{}/issues/comments/{id}", self.repo);
                self.send("PATCH", &path, Some(&payload)).await?;
                Ok(Posted::Updated(id))
            }
            None => {
                let path = format!("/repos/{}/issues/{pr}/comments", self.repo);
                let (_, v) = self.send("POST", &path, Some(&payload)).await?;
                Ok(Posted::Created(v.get("id").and_then(Value::as_u64).unwrap_or(0)))
            }
        }
    }
}

/// The hidden marker that identifies this gate's comment.
pub fn marker(gate: &str) -> String {
    format!("<!-- perfgate:{} -->", gate.replace("--", "- -"))
}

/// Caps a body at `max` characters, cutting whole lines and saying so.
pub fn cap(body: &str, max: usize) -> String {
    if body.chars().count() <= max {
        return body.to_string();
    }
    let lines: Vec<&str> = body.lines().collect();
    let note_for = |left: usize| {
        format!("\n\n_… {left} more lines cut: GitHub limits a comment to {max} characters. The job summary and the uploaded reports have everything._\n")
    };
    let mut out = String::new();
    let mut used = 0;
    for (i, line) in lines.iter().enumerate() {
        let len = line.chars().count() + 1;
        if used + len + note_for(lines.len() - i).chars().count() > max {
            out.push_str(&note_for(lines.len() - i));
            return out;
        }
        out.push_str(line);
        out.push('\n');
        used += len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_at_whole_lines_with_a_note() {
        let body: String = (0..5000).map(|i| format!("| row {i} | value |\n")).collect();
        let capped = cap(&body, MAX_BODY);
        assert!(capped.chars().count() <= MAX_BODY);
        assert!(capped.contains("more lines cut"));
        assert!(capped
            .lines()
            .filter(|l| l.starts_with("| row"))
            .all(|l| l.ends_with("| value |")));
        assert_eq!(cap("short", MAX_BODY), "short");
        assert_eq!(marker("prismq"), "<!-- perfgate:prismq -->");
    }
}
