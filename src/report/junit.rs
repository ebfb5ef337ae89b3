//! JUnit XML: one testsuite per gate, one testcase per check and comparison, run metadata as
//! properties.
//!
//! Two dialects. `junit10` (the default) is valid against Jenkins' `junit-10.xsd` (the schema the
//! xUnit plugin validates against): the gate location goes in the failure text and `system-out`.
//! `github` adds `file` and `line` attributes to every testcase, which GitHub's and GitLab's reporters
//! (dorny/test-reporter, mikepenz/action-junit-report, EnricoMi/publish-unit-test-result-action) read
//! for annotations, and which that schema does not allow.

use super::{Format, Input};
use crate::verdict::compare::{Change, Comparison};
use crate::verdict::{Check, Outcome};
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
use std::time::Duration;

/// Which JUnit dialect to write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Flavor {
    /// Valid against junit-10.xsd (Jenkins); the location is in the text.
    #[default]
    Junit10,
    /// Also `file` and `line` on every testcase, for GitHub's and GitLab's reporters.
    Github,
}

impl Flavor {
    /// Parses `junit10` or `github`.
    pub fn parse(s: &str) -> Result<Flavor, String> {
        match s {
            "junit10" | "jenkins" => Ok(Flavor::Junit10),
            "github" | "gitlab" => Ok(Flavor::Github),
            _ => Err(format!(
                "unknown JUnit flavor `{s}`: use `junit10` (valid against Jenkins' junit-10.xsd, the default) or `github` (adds file and line to testcases for GitHub's and GitLab's reporters)"
            )),
        }
    }
}

/// The JUnit XML format.
#[derive(Debug, Clone, Copy, Default)]
pub struct Junit {
    /// The dialect.
    pub flavor: Flavor,
}

/// A failing status with a message (one line) and a text (the details).
fn failure(kind: &str, message: String, text: String) -> TestCaseStatus {
    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
    s.set_message(message).set_type(kind).set_description(text);
    s
}

impl Junit {
    /// A testcase with the gate location where this dialect puts it.
    fn case(&self, name: &str, classname: String, status: TestCaseStatus, file: &str, line: u32) -> TestCase {
        let mut case = TestCase::new(name, status);
        case.set_classname(classname);
        if self.flavor == Flavor::Github {
            case.extra.insert("file".into(), file.into());
            case.extra.insert("line".into(), line.to_string().into());
        }
        case
    }

    /// The document: quick-junit's, with the one attribute junit-10.xsd does not allow on
    /// `<testsuites>` (`skipped`) left out in that dialect.
    fn finish(&self, suite: TestSuite, time: Duration) -> Result<Vec<u8>, String> {
        let mut report = Report::new("perfgate");
        report.set_time(time);
        report.add_test_suite(suite);
        let xml = report.to_string().map_err(|e| e.to_string())?;
        Ok(match self.flavor {
            Flavor::Github => xml,
            Flavor::Junit10 => strip_testsuites_skipped(&xml),
        }
        .into_bytes())
    }

    /// A report for a run that produced no results (an unreachable target, a service that did not
    /// start): one failing testcase that names the reason, so a JUnit publisher shows a red test
    /// instead of a missing file.
    pub fn render_error(&self, gate: &str, gate_file: &str, reason: &str) -> Result<Vec<u8>, String> {
        let mut suite = TestSuite::new(gate);
        suite.add_property(Property::new("gate.file", gate_file));
        suite.add_property(Property::new("perfgate.version", env!("CARGO_PKG_VERSION")));
        suite.set_timestamp(chrono_now());
        suite.extra.insert("hostname".into(), hostname().into());
        let first = reason.lines().next().unwrap_or(reason).trim_start_matches("error: ");
        let status = failure(
            "untrusted",
            first.to_string(),
            format!("{reason}\nlocation: {gate_file}:1\n"),
        );
        suite.add_test_case(self.case("perfgate run", format!("perfgate.{gate}"), status, gate_file, 1));
        self.finish(suite, Duration::ZERO)
    }
}

