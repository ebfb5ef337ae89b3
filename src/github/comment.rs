//! The sticky pull-request comment: found by a hidden marker and by its author across every page of
//! comments, updated in place with PATCH or created, capped at GitHub's size limit.

use octocrab::service::middleware::auth_header::AuthHeaderLayer;
use octocrab::service::middleware::base_uri::BaseUriLayer;
use octocrab::service::middleware::extra_headers::ExtraHeadersLayer;
use octocrab::{AuthState, Octocrab, OctocrabBuilder};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// GitHub's limit on a comment body, in characters.
pub const MAX_BODY: usize = 65_536;
/// Comments fetched per page (GitHub's maximum).
const PER_PAGE: usize = 100;
/// Pages searched at most (10,000 comments).
const MAX_PAGES: usize = 100;
/// Attempts per request when GitHub answers 5xx or a rate limit.
const ATTEMPTS: u32 = 3;
/// The longest wait a `Retry-After` or `x-ratelimit-reset` may ask for, unless
/// `PERFGATE_GITHUB_MAX_WAIT` (seconds) says otherwise; a longer one gives up at once.
pub const MAX_WAIT: Duration = Duration::from_secs(60);
/// The login the workflow's own `GITHUB_TOKEN` posts as.
pub const ACTIONS_BOT: &str = "github-actions[bot]";

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
    /// GitHub answered, but not what the API promises (an HTML page, an object instead of a list).
    #[error("GitHub's answer to {what} is not what the API describes: {message}")]
    Unexpected {
        /// The request.
        what: String,
        /// What came back.
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

/// Who our comments are written by.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Author {
    /// This login (`PERFGATE_COMMENT_AUTHOR`, or `GET /user`).
    Login(String),
    /// A GitHub App's installation token or the workflow's token, which may not read `GET /user`:
    /// a comment posted through an app (`performed_via_github_app`), or by the Actions bot.
    App,
}

impl Author {
    fn wrote(&self, comment: &Value) -> bool {
        let login = comment.get("user").and_then(|u| u.get("login")).and_then(Value::as_str);
        match self {
            Author::Login(l) => login == Some(l.as_str()),
            Author::App => {
                login == Some(ACTIONS_BOT) || comment.get("performed_via_github_app").is_some_and(Value::is_object)
            }
        }
    }
}

/// One attempt's outcome.
enum Attempt {
    Done(u16, Value),
    /// Worth trying again after the wait GitHub asked for (None: our own backoff).
    Retry(String, Option<Duration>),
    Refused(u16, String),
}

/// The plain HTTPS client under the API client, for downloads GitHub redirects elsewhere.
type Raw = hyper_util::client::legacy::Client<
    hyper_timeout::TimeoutConnector<hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>>,
    octocrab::OctoBody,
>;

/// A client for one repository's issue comments and artifacts.
pub struct Client {
    gh: Octocrab,
    raw: Raw,
    repo: String,
    backoff: Duration,
    max_wait: Duration,
    author: Option<String>,
}

/// `perfgate/VERSION`, the User-Agent of every API request.
pub fn user_agent() -> String {
    format!("perfgate/{}", env!("CARGO_PKG_VERSION"))
}

