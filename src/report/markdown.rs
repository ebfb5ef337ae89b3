//! Markdown summary: verdict line, checks table, per-request stats, run metadata (GitHub-flavoured).

use super::{Format, Input};
use crate::report::row::{ms, rows};
use crate::verdict::{fmt_value, Outcome};

/// The markdown summary format.
pub struct Markdown;

/// Escapes text for a GitHub table cell: `|` would end the cell (even in a code span), newlines the row.
/// Backslashes stay as they are: cells hold names in code spans, where `\\` is literal.
pub fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// `s` as a code span in a table cell: fenced with one backtick more than its longest run of them
/// (padded when it starts or ends with one), so a name with a backtick stays one span.
pub fn code(s: &str) -> String {
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{}{pad}{fence}", cell(s))
}

impl Format for Markdown {
    fn name(&self) -> &'static str {
        "markdown summary"
    }

    fn render(&self, input: &Input) -> Result<Vec<u8>, String> {
        Ok(render(input).into_bytes())
    }

    fn render_failed(&self, f: &super::Failed) -> Option<Result<Vec<u8>, String>> {
        Some(Ok(format!(
            "### ❌ perfgate `{}`: no results\n\nThe run produced no results ({}):\n\n```text\n{}\n```\n",
            cell(f.gate),
            cell(f.gate_file),
            f.reason.replace("```", "'''")
        )
        .into_bytes()))
    }
}

/// A comparison's outcome as a table cell: the mark and the word (undecided ones fail with
/// `fail_on_inconclusive`).
pub fn change_icon(change: crate::verdict::compare::Change, fail_on_inconclusive: bool) -> &'static str {
    use crate::verdict::compare::Change;
    match change {
        Change::Regression => "❌ regression",
        Change::Inconclusive if fail_on_inconclusive => "❌ inconclusive",
        Change::Marginal if fail_on_inconclusive => "❌ marginal",
        Change::Inconclusive => "❔ inconclusive",
        Change::Marginal => "🟠 marginal",
        Change::Warn => "⚠️ warn",
        Change::Improvement => "🚀 improved",
        Change::Accepted => "✅ accepted",
        Change::Pass => "✅",
    }
}

/// The summary as text.
pub fn render(input: &Input) -> String {
    let r = input.results;
    let v = input.verdict;
    let mark = if r.interrupted {
        "⚠️"
    } else if v.passed() {
        "✅"
    } else {
        "❌"
    };
    let mut out = format!("### {mark} perfgate {}: {}\n\n", code(&r.gate.name), v.headline());
    if r.interrupted {
        out.push_str("**The run was interrupted: these numbers describe a partial run.**\n\n");
    }
    if !v.checks.is_empty() {
        out.push_str("| | Check | Measured | Limit | Samples |\n|:-:|---|--:|--:|--:|\n");
        for c in super::checks_failing_first(v) {
            let icon = match c.outcome {
                Outcome::Pass => "✅",
                Outcome::Marginal => "🟠 marginal",
                Outcome::Fail => "❌",
                Outcome::NoData if v.no_data_fails => "❌ no data",
                Outcome::NoData => "⚠️ no data",
            };
            out.push_str(&format!(
                "| {icon} | {} | {} | {} {}{} | {} |\n",
                code(&c.name),
                cell(&super::value_or_dash(c.measured, &c.unit)),
                c.op,
                fmt_value(c.threshold),
                c.unit,
                c.samples
            ));
        }
        out.push('\n');
    }
    for n in &v.notes {
        out.push_str(&format!("> note: {}\n\n", cell(n)));
    }
    if let Some(reg) = &v.regression {
        out.push_str(&regression_table(reg));
    }
    if let Some(line) = crate::report::terminal::abandoned_line(r) {
        out.push_str(&format!("> **{}**\n\n", cell(&line)));
    }
    if let Some(line) = crate::report::terminal::server_line(r) {
        out.push_str(&format!("{}\n\n", cell(&line)));
    }
    out.push_str("<details><summary>Per-request stats</summary>\n\n");
    out.push_str(
        "| Name | Requests | Fails | Avg ms | Min ms | Max ms | p50 ms | p90 ms | p95 ms | p99 ms | p99.9 ms | req/s |\n",
    );
    out.push_str("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
    let all = rows(r);
    for row in &all {
        let v = &row.values;
        out.push_str(&format!(
            "| {} | {} | {} | {} | {:.2} |\n",
            code(v.name),
            v.requests,
            v.failures,
            v.latencies_ms().map(|(_, x)| ms(x)).join(" | "),
            v.rps
        ));
    }
    let net = super::row::net_rows(&all);
    if !net.is_empty() {
        out.push_str(
            "\n| Name | Sent | Received | New conns | Connect avg ms | Connect max ms | TTFB p50 ms | TTFB p95 ms | Total p95 ms |\n",
        );
        out.push_str("|---|--:|--:|--:|--:|--:|--:|--:|--:|\n");
        for n in &net {
            use super::row::{bytes_text, ms_or_dash};
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                code(n.name),
                bytes_text(n.bytes_sent),
                bytes_text(n.bytes_received),
                n.connects,
                ms_or_dash(n.connect_avg_ms),
                ms_or_dash(n.connect_max_ms),
                ms_or_dash(n.ttfb_p50_ms),
                ms_or_dash(n.ttfb_p95_ms),
                ms(n.total_p95_ms)
            ));
        }
    }
    if let Some(line) = crate::report::terminal::phase_line(r) {
        out.push_str(&format!("\n{}\n", cell(&line)));
    }
    for line in crate::report::terminal::answer_lines(r) {
        out.push_str(&format!("\n{}\n", cell(&line)));
    }
    out.push_str("\n</details>\n\n");
    let failures = super::terminal::failure_lines(r);
    if !failures.is_empty() {
        out.push_str("<details><summary>Failures</summary>\n\n");
        for line in &failures {
            out.push_str(&format!("- {}\n", cell(line)));
        }
        out.push_str("\n</details>\n\n");
    }
    let ramp = if v.checks.is_empty() {
        ""
    } else if v.checks.iter().any(|c| !c.include_ramp_up) {
        " left out of the checks"
    } else {
        " included in the checks"
    };
    out.push_str(&format!(
        "Target {} · {} · {:.0} s run, {:.1} s ramp-up{ramp} · seed {} · commit `{}` · perfgate {} · gate {} (sha256 {}) · started {}\n",
        code(&r.target),
        cell(&super::load_words(r)),
        r.load.duration_s,
        r.load.ramp_up_s,
        r.load.seed,
        r.commit.as_deref().map(|c| c.chars().take(12).collect::<String>()).unwrap_or_else(|| "unknown".into()),
        r.tool.version,
        code(input.gate_file),
        r.gate.sha256.chars().take(12).collect::<String>(),
        r.started_at,
    ));
    out
}