/// Now, for reports written without results.
fn chrono_now() -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now()).fixed_offset()
}

/// This machine's name, for the testsuite's `hostname`.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// `<testsuites … skipped="N" …>` without the `skipped` attribute (junit-10.xsd has none there).
fn strip_testsuites_skipped(xml: &str) -> String {
    let Some(start) = xml.find("<testsuites") else {
        return xml.to_string();
    };
    let end = xml[start..].find('>').map_or(xml.len(), |e| start + e);
    let tag = &xml[start..end];
    let Some(at) = tag.find(" skipped=\"") else {
        return xml.to_string();
    };
    let value_end = tag[at + 10..].find('"').map_or(tag.len(), |e| at + 10 + e + 1);
    format!("{}{}{}", &xml[..start + at], &tag[value_end..], &xml[end..])
}

/// The details of a check: what was measured against what, and where the target is written.
fn check_text(c: &Check, file: &str) -> String {
    format!("{}: {}\nlocation: {file}:{}\n", c.name, c.message(), c.pos.line)
}

/// The details of a comparison: base and head, the change, its interval, the budget, the reason.
fn comparison_text(c: &Comparison, file: &str) -> String {
    let values = match (c.base, c.head) {
        (Some(b), Some(h)) => format!(
            "base {}, head {}, change {}, interval {} (+ = head higher), budget {}\n",
            super::value_or_dash(Some(b), &c.unit),
            super::value_or_dash(Some(h), &c.unit),
            super::delta_text(c),
            super::interval_text(c),
            c.budget,
        ),
        _ => String::new(),
    };
    format!(
        "{}: {}\n{values}location: {file}:{}\n",
        c.change.label(),
        c.reason,
        c.pos.line
    )
}

