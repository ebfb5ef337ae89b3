//! The sticky comment's text, written for the people reading the pull request: what was measured
//! against what, whether there was a baseline at all, what needs attention first, and everything else
//! folded away. No runner-local path reaches it.

use super::comment;
use crate::metrics::results::Results;
use crate::report::markdown::cell;
use crate::report::row::{ms, rows};
use crate::report::Input;
use crate::verdict::compare::{Change, Mode, Regression};
use crate::verdict::{fmt_value, Check, Outcome};

/// What the comment says besides the verdict.
#[derive(Debug, Clone, Default)]
pub struct Context<'a> {
    /// `--comment-key`.
    pub key: Option<&'a str>,
    /// The pull request's head commit, from the event (None: unknown, e.g. a dry run).
    pub pr_head: Option<&'a str>,
    /// The base side's results, when head was compared.
    pub base: Option<&'a Results>,
    /// The workflow run's page (GITHUB_SERVER_URL/GITHUB_REPOSITORY/actions/runs/GITHUB_RUN_ID).
    pub run_url: Option<String>,
    /// `--accept-label`: the label that accepts the pull request's regressions.
    pub accept_label: Option<&'a str>,
}

impl Context<'_> {
    /// The workflow run's page from the Actions environment, when it is complete.
    pub fn run_url_from_env() -> Option<String> {
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
        Some(format!(
            "{}/{}/actions/runs/{}",
            var("GITHUB_SERVER_URL")?.trim_end_matches('/'),
            var("GITHUB_REPOSITORY")?,
            var("GITHUB_RUN_ID")?
        ))
    }
}

fn short(sha: &str) -> String {
    sha.chars().take(12).collect()
}

/// The comment: marker, verdict line, the commits measured, the baseline's status, what needs
/// attention, the rest folded, and links to the run and its reports; capped at GitHub's limit.
pub fn render(input: &Input, ctx: &Context) -> String {
    let r = input.results;
    let v = input.verdict;
    let mut out = format!("{}\n", comment::marker(&r.gate.name, ctx.key));
    let mark = if r.interrupted || r.load.generator.untrusted.is_some() {
        "⚠️"
    } else if v.passed() {
        "✅"
    } else {
        "❌"
    };
    let key = ctx.key.map(|k| format!(" ({})", cell(k))).unwrap_or_default();
    out.push_str(&format!(
        "### {mark} perfgate `{}`{key}: {}\n\n",
        cell(&r.gate.name),
        v.headline()
    ));
    if r.interrupted {
        out.push_str("**The run was interrupted: these numbers describe a partial run.**\n\n");
    }
    if let Some(why) = &r.load.generator.untrusted {
        out.push_str(&format!("**Untrusted run:** {}\n\n", cell(&redact(why))));
    }
    out.push_str(&commits_line(r, v.regression.as_ref(), ctx));
    out.push_str(&baseline_line(v.regression.as_ref()));

    // What needs attention: failing, no-data and marginal checks; regressions, warnings, marginal
    // comparisons (and inconclusive ones when they fail the gate).
    let (hot_checks, cool_checks): (Vec<&Check>, Vec<&Check>) = crate::report::checks_failing_first(v)
        .into_iter()
        .partition(|c| c.outcome != Outcome::Pass);
    let attention = |c: &&crate::verdict::compare::Comparison, reg: &Regression| match c.change {
        Change::Regression | Change::Warn | Change::Marginal | Change::Accepted => true,
        Change::Inconclusive => reg.fail_on_inconclusive,
        Change::Improvement | Change::Pass => false,
    };
    let (hot_cmp, cool_cmp) = match &v.regression {
        Some(reg) => {
            let (h, c): (Vec<_>, Vec<_>) = reg.comparisons.iter().partition(|c| attention(c, reg));
            (h, c)
        }
        None => (Vec::new(), Vec::new()),
    };
    if hot_checks.is_empty() && hot_cmp.is_empty() {
        out.push_str("Nothing needs attention: no target missed");
        if v.regression.is_some() {
            out.push_str(", no regression and no warning");
        }
        out.push_str(".\n\n");
    } else {
        if !hot_checks.is_empty() {
            out.push_str(&checks_table(&hot_checks, v.no_data_fails));
        }
        if let Some(reg) = &v.regression {
            if !hot_cmp.is_empty() {
                out.push_str(&comparisons_table(&hot_cmp, reg));
                for c in &hot_cmp {
                    out.push_str(&format!(
                        "- `{}: {}`: {}\n",
                        cell(&c.subject),
                        c.metric,
                        cell(&redact(&c.reason))
                    ));
                }
                out.push('\n');
            }
        }
    }

    // Everything else, folded: passing checks, passing, improved and inconclusive comparisons.
    if !cool_checks.is_empty() || !cool_cmp.is_empty() {
        let inconclusive = cool_cmp.iter().filter(|c| c.change.undecided()).count();
        let mut parts = Vec::new();
        if !cool_checks.is_empty() {
            parts.push(format!("{} passing checks", cool_checks.len()));
        }
        let settled = cool_cmp.len() - inconclusive;
        if settled > 0 {
            parts.push(format!("{settled} passing or improved comparisons"));
        }
        if inconclusive > 0 {
            parts.push(format!("{inconclusive} inconclusive"));
        }
        out.push_str(&format!("<details><summary>{}</summary>\n\n", parts.join(", ")));
        if !cool_checks.is_empty() {
            out.push_str(&checks_table(&cool_checks, v.no_data_fails));
        }
        if let Some(reg) = &v.regression {
            if !cool_cmp.is_empty() {
                out.push_str(&comparisons_table(&cool_cmp, reg));
            }
            let unclear: Vec<_> = cool_cmp.iter().filter(|c| c.change.undecided()).collect();
            for c in unclear {
                let sensitivity = crate::report::sensitivity_text(c)
                    .map(|s| format!("; {}", cell(&s)))
                    .unwrap_or_default();
                out.push_str(&format!(
                    "- `{}: {}` inconclusive: {}{sensitivity}\n",
                    cell(&c.subject),
                    c.metric,
                    cell(&redact(&c.reason))
                ));
            }
        }
        out.push_str("\n</details>\n\n");
    }
    if let Some(hint) = v.regression.as_ref().and_then(|r| how_to_accept(r, ctx.accept_label)) {
        out.push_str(&hint);
    }
    let notes = v.notes.iter().chain(v.regression.iter().flat_map(|r| r.notes.iter()));
    for n in notes {
        out.push_str(&format!("> note: {}\n", cell(&redact(n))));
    }
    if !v.notes.is_empty() || v.regression.as_ref().is_some_and(|r| !r.notes.is_empty()) {
        out.push('\n');
    }
    out.push_str(&stats_table(r));
    out.push_str(&footer(input, ctx));
    comment::cap(&out, comment::MAX_BODY)
}