impl Client {
    /// A client for `owner/name` at `api` (e.g. `https://api.github.com` or an Enterprise `/api/v3`).
    pub fn new(api: &str, token: &str, repo: &str) -> Result<Client, String> {
        let base: hyper::Uri = api
            .trim_end_matches('/')
            .parse()
            .map_err(|e| format!("GITHUB_API_URL `{api}`: {e}"))?;
        if base.scheme().is_none() || base.authority().is_none() {
            return Err(format!("GITHUB_API_URL `{api}` is not an absolute URL"));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(provider)
            .map_err(|e| format!("cannot load the system's root certificates: {e}"))?
            .https_or_http()
            .enable_http1()
            .build();
        let mut connector = hyper_timeout::TimeoutConnector::new(https);
        connector.set_connect_timeout(Some(Duration::from_secs(10)));
        connector.set_read_timeout(Some(Duration::from_secs(30)));
        connector.set_write_timeout(Some(Duration::from_secs(30)));
        let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build::<_, octocrab::OctoBody>(connector);
        let auth: hyper::header::HeaderValue = format!("Bearer {token}")
            .parse()
            .map_err(|_| "GITHUB_TOKEN holds characters a header cannot carry".to_string())?;
        let headers = vec![
            (
                hyper::header::USER_AGENT,
                hyper::header::HeaderValue::from_str(&user_agent()).map_err(|e| e.to_string())?,
            ),
            (
                hyper::header::ACCEPT,
                hyper::header::HeaderValue::from_static("application/vnd.github+json"),
            ),
        ];
        let raw = http.clone();
        let gh = OctocrabBuilder::new_empty()
            .with_service(http)
            .with_layer(&BaseUriLayer::new(base.clone()))
            .with_layer(&ExtraHeadersLayer::new(Arc::new(headers)))
            .with_layer(&AuthHeaderLayer::new(Some(auth), base.clone(), base))
            .with_auth(AuthState::None)
            .build()
            .map_err(|e| format!("cannot set up the GitHub client: {e}"))?;
        let backoff = std::env::var("PERFGATE_GITHUB_BACKOFF_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map(Duration::from_millis)
            .unwrap_or(Duration::from_secs(2));
        let max_wait = std::env::var("PERFGATE_GITHUB_MAX_WAIT")
            .ok()
            .and_then(|v| v.parse().ok())
            .map(Duration::from_secs)
            .unwrap_or(MAX_WAIT);
        Ok(Client {
            gh,
            raw,
            repo: repo.to_string(),
            backoff,
            max_wait,
            author: std::env::var("PERFGATE_COMMENT_AUTHOR").ok().filter(|a| !a.is_empty()),
        })
    }

    /// Sends one request once: its JSON answer, a reason to retry (with the wait GitHub asked for),
    /// or a refusal.
    async fn attempt(&self, method: &str, path: &str, body: Option<&Value>) -> Attempt {
        let resp = match method {
            "GET" => self.gh._get(path).await,
            "POST" => self.gh._post(path, body).await,
            _ => self.gh._patch(path, body).await,
        };
        let resp = match resp {
            Ok(r) => r,
            Err(e) => return Attempt::Retry(e.to_string(), None),
        };
        let status = resp.status().as_u16();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .map(str::to_string)
        };
        let retry_after = header("retry-after");
        let remaining = header("x-ratelimit-remaining");
        let reset = header("x-ratelimit-reset");
        let text = self.gh.body_to_string(resp).await.unwrap_or_default();
        if (200..300).contains(&status) {
            // An answer that is not JSON stays visible as text for the caller's check.
            let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
            return Attempt::Done(status, json);
        }
        let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let message = json
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or(&text)
            .chars()
            .take(300)
            .collect::<String>();
        let exhausted = remaining.as_deref() == Some("0");
        let rate_limited = status == 429
            || (status == 403
                && (retry_after.is_some() || exhausted || message.to_ascii_lowercase().contains("rate limit")));
        if status >= 500 || rate_limited {
            let wait = retry_after
                .as_deref()
                .and_then(|v| v.parse::<u64>().ok())
                .map(Duration::from_secs)
                .or_else(|| {
                    let reset: u64 = reset.as_deref()?.parse().ok()?;
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .ok()?
                        .as_secs();
                    exhausted.then(|| Duration::from_secs(reset.saturating_sub(now) + 1))
                });
            return Attempt::Retry(format!("{status} {message}"), wait);
        }
        Attempt::Refused(status, message)
    }

    /// Waits before another attempt: GitHub's `Retry-After` or rate-limit reset when it gave one (up
    /// to the cap: a longer wait gives up at once), else exponential backoff.
    async fn pause(&self, what: &str, attempt: u32, last: &str, asked: Option<Duration>) -> Result<(), CommentError> {
        let wait = match asked {
            Some(w) if w > self.max_wait => {
                return Err(CommentError::Unavailable {
                    what: what.to_string(),
                    message: format!(
                    "{last}; GitHub asks to wait {} s, longer than the {} s perfgate waits (PERFGATE_GITHUB_MAX_WAIT)",
                    w.as_secs(),
                    self.max_wait.as_secs()
                ),
                })
            }
            Some(w) => w.max(self.backoff),
            None => self.backoff * 2u32.pow(attempt.saturating_sub(1)),
        };
        errln!("perfgate: {what}: {last}; trying again in {:.1} s", wait.as_secs_f64());
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// Sends an idempotent request (GET, PATCH), retrying 5xx and rate limits.
    async fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, Value), CommentError> {
        let what = format!("{method} {}", path.split('?').next().unwrap_or(path));
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            match self.attempt(method, path, body).await {
                Attempt::Done(status, v) => return Ok((status, v)),
                Attempt::Refused(status, message) => return Err(CommentError::Refused { status, what, message }),
                Attempt::Retry(m, asked) => {
                    last = m;
                    if attempt + 1 < ATTEMPTS {
                        self.pause(&what, attempt + 1, &last, asked).await?;
                    }
                }
            }
        }
        Err(CommentError::Unavailable { what, message: last })
    }