impl Format for Junit {
    fn name(&self) -> &'static str {
        "JUnit XML"
    }

    fn render_failed(&self, f: &super::Failed) -> Option<Result<Vec<u8>, String>> {
        Some(self.render_error(f.gate, f.gate_file, f.reason))
    }

    fn render(&self, input: &Input) -> Result<Vec<u8>, String> {
        let r = input.results;
        let file = input.gate_file;
        let mut suite = TestSuite::new(r.gate.name.as_str());
        let props: Vec<(&str, String)> = vec![
            ("gate.file", file.to_string()),
            ("gate.sha256", r.gate.sha256.clone()),
            ("target", r.target.clone()),
            ("users", r.load.users.to_string()),
            (
                "spawn_rate",
                r.load
                    .spawn_rate
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "all at once".into()),
            ),
            ("run_time_s", r.load.run_time_s.to_string()),
            ("duration_s", r.load.duration_s.to_string()),
            ("ramp_up_s", r.load.ramp_up_s.to_string()),
            ("seed", r.load.seed.to_string()),
            ("commit", r.commit.clone().unwrap_or_default()),
            ("started_at", r.started_at.clone()),
            ("perfgate.version", r.tool.version.clone()),
            ("interrupted", r.interrupted.to_string()),
            ("abandoned_requests", r.load.abandoned_requests.to_string()),
        ];
        for (k, v) in props {
            suite.add_property(Property::new(k, v));
        }
        let run_time = Duration::from_secs_f64(r.load.duration_s.max(0.0));
        if let Ok(t) = chrono::DateTime::parse_from_rfc3339(&r.started_at) {
            suite.set_timestamp(t);
        }
        suite.set_time(run_time);
        suite.extra.insert("hostname".into(), hostname().into());
        let class = format!("perfgate.{}", r.gate.name);
        // A run that cannot be trusted is a red test of its own, whatever its checks say.
        let untrusted = if r.interrupted {
            Some("the run was interrupted; its numbers describe a partial run".to_string())
        } else {
            r.load.generator.untrusted.clone()
        };
        if let Some(why) = untrusted {
            let status = failure("untrusted", why.clone(), format!("{why}\nlocation: {file}:1\n"));
            let mut case = self.case("perfgate run can be trusted", class.clone(), status, file, 1);
            case.set_time(run_time);
            suite.add_test_case(case);
        }
        if let Some(line) = super::terminal::abandoned_line(r) {
            suite.set_system_out(line);
        }
        for c in &input.verdict.checks {
            let judged = if c.include_ramp_up {
                r.load.duration_s
            } else {
                r.load.duration_s - r.load.ramp_up_s
            };
            let status = match c.outcome {
                Outcome::Pass | Outcome::Marginal => TestCaseStatus::success(),
                Outcome::Fail => failure("threshold", format!("{}: {}", c.name, c.message()), check_text(c, file)),
                Outcome::NoData if input.verdict.no_data_fails => {
                    failure("no-data", format!("{}: {}", c.name, c.message()), check_text(c, file))
                }
                Outcome::NoData => {
                    let mut s = TestCaseStatus::skipped();
                    s.set_message(c.message());
                    s
                }
            };
            let mut case = self.case(&c.name, class.clone(), status, file, c.pos.line);
            case.set_time(Duration::from_secs_f64(judged.max(0.0)));
            let mut out = check_text(c, file);
            for name in &c.requests {
                if let Some(q) = r.requests.iter().find(|q| &q.name == name) {
                    out.push_str(&super::stats_line(name, &q.phases.all(), r.load.duration_s));
                    out.push('\n');
                }
            }
            case.set_system_out(out);
            suite.add_test_case(case);
        }
        if let Some(reg) = &input.verdict.regression {
            for c in &reg.comparisons {
                let status = match c.change {
                    Change::Regression => failure(
                        "regression",
                        format!("{}: {}", c.name, c.reason),
                        comparison_text(c, file),
                    ),
                    Change::Inconclusive | Change::Marginal if reg.fail_on_inconclusive => failure(
                        c.change.label(),
                        format!("{}: {}: {}", c.name, c.change.label(), c.reason),
                        comparison_text(c, file),
                    ),
                    // Undecided comparisons pass (as the gate does); system-out says why. Skipped
                    // testcases would read as "18 skipped" on a dashboard for a passing gate.
                    _ => TestCaseStatus::success(),
                };
                let mut case = self.case(&c.name, format!("{class}.regression"), status, file, c.pos.line);
                case.set_time(run_time);
                case.set_system_out(comparison_text(c, file));
                suite.add_test_case(case);
            }
        }
        self.finish(suite, run_time)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_testsuites_tag_loses_only_its_skipped_attribute() {
        let xml = "<?xml version=\"1.0\"?>\n<testsuites name=\"perfgate\" tests=\"3\" skipped=\"1\" failures=\"0\" errors=\"0\" time=\"1.000\">\n<testsuite name=\"g\" tests=\"3\" skipped=\"1\">";
        assert_eq!(
            strip_testsuites_skipped(xml),
            "<?xml version=\"1.0\"?>\n<testsuites name=\"perfgate\" tests=\"3\" failures=\"0\" errors=\"0\" time=\"1.000\">\n<testsuite name=\"g\" tests=\"3\" skipped=\"1\">"
        );
    }

    #[test]
    fn flavors_parse_and_a_wrong_one_says_which_exist() {
        assert_eq!(Flavor::parse("github"), Ok(Flavor::Github));
        assert_eq!(Flavor::parse("junit10"), Ok(Flavor::Junit10));
        assert!(Flavor::parse("xunit").unwrap_err().contains("use `junit10`"));
    }

    #[test]
    fn a_run_without_results_is_one_failing_testcase_naming_the_reason() {
        let xml = String::from_utf8(
            Junit::default()
                .render_error(
                    "g",
                    "g.yaml",
                    "error: cannot reach http://127.0.0.1:1\n  = help: start it",
                )
                .unwrap(),
        )
        .unwrap();
        assert!(xml.contains("failures=\"1\""), "{xml}");
        assert!(xml.contains("message=\"cannot reach http://127.0.0.1:1\""), "{xml}");
        assert!(xml.contains("hostname="), "{xml}");
        assert!(!xml.contains(" file=\""), "junit10 has no file attribute: {xml}");
    }
}