/// `Measured `head` against `base` (...)`: the commits the numbers are for, from the results files.
fn commits_line(r: &Results, reg: Option<&Regression>, ctx: &Context) -> String {
    let head = r.commit.as_deref().map(short);
    let mut s = match &head {
        Some(h) => format!("**Measured** `{h}`"),
        None => "**Measured** an unknown commit".to_string(),
    };
    if let Some(reg) = reg {
        let base = ctx.base.and_then(|b| b.commit.as_deref()).map(short);
        let how = match reg.mode {
            Mode::Duet => "both loaded in the same window (duet)",
            Mode::Sequential => "its saved results (sequential: base ran earlier)",
        };
        match base {
            Some(b) if Some(&b) == head.as_ref() && reg.mode == Mode::Duet => s.push_str(&format!(
                " against a base build whose commit perfgate was not told (`--baseline-commit`, the action's `base-commit`), {how}"
            )),
            Some(b) => s.push_str(&format!(" against base `{b}`, {how}")),
            None => s.push_str(&format!(" against a base of unknown commit, {how}")),
        }
    }
    s.push_str(".\n");
    if let (Some(pr), Some(h)) = (ctx.pr_head, &head) {
        if !pr.starts_with(h.as_str()) {
            s.push_str(&format!(
                "⚠️ The pull request's head is `{}`, not the commit measured (a merge commit or an older push?).\n",
                short(pr)
            ));
        }
    }
    s.push('\n');
    s
}

/// Whether head was compared with a baseline, in words nobody can mistake for "no regression".
fn baseline_line(reg: Option<&Regression>) -> String {
    match reg {
        None => "**No baseline found: regressions were not checked.** There were no saved results of the base commit to compare with (none saved yet, or both the cache entry and its run's artifact are gone); only the targets below were judged. This is not the same as \"no regression\".\n\n".to_string(),
        Some(reg) => {
            let regressions = reg
                .comparisons
                .iter()
                .filter(|c| c.change == Change::Regression)
                .count();
            let undecided = reg.comparisons.iter().filter(|c| c.change.undecided()).count();
            let total = reg.comparisons.len();
            let decided = total - undecided;
            let confidence = reg.confidence * 100.0;
            let mut s = if regressions > 0 {
                format!("**{regressions} regression(s)** against base in {total} comparisons ({confidence:.0}% confidence for all together)")
            } else if decided == 0 && total > 0 {
                format!("**Not decided against base:** none of the {total} comparisons could be decided either way (too few samples, or intervals that straddle the budget); this is not \"no regression\"")
            } else {
                format!("**No regression** against base in {decided} decided comparisons ({confidence:.0}% confidence for all together)")
            };
            if undecided > 0 && (regressions > 0 || decided > 0) {
                s.push_str(&format!("; {undecided} could not be decided either way"));
            }
            s.push_str(".\n\n");
            s
        }
    }
}