    /// Who our comments are written by: `PERFGATE_COMMENT_AUTHOR`, else `GET /user`, else (an App's or
    /// the workflow's token, which may not read `/user`) comments posted through an app.
    async fn me(&self) -> Author {
        if let Some(a) = &self.author {
            return Author::Login(a.clone());
        }
        match self.send("GET", "/user", None).await {
            Ok((_, v)) => match v.get("login").and_then(Value::as_str) {
                Some(l) => Author::Login(l.to_string()),
                None => Author::App,
            },
            Err(_) => Author::App,
        }
    }

    /// Finds our comment on PR `pr`: it carries `marker` and was written by us; searches every page.
    /// A page that is not a list of comments is an error: nothing is posted on a guess.
    pub async fn find(&self, pr: u64, marker: &str) -> Result<Option<u64>, CommentError> {
        let me = self.me().await;
        for page in 1..=MAX_PAGES {
            let path = format!(
                "/repos/{}/issues/{pr}/comments?per_page={PER_PAGE}&page={page}",
                self.repo
            );
            let (_, v) = self.send("GET", &path, None).await?;
            let Some(comments) = v.as_array() else {
                return Err(CommentError::Unexpected {
                    what: format!("GET /repos/{}/issues/{pr}/comments (page {page})", self.repo),
                    message: format!("expected a list of comments, got {}", describe(&v)),
                });
            };
            for c in comments {
                let ours = c
                    .get("body")
                    .and_then(Value::as_str)
                    .is_some_and(|b| b.contains(marker))
                    && me.wrote(c);
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

    /// Updates our comment on PR `pr` in place, or creates it. A POST that failed may still have
    /// created the comment, so the comments are listed again before it is sent again.
    pub async fn upsert(&self, pr: u64, marker: &str, body: &str) -> Result<Posted, CommentError> {
        let payload = json!({ "body": body });
        let what = format!("POST /repos/{}/issues/{pr}/comments", self.repo);
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            if let Some(id) = self.find(pr, marker).await? {
                let path = format!("/repos/{}/issues/comments/{id}", self.repo);
                self.send("PATCH", &path, Some(&payload)).await?;
                return Ok(Posted::Updated(id));
            }
            let path = format!("/repos/{}/issues/{pr}/comments", self.repo);
            match self.attempt("POST", &path, Some(&payload)).await {
                Attempt::Done(_, v) => return Ok(Posted::Created(v.get("id").and_then(Value::as_u64).unwrap_or(0))),
                Attempt::Refused(status, message) => return Err(CommentError::Refused { status, what, message }),
                Attempt::Retry(m, asked) => {
                    last = m;
                    if attempt + 1 < ATTEMPTS {
                        self.pause(&what, attempt + 1, &last, asked).await?;
                    }
                }
            }
        }
        Err(CommentError::Unavailable { what, message: last })
    }
}

impl Client {
    /// The pull request a fork's `workflow_run` measured: `claimed` (the gate job's `--pr-file`) when
    /// GitHub confirms its head is the run's head commit, else the open pull request from the head
    /// repository's branch whose head is that commit. Nothing from the pull request's run is taken
    /// on trust: a file naming another pull request is refused.
    pub async fn pull_request_of_run(
        &self,
        run: &super::event::ForkRun,
        claimed: Option<&super::event::PullRequest>,
    ) -> Result<super::event::PullRequest, String> {
        let head_of = |v: &Value| {
            v.get("head")
                .and_then(|h| h.get("sha"))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        if let Some(c) = claimed {
            if c.head_sha != run.head_sha {
                return Err(format!(
                    "--pr-file names head {} but the workflow run measured {}: refusing it",
                    c.head_sha, run.head_sha
                ));
            }
            let path = format!("/repos/{}/pulls/{}", self.repo, c.number);
            let (_, v) = self.send("GET", &path, None).await.map_err(|e| e.to_string())?;
            return match head_of(&v) {
                Some(h) if h == run.head_sha => Ok(c.clone()),
                Some(h) => Err(format!(
                    "pull request #{}'s head is {h}, not {} that the workflow run measured: refusing the --pr-file",
                    c.number, run.head_sha
                )),
                None => Err(format!("GET {path} did not answer a pull request")),
            };
        }
        let (Some(owner), Some(branch)) = (&run.head_owner, &run.head_branch) else {
            return Err(super::event::not_a_pull_request());
        };
        let path = format!(
            "/repos/{}/pulls?state=open&per_page={PER_PAGE}&head={owner}:{branch}",
            self.repo
        );
        let (_, v) = self.send("GET", &path, None).await.map_err(|e| e.to_string())?;
        let pulls = v
            .as_array()
            .ok_or_else(|| format!("GET {path} did not answer a list"))?;
        pulls
            .iter()
            .find(|p| head_of(p).as_deref() == Some(run.head_sha.as_str()))
            .and_then(|p| p.get("number").and_then(Value::as_u64))
            .map(|number| super::event::PullRequest {
                number,
                head_sha: run.head_sha.clone(),
            })
            .ok_or_else(|| {
                format!(
                    "no open pull request from {owner}:{branch} has head {} (pass the gate job's PR file with --pr-file)",
                    run.head_sha
                )
            })
    }
}

/// Where a baseline downloaded from an artifact came from.
#[derive(Debug, Clone)]
pub struct ArtifactSource {
    /// The workflow run's id.
    pub run_id: u64,
    /// Its page.
    pub run_url: String,
    /// The artifact's name.
    pub artifact: String,
}

impl Client {
    /// `file` from the artifact `artifact` of the newest successful workflow run for `commit` (of
    /// `workflow`, a file name such as `perf.yml`, when given): the baseline that outlived the
    /// Actions cache. None when no such run or artifact exists (or it expired).
    pub async fn artifact_file(
        &self,
        commit: &str,
        workflow: Option<&str>,
        artifact: &str,
        file: &str,
    ) -> Result<Option<(Vec<u8>, ArtifactSource)>, String> {
        let runs = match workflow {
            Some(w) => format!(
                "/repos/{}/actions/workflows/{w}/runs?head_sha={commit}&status=success&per_page=20",
                self.repo
            ),
            None => format!(
                "/repos/{}/actions/runs?head_sha={commit}&status=success&per_page=20",
                self.repo
            ),
        };
        let (_, v) = self.send("GET", &runs, None).await.map_err(|e| e.to_string())?;
        let runs = v
            .get("workflow_runs")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("GET {}: no list of workflow runs", runs.split('?').next().unwrap_or("")))?;
        for run in runs.iter().take(5) {
            let Some(run_id) = run.get("id").and_then(Value::as_u64) else {
                continue;
            };
            let path = format!(
                "/repos/{}/actions/runs/{run_id}/artifacts?name={artifact}&per_page=10",
                self.repo
            );
            let (_, v) = self.send("GET", &path, None).await.map_err(|e| e.to_string())?;
            let found = v.get("artifacts").and_then(Value::as_array).and_then(|a| {
                a.iter().find(|x| {
                    x.get("name").and_then(Value::as_str) == Some(artifact)
                        && !x.get("expired").and_then(Value::as_bool).unwrap_or(false)
                })
            });
            let Some(url) = found
                .and_then(|x| x.get("archive_download_url"))
                .and_then(Value::as_str)
            else {
                continue;
            };
            let zip = self.download(url).await?;
            let Some(bytes) = super::zip::extract(&zip, file)? else {
                return Err(format!("the artifact {artifact} of run {run_id} holds no {file}"));
            };
            let run_url = run
                .get("html_url")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            return Ok(Some((
                bytes,
                ArtifactSource {
                    run_id,
                    run_url,
                    artifact: artifact.to_string(),
                },
            )));
        }
        Ok(None)
    }

    /// An artifact's zip: the API answers with a redirect to storage elsewhere, which is fetched
    /// without the token.
    async fn download(&self, url: &str) -> Result<Vec<u8>, String> {
        use http_body_util::BodyExt;
        let resp = self.gh._get(url).await.map_err(|e| format!("GET {url}: {e}"))?;
        let status = resp.status().as_u16();
        if (300..400).contains(&status) {
            let location = resp
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| format!("GET {url}: a redirect without a location"))?
                .to_string();
            let uri: hyper::Uri = location
                .parse()
                .map_err(|e| format!("the artifact's download location: {e}"))?;
            let req = hyper::Request::get(uri)
                .header(hyper::header::USER_AGENT, user_agent())
                .body(octocrab::OctoBody::empty())
                .map_err(|e| e.to_string())?;
            let resp = self
                .raw
                .request(req)
                .await
                .map_err(|e| format!("downloading the artifact: {e}"))?;
            if !resp.status().is_success() {
                return Err(format!("downloading the artifact: {}", resp.status()));
            }
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("downloading the artifact: {e}"))?;
            return Ok(body.to_bytes().to_vec());
        }
        if !(200..300).contains(&status) {
            return Err(format!("GET {url}: {status}"));
        }
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        Ok(body.to_bytes().to_vec())
    }
}

