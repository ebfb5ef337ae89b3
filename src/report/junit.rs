//! JUnit XML: one testsuite per gate, one testcase per check, run metadata as properties.

use super::{Format, Input};
use crate::verdict::compare::Change;
use crate::verdict::Outcome;
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

/// The JUnit XML format.
pub struct Junit;

impl Format for Junit {
    fn name(&self) -> &'static str {
        "JUnit XML"
    }

    fn render(&self, input: &Input) -> Result<Vec<u8>, String> {
        let r = input.results;
        let mut suite = TestSuite::new(r.gate.name.as_str());
        let props: Vec<(&str, String)> = vec![
            ("gate.file", input.gate_file.to_string()),
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
        if let Some(line) = super::terminal::abandoned_line(r) {
            suite.set_system_out(line);
        }
        for c in &input.verdict.checks {
            let status = match c.outcome {
                Outcome::Pass | Outcome::Marginal => TestCaseStatus::success(),
                Outcome::Fail => {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    s.set_message(format!("{}: {}", c.name, c.message()))
                        .set_type("threshold");
                    s
                }
                Outcome::NoData if input.verdict.no_data_fails => {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    s.set_message(format!("{}: {}", c.name, c.message()))
                        .set_type("no-data");
                    s
                }
                Outcome::NoData => {
                    let mut s = TestCaseStatus::skipped();
                    s.set_message(c.message());
                    s
                }
            };
            let mut case = TestCase::new(c.name.as_str(), status);
            case.set_classname(format!("perfgate.{}", r.gate.name));
            case.extra.insert("file".into(), input.gate_file.into());
            case.extra.insert("line".into(), c.pos.line.to_string().into());
            let mut out = format!("{}\n", c.message());
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
                    Change::Regression => {
                        let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                        s.set_message(format!("{}: {}", c.name, c.reason))
                            .set_type("regression");
                        s
                    }
                    Change::Inconclusive | Change::Marginal if reg.fail_on_inconclusive => {
                        let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                        s.set_message(format!("{}: {}: {}", c.name, c.change.label(), c.reason))
                            .set_type(c.change.label());
                        s
                    }
                    Change::Inconclusive | Change::Marginal => {
                        let mut s = TestCaseStatus::skipped();
                        s.set_message(format!("{}: {}", c.change.label(), c.reason));
                        s
                    }
                    _ => TestCaseStatus::success(),
                };
                let mut case = TestCase::new(c.name.as_str(), status);
                case.set_classname(format!("perfgate.{}.regression", r.gate.name));
                case.extra.insert("file".into(), input.gate_file.into());
                case.extra.insert("line".into(), c.pos.line.to_string().into());
                let values = match (c.base, c.head) {
                    (Some(b), Some(h)) => format!("base {b:.3}{u}, head {h:.3}{u}\n", u = c.unit),
                    _ => String::new(),
                };
                case.set_system_out(format!("{}: {}\n{values}", c.change.label(), c.reason));
                suite.add_test_case(case);
            }
        }
        let mut report = Report::new("perfgate");
        report.add_test_suite(suite);
        report.to_string().map(String::into_bytes).map_err(|e| e.to_string())
    }
}