/// How to accept the first regression on purpose, as a gate-file snippet, folded.
fn how_to_accept(reg: &Regression, label: Option<&str>) -> Option<String> {
    let c = reg.comparisons.iter().find(|c| c.change == Change::Regression)?;
    let metric = crate::metric::Metric::parse(&c.metric)?;
    let up = crate::gate::budget::worse_is_up(metric);
    let worse = c.delta_pct.map(|d| if up { d } else { -d })?;
    let up_to = format!("{}{:.0}%", if up { "+" } else { "-" }, worse.abs().ceil() + 1.0);
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0) as i64;
    let (y, m, d) = crate::gate::civil_from_days(days + 30);
    let subject = c.subject.replace('\\', "\\\\").replace('"', "\\\"");
    let or_label = label
        .map(|l| format!("Or add the label `{}` to the pull request and run the job again: it accepts all of its regressions.\n\n", cell(l)))
        .unwrap_or_default();
    Some(format!(
        "<details><summary>Accept a regression on purpose</summary>\n\n\
         Add an entry to the gate file: the regression then passes as accepted, with its reason in \
         every report, until the date (after it, the gate refuses to run until the entry is removed \
         or renewed).\n\n\
         ```yaml\naccept:\n  - select: \"{subject}\"\n    metric: {}\n    up_to: \"{up_to}\"\n    \
         reason: \"why this is worth it\"\n    until: {y:04}-{m:02}-{d:02}\n```\n\n{or_label}</details>\n\n",
        c.metric
    ))
}

fn checks_table(checks: &[&Check], no_data_fails: bool) -> String {
    let mut out = String::from("| | Check | Measured | Limit | Samples |\n|:-:|---|--:|--:|--:|\n");
    for c in checks {
        let icon = match c.outcome {
            Outcome::Pass => "✅",
            Outcome::Marginal => "🟠 marginal",
            Outcome::Fail => "❌",
            Outcome::NoData if no_data_fails => "❌ no data",
            Outcome::NoData => "⚠️ no data",
        };
        out.push_str(&format!(
            "| {icon} | `{}` | {} | {} {}{} | {} |\n",
            cell(&c.name),
            cell(&crate::report::value_or_dash(c.measured, &c.unit)),
            c.op,
            fmt_value(c.threshold),
            c.unit,
            c.samples
        ));
    }
    out.push('\n');
    out
}

fn comparisons_table(comps: &[&crate::verdict::compare::Comparison], reg: &Regression) -> String {
    let mut comps = comps.to_vec();
    comps.sort_by_key(|c| c.change.rank());
    let mut out = String::from(
        "| | Comparison | Base | Head | Change | Interval (+ = head higher) | Budget |\n|:-:|---|--:|--:|--:|--:|--:|\n",
    );
    for c in comps {
        let icon = crate::report::markdown::change_icon(c.change, reg.fail_on_inconclusive);
        out.push_str(&format!(
            "| {icon} | `{}: {}` | {} | {} | {} | {} | {} |\n",
            cell(&c.subject),
            c.metric,
            crate::report::value_or_dash(c.base, &c.unit),
            crate::report::value_or_dash(c.head, &c.unit),
            crate::report::delta_text(c),
            crate::report::interval_text(c),
            cell(&c.budget)
        ));
    }
    out.push('\n');
    out
}

fn stats_table(r: &Results) -> String {
    let mut out = String::from("<details><summary>Per-request stats</summary>\n\n");
    out.push_str(
        "| Name | Requests | Fails | Avg ms | Min ms | Max ms | p50 ms | p90 ms | p95 ms | p99 ms | req/s |\n",
    );
    out.push_str("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
    for row in rows(r) {
        let v = &row.values;
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {:.2} |\n",
            cell(v.name),
            v.requests,
            v.failures,
            v.latencies_ms().map(|(_, x)| ms(x)).join(" | "),
            v.rps
        ));
    }
    out.push('\n');
    if let Some(s) = &r.server {
        let n = s.samples.len().max(1) as f64;
        let peak_rss = s.samples.iter().map(|x| x.rss_mb).fold(0.0, f64::max);
        let mean_cpu = s.samples.iter().map(|x| x.cpu_pct).sum::<f64>() / n;
        out.push_str(&format!(
            "Service: CPU mean {mean_cpu:.0}% of one core, RSS peak {peak_rss:.1} MB over {} samples{}.\n\n",
            s.samples.len(),
            s.exited
                .as_ref()
                .map(|e| format!("; {}", cell(&redact(e))))
                .unwrap_or_default()
        ));
    }
    out.push_str("</details>\n\n");
    out
}