/// A short description of an unexpected answer.
fn describe(v: &Value) -> String {
    match v {
        Value::Object(_) => "a JSON object".into(),
        Value::String(s) => {
            let start: String = s.trim().chars().take(40).collect();
            format!("text that is not JSON (`{}`…)", start.replace('`', "'"))
        }
        Value::Null => "null".into(),
        other => format!("a JSON {}", if other.is_number() { "number" } else { "value" }),
    }
}

/// The hidden marker that identifies this gate's comment, and with a key (`--comment-key`) one of
/// several comments of the same gate (matrix jobs).
pub fn marker(gate: &str, key: Option<&str>) -> String {
    let safe = |s: &str| s.replace(['\n', '\r'], " ").replace("--", "- -").replace('>', "›");
    match key.filter(|k| !k.is_empty()) {
        Some(k) => format!("<!-- perfgate:{} key={} -->", safe(gate), safe(k)),
        None => format!("<!-- perfgate:{} -->", safe(gate)),
    }
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
        assert_eq!(marker("prismq", None), "<!-- perfgate:prismq -->");
        assert_eq!(marker("prismq", Some("linux")), "<!-- perfgate:prismq key=linux -->");
        assert_eq!(marker("a--b", Some("x-->y")), "<!-- perfgate:a- -b key=x- -›y -->");
        assert!(!marker("prismq", Some("linux")).contains(&marker("prismq", None)));
    }
}