/// The comparison with the baseline as a markdown table, regressions first, then notes.
pub fn regression_table(reg: &crate::verdict::compare::Regression) -> String {
    use crate::verdict::compare::{Change, Mode};
    let mut out = format!(
        "**Compared with base** ({}; {:.0}% confidence for all {} comparisons together)\n\n",
        match reg.mode {
            Mode::Duet => "duet: base and head loaded together",
            Mode::Sequential => "sequential: base ran earlier, run-to-run noise allowed for",
        },
        reg.confidence * 100.0,
        reg.comparisons.len()
    );
    out.push_str(
        "| | Comparison | Base | Head | Change | Interval (+ = head higher) | Budget |\n|:-:|---|--:|--:|--:|--:|--:|\n",
    );
    let mut comps: Vec<_> = reg.comparisons.iter().collect();
    comps.sort_by_key(|c| c.change.rank());
    for c in comps {
        let icon = change_icon(c.change, reg.fail_on_inconclusive);
        out.push_str(&format!(
            "| {icon} | {} | {} | {} | {} | {} | {} |\n",
            code(&format!("{}: {}", c.subject, c.metric)),
            super::value_or_dash(c.base, &c.unit),
            super::value_or_dash(c.head, &c.unit),
            super::delta_text(c),
            super::interval_text(c),
            cell(&c.budget)
        ));
    }
    out.push('\n');
    for c in reg.comparisons.iter().filter(|c| c.change == Change::Accepted) {
        out.push_str(&format!(
            "- ✅ `{}: {}` {}\n",
            cell(&c.subject),
            c.metric,
            cell(&c.reason)
        ));
    }
    if reg.comparisons.iter().any(|c| c.change == Change::Accepted) {
        out.push('\n');
    }
    let unclear: Vec<_> = reg.comparisons.iter().filter(|c| c.change.undecided()).collect();
    if !unclear.is_empty() {
        out.push_str("<details><summary>Why inconclusive</summary>\n\n");
        for c in unclear {
            let sensitivity = super::sensitivity_text(c)
                .map(|s| format!("; {}", cell(&s)))
                .unwrap_or_default();
            out.push_str(&format!(
                "- `{}: {}`: {}{sensitivity}\n",
                cell(&c.subject),
                c.metric,
                cell(&c.reason)
            ));
        }
        out.push_str("\n</details>\n\n");
    }
    for n in &reg.notes {
        out.push_str(&format!("> ⚠️ {}\n", cell(n)));
    }
    if !reg.notes.is_empty() {
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_pipes_and_newlines() {
        assert_eq!(cell("GET /a|b"), "GET /a\\|b");
        assert_eq!(cell("x\ny"), "x y");
        assert_eq!(cell("GET /a\\b"), "GET /a\\b");
    }
}