fn footer(input: &Input, ctx: &Context) -> String {
    let r = input.results;
    let mut parts = vec![format!("perfgate {}", r.tool.version)];
    let gate = redact(input.gate_file);
    parts.push(format!("gate `{}`", cell(&gate)));
    parts.push(format!("{} users, {:.0} s", r.load.users, r.load.duration_s));
    if let Some(url) = &ctx.run_url {
        parts.push(format!("[workflow run]({url})"));
        parts.push(format!("[reports (artifact)]({url}#artifacts)"));
    }
    format!("<sub>{}</sub>\n", parts.join(" · "))
}

/// Removes runner-local paths: the workspace, the runner's temp and tool folders, the home folder
/// and the temp folder become relative, `~/` or `…/` (request paths are left alone).
pub fn redact(text: &str) -> String {
    let mut out = text.to_string();
    let mut prefixes: Vec<(String, &str)> = Vec::new();
    for (var, with) in [
        ("GITHUB_WORKSPACE", ""),
        ("RUNNER_TEMP", "…/"),
        ("RUNNER_TOOL_CACHE", "…/"),
        ("HOME", "~/"),
    ] {
        if let Ok(v) = std::env::var(var) {
            if v.len() > 1 {
                prefixes.push((format!("{}/", v.trim_end_matches('/')), with));
            }
        }
    }
    if let Ok(cwd) = std::env::current_dir() {
        prefixes.push((format!("{}/", cwd.display().to_string().trim_end_matches('/')), ""));
    }
    let tmp = std::env::temp_dir().display().to_string();
    prefixes.push((format!("{}/", tmp.trim_end_matches('/')), "…/"));
    // GitHub-hosted runners' own roots, when the variables are not set (a saved results file).
    for (root, with) in [
        ("/home/runner/work/", "…/"),
        ("/home/runner/", "~/"),
        ("/Users/runner/", "~/"),
        ("/__w/", "…/"),
        ("/github/workspace/", ""),
        ("/opt/hostedtoolcache/", "…/"),
    ] {
        prefixes.push((root.to_string(), with));
    }
    // Longest first: the workspace inside the home folder is the workspace.
    prefixes.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
    for (p, with) in &prefixes {
        out = out.replace(p.as_str(), with);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn a_regression_comes_with_the_entry_that_would_accept_it() {
        use crate::verdict::compare::{Change, Comparison, Mode, Regression};
        let c = Comparison {
            name: "GET /api/modules: p95 +10% vs base".into(),
            subject: "GET /api/modules".into(),
            metric: "p95".into(),
            budget: "+10%".into(),
            base: Some(10.0),
            head: Some(12.34),
            unit: " ms".into(),
            delta_pct: Some(23.4),
            worse_ci: Some((20.0, 27.0)),
            higher_is_worse: true,
            ci_unit: "%".into(),
            fail_at: 10.0,
            change: Change::Regression,
            reason: "worse".into(),
            samples: (100, 100),
            blocks: None,
            min_detectable: None,
            rounds: None,
            confirmations: Vec::new(),
            pos: crate::gate::Pos { line: 3, col: 7 },
        };
        let reg = Regression {
            mode: Mode::Duet,
            comparisons: vec![c],
            fail_on_inconclusive: false,
            confidence: 0.95,
            notes: vec![],
        };
        let hint = super::how_to_accept(&reg, Some("perf-ok")).unwrap();
        assert!(hint.contains("Or add the label `perf-ok`"), "{hint}");
        assert!(
            hint.contains(
                "accept:\n  - select: \"GET /api/modules\"\n    metric: p95\n    up_to: \"+25%\"\n    reason:"
            ),
            "{hint}"
        );
        let yaml = hint.split("```yaml\n").nth(1).unwrap().split("```").next().unwrap();
        let until = yaml.lines().last().unwrap().trim().strip_prefix("until: ").unwrap();
        assert_eq!(until.len(), 10, "{until}");
    }

    #[test]
    fn runner_paths_are_removed() {
        let tmp = std::env::temp_dir().display().to_string();
        let s = redact(&format!(
            "output in {tmp}/perfgate-service-1.log; see /home/runner/work/x/y.json"
        ));
        assert!(!s.contains(&tmp) && !s.contains("/home/runner"), "{s}");
        assert!(s.contains("perfgate-service-1.log") && s.contains("y.json"), "{s}");
        assert_eq!(redact("GET /api/runs/{id} p95"), "GET /api/runs/{id} p95");
    }
}
