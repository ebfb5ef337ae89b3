//! From the YAML model to a validated [`Gate`]: durations, templates, variables, names.

use super::budget::{self, Budget};
use super::duration::{parse_duration, parse_range};
use super::error::{closest, GateError, Pos, Problem};
use super::model::{self, At, RequestSpec};
use super::target::{Limit, Selector};
use super::template::{JsonPath, Template};
use super::{
    Gate, LoadProfile, OpenModel, RegressionPolicy, Request, Scenario, Serve, Stage, Target, Task, VerdictSettings,
};
use crate::http::Method;
use crate::metric::{self, Metric, Place};
use std::collections::BTreeSet;
use std::time::Duration;

/// Most virtual users (or pooled connections) one process drives.
pub const MAX_USERS: u32 = 1_000_000;
/// Most duet rounds a gate may ask for.
pub const MAX_ROUNDS: u32 = 20;
/// Most confirmation windows a gate may ask for.
pub const MAX_CONFIRM: u32 = 3;
/// The slowest spawn rate the engine schedules: one user every 11.6 days (a slower one would start
/// users beyond what a clock can add).
pub const MIN_SPAWN_RATE: f64 = 1e-6;
/// The fastest arrival rate the engine schedules in one process (arrival times are f64 seconds).
pub const MAX_ARRIVAL_RATE: f64 = 1e6;

/// A number as the user wrote it, short: `1e-300` rather than 300 zeros.
pub fn short_number(x: f64) -> String {
    if x != 0.0 && x.is_finite() && !(1e-4..1e9).contains(&x.abs()) {
        format!("{x:e}")
    } else {
        x.to_string()
    }
}

struct Ctx {
    problems: Vec<Problem>,
    source: String,
    /// The gate file's directory: data files are read relative to it.
    dir: std::path::PathBuf,
}

impl Ctx {
    /// Where the value of `key` is written at or below `from` (fields of a mapping keep no position
    /// of their own); `from` when it cannot be found nearby.
    fn value_pos(&self, from: Pos, key: &str) -> Pos {
        let needle = format!("{key}:");
        for (i, line) in self
            .source
            .lines()
            .enumerate()
            .skip(from.line.saturating_sub(1) as usize)
            .take(40)
        {
            let mut search = 0;
            while let Some(found) = line[search..].find(&needle) {
                let at = search + found;
                let boundary = line[..at]
                    .chars()
                    .last()
                    .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
                if boundary {
                    let after = &line[at + needle.len()..];
                    let value_at = at + needle.len() + (after.len() - after.trim_start().len());
                    return Pos {
                        line: i as u32 + 1,
                        col: line[..value_at].chars().count() as u32 + 1,
                    };
                }
                search = at + needle.len();
            }
        }
        from
    }

    /// Where `key` is written before its value at `value` (on the same line), else `value`.
    fn key_pos(&self, value: Pos, key: &str) -> Pos {
        let Some(line) = self.source.lines().nth(value.line.saturating_sub(1) as usize) else {
            return value;
        };
        let before: String = line.chars().take(value.col.saturating_sub(1) as usize).collect();
        let Some(at) = before.rfind(key) else {
            return value;
        };
        let boundary = before[..at]
            .chars()
            .last()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '.'));
        let after = before[at + key.len()..].trim_start_matches(['"', '\'']).trim_start();
        if boundary && after.starts_with(':') {
            let quoted = before[..at].ends_with(['"', '\'']);
            let col = before[..at].chars().count() as u32 + 1 - u32::from(quoted);
            return Pos { line: value.line, col };
        }
        value
    }

    fn err(&mut self, pos: Pos, message: impl Into<String>, help: Option<String>) {
        self.problems.push(Problem {
            pos: Some(pos),
            message: message.into(),
            help,
        });
    }
}

pub(super) fn validate(file: &str, source: &str, raw: model::GateFile, sha256: String) -> Result<Gate, GateError> {
    let mut cx = Ctx {
        problems: Vec::new(),
        source: source.to_string(),
        dir: match std::path::Path::new(file).parent() {
            Some(p) if file != "<stdin>" => p.to_path_buf(),
            _ => std::path::PathBuf::new(),
        },
    };
    if raw.version.value != 1 {
        cx.err(
            Pos::of(&raw.version),
            format!("unsupported gate file version `{}`", raw.version.value),
            Some("this perfgate reads `version: 1`".into()),
        );
    }
    let host = raw.host.as_ref().map(|h| {
        check_host(&mut cx, h);
        h.value.trim_end_matches('/').to_string()
    });
    let headers = headers(&mut cx, &raw.headers);
    let variables: Vec<(String, String)> = raw
        .variables
        .iter()
        .map(|(k, v)| (k.clone(), v.value.0.clone()))
        .collect();
    let timeout = raw
        .timeout
        .as_ref()
        .map(|t| duration(&mut cx, t, "timeout"))
        .unwrap_or(Duration::from_secs(30));
    if let Some(t) = &raw.timeout {
        if timeout.is_zero() && parse_duration(&t.value).is_ok() {
            cx.err(Pos::of(t), "`timeout` must be longer than zero", None);
        }
    }

    let load = load_profile(&mut cx, &raw.load, &raw.scenarios);

    let mut scenarios = Vec::new();
    if raw.scenarios.value.is_empty() {
        cx.err(
            Pos::of(&raw.scenarios),
            "`scenarios` is empty: a gate needs at least one user class",
            Some("add a scenario with `tasks:`, e.g. `WebUser: {tasks: [{request: GET /}]}`".into()),
        );
    }
    let global_vars: BTreeSet<String> = variables.iter().map(|(k, _)| k.clone()).collect();
    let reserved = raw
        .variables
        .iter()
        .chain(raw.scenarios.value.values().flat_map(|s| s.value.variables.iter()));
    for (k, v) in reserved {
        if crate::gate::FUNCS.contains(&k.as_str()) || k == Request::ITEM {
            cx.err(
                Pos::of(v),
                format!(
                    "the variable `{k}` has the name of {}, so `{{{k}}}` would never read it",
                    if k == Request::ITEM {
                        "the item `for_each` sets"
                    } else {
                        "a template function"
                    }
                ),
                Some(format!("call it something else, e.g. `{k}_value`")),
            );
        }
    }
    for (name, spec) in &raw.scenarios.value {
        scenarios.push(scenario(&mut cx, name, spec, &headers, &global_vars));
    }

    // One name, one method: the stats key is the name, so a GET and a POST under one name would be
    // counted (and judged) as one row.
    // Names reach terminals and reports: a control character (an ESC sequence, a line break) would
    // rewrite the terminal or break a report line.
    let control = |n: &str| n.chars().find(|c| c.is_control());
    for sc in &scenarios {
        if let Some(c) = control(&sc.name) {
            cx.err(
                sc.pos,
                format!(
                    "the scenario name `{}` contains the control character U+{:04X}: names are printed on terminals and in reports",
                    sc.name.escape_debug(),
                    c as u32
                ),
                Some("remove it from the name".into()),
            );
        }
    }
    let mut seen: std::collections::HashMap<&str, (crate::http::Method, Pos)> = std::collections::HashMap::new();
    for r in scenarios.iter().flat_map(Scenario::requests) {
        if let Some(c) = control(&r.name) {
            cx.err(
                r.pos,
                format!(
                    "the request name `{}` contains the control character U+{:04X}: names are printed on terminals and in reports",
                    r.name.escape_debug(),
                    c as u32
                ),
                Some("remove it from `name:`".into()),
            );
        }
        match seen.get(r.name.as_str()) {
            Some((m, at)) if *m != r.method => cx.err(
                r.pos,
                format!(
                    "the request name `{}` is already used by a {m} request at {file}:{}:{}; this one is a {}, and one name is one stats row",
                    r.name, at.line, at.col, r.method
                ),
                Some("give one of them its own `name:`".into()),
            ),
            Some(_) => {}
            None => {
                seen.insert(r.name.as_str(), (r.method, r.pos));
            }
        }
    }
    let verdict = verdict_settings(&mut cx, raw.verdict.as_ref());
    let names: Vec<String> = scenarios
        .iter()
        .flat_map(Scenario::requests)
        .map(|r| r.name.clone())
        .collect();
    let targets = raw
        .targets
        .iter()
        .filter_map(|t| target(&mut cx, t, &verdict, &names))
        .collect();
    let mut regression = regression(&mut cx, raw.regression.as_ref(), &names);
    regression.accept = raw.accept.iter().filter_map(|a| acceptance(&mut cx, a)).collect();
    let serve = raw.serve.as_ref().map(|sv| Serve {
        command: sv.command.value.clone(),
        cwd: sv.cwd.clone(),
        env: sv.env.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect(),
        pass_env: sv.pass_env.clone(),
        ready: sv.ready.clone().filter(|r| !r.is_empty()),
        ready_timeout: sv
            .ready_timeout
            .as_ref()
            .map(|d| duration(&mut cx, d, "serve.ready_timeout"))
            .unwrap_or(Serve::READY_TIMEOUT),
        stop_grace: sv
            .stop_grace
            .as_ref()
            .map(|d| duration(&mut cx, d, "serve.stop_grace"))
            .unwrap_or(Serve::STOP_GRACE),
    });
    if let Some(sv) = &raw.serve {
        if sv.command.value.trim().is_empty() {
            cx.err(
                Pos::of(&sv.command),
                "`serve.command` is empty",
                Some("e.g. `command: uvicorn app:app --port {port}`".into()),
            );
        }
    }

    if !cx.problems.is_empty() {
        cx.problems.sort_by_key(|p| p.pos.map(|p| (p.line, p.col)));
        return Err(GateError {
            file: file.to_string(),
            source: source.to_string(),
            problems: cx.problems,
        });
    }
    let defaults = applied_defaults(&raw, &load, serve.as_ref());
    let name = raw.name.clone().unwrap_or_else(|| {
        std::path::Path::new(file)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "gate".into())
    });
    Ok(Gate {
        file: file.to_string(),
        name,
        sha256,
        host,
        headers,
        variables,
        timeout,
        load,
        scenarios,
        targets,
        verdict,
        regression,
        serve,
        tls: crate::http::TlsOptions {
            ca_file: raw
                .tls
                .as_ref()
                .and_then(|t| t.ca_file.clone())
                .map(std::path::PathBuf::from),
            insecure: raw.tls.as_ref().is_some_and(|t| t.insecure),
        },
        follow_redirects: raw.follow_redirects.unwrap_or(true),
        defaults,
    })
}

/// Every setting the file leaves out that changes what a run does, with the value used instead.
fn applied_defaults(raw: &model::GateFile, load: &LoadProfile, serve: Option<&Serve>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut add = |key: &str, value: &str| out.push((key.to_string(), value.to_string()));
    if raw.host.is_none() {
        add("host", "none: give `--host URL` (or `--serve CMD`)");
    }
    if raw.timeout.is_none() {
        add("timeout", "30s per request");
    }
    let l = &raw.load.value;
    if load.open.is_none() && l.spawn_rate.is_none() {
        add("load.spawn_rate", "all users at once");
    }
    if load.open.is_some() {
        if l.max_connections.is_none() {
            add("load.max_connections", "100");
        }
        if l.stages.is_some() && l.start_rate.is_none() {
            add("load.start_rate", "0 arrivals/s");
        }
    }
    if l.grace.is_none() {
        add("load.grace", "5s");
    }
    if l.scenarios.is_none() && raw.scenarios.value.len() > 1 {
        add("load.scenarios", "all scenarios, users shared by weight");
    }
    let mut expectless = 0;
    for (name, sc) in &raw.scenarios.value {
        let sc = &sc.value;
        if sc.weight.is_none() && raw.scenarios.value.len() > 1 {
            add(&format!("scenarios.{name}.weight"), "1");
        }
        if sc.think_time.is_none() {
            add(
                &format!("scenarios.{name}.think_time"),
                "none: the next task starts at once",
            );
        }
        let tasks: Vec<model::TaskSpec> = sc.tasks.value.iter().map(|t| model::TaskEntry::full(t).value).collect();
        let unweighted = tasks.iter().filter(|t| t.weight.is_none()).count();
        if unweighted > 0 && tasks.len() > 1 {
            add(
                &format!("scenarios.{name}.tasks[].weight"),
                &format!("1 for {unweighted} of {} tasks", tasks.len()),
            );
        }
        let requests = sc.on_start.iter().chain(sc.on_stop.iter()).chain(
            tasks
                .iter()
                .flat_map(|t| t.request.iter().chain(t.sequence.iter().flatten())),
        );
        expectless += requests
            .filter(|r| match &r.value {
                RequestSpec::Short(_) => true,
                RequestSpec::Full(f) => f.expect.is_none(),
            })
            .count();
    }
    if raw.follow_redirects.is_none() {
        add(
            "follow_redirects",
            "true: up to 10 redirects to the target's own host are followed; one elsewhere fails as `redirect`",
        );
    }
    if expectless > 0 {
        add(
            "expect",
            &format!(
                "any 2xx or 3xx status is a success ({} without `expect`)",
                if expectless == 1 {
                    "1 request".to_string()
                } else {
                    format!("{expectless} requests")
                }
            ),
        );
    }
    if !raw.targets.is_empty() {
        let v = raw.verdict.as_ref();
        if v.and_then(|v| v.include_ramp_up).is_none() {
            add("verdict.include_ramp_up", "false: targets judge the steady phase");
        }
        if v.and_then(|v| v.min_samples).is_none() {
            add("verdict.min_samples", "1");
        }
        if v.and_then(|v| v.no_data.as_ref()).is_none() {
            add("verdict.no_data", "fail");
        }
    }
    if let Some(r) = &raw.regression {
        let d = RegressionPolicy::default();
        let pct = |x: f64| format!("{}%", x * 100.0);
        if r.confidence.is_none() {
            add("regression.confidence", &pct(d.confidence));
        }
        if r.min_effect.is_none() {
            add("regression.min_effect", &format!("{}ms", d.min_effect_ms));
        }
        if r.noise.is_none() {
            add(
                "regression.noise",
                &format!("{} (sequential comparisons only)", pct(d.noise)),
            );
        }
        if r.min_samples.is_none() {
            add("regression.min_samples", &d.min_samples.to_string());
        }
        if r.fail_on_inconclusive.is_none() {
            add("regression.fail_on_inconclusive", "false");
        }
        if r.rounds.is_none() {
            add(
                "regression.rounds",
                "one per 5 s of run time, 3 to 10 (when perfgate starts both builds)",
            );
        }
        if r.confirm.is_none() {
            add("regression.confirm", "0");
        }
    }
    if let (Some(spec), Some(sv)) = (&raw.serve, serve) {
        if spec.ready.is_none() {
            add("serve.ready", "the gate's first GET without variables");
        }
        if spec.ready_timeout.is_none() {
            add(
                "serve.ready_timeout",
                &super::duration::format_duration(sv.ready_timeout),
            );
        }
        if spec.stop_grace.is_none() {
            add("serve.stop_grace", &super::duration::format_duration(sv.stop_grace));
        }
    }
    out
}

fn check_host(cx: &mut Ctx, h: &At<String>) {
    if let Err(e) = crate::http::BaseUrl::parse(&h.value) {
        cx.err(
            Pos::of(h),
            format!("`host`: {e}"),
            Some("write it like `http://127.0.0.1:8000`".into()),
        );
    }
}

fn duration(cx: &mut Ctx, d: &At<String>, key: &str) -> Duration {
    parse_duration(&d.value).unwrap_or_else(|e| {
        cx.err(Pos::of(d), format!("`{key}`: {e}"), None);
        Duration::ZERO
    })
}

fn headers(cx: &mut Ctx, raw: &indexmap::IndexMap<String, At<String>>) -> Vec<(String, Template)> {
    raw.iter()
        .filter_map(|(k, v)| header(cx, k, &v.value, Pos::of(v)))
        .collect()
}

fn header(cx: &mut Ctx, name: &str, value: &str, pos: Pos) -> Option<(String, Template)> {
    let name_at = cx.key_pos(pos, name);
    if hyper::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
        cx.err(name_at, format!("`{name}` is not a valid HTTP header name"), None);
        return None;
    }
    let lower = name.to_ascii_lowercase();
    if matches!(lower.as_str(), "content-length" | "transfer-encoding") {
        // The body's framing is the client's: a gate's value would be replaced, or break the exchange.
        cx.err(
            name_at,
            format!("header `{name}` is set by perfgate itself from the body, so a gate cannot set it"),
            Some(format!(
                "remove `{name}`; the body (`json:`, `body:` or `form:`) decides it"
            )),
        );
        return None;
    }
    let secret = super::error::SECRET_HEADERS.contains(&lower.as_str());
    if let Some(c) = value.chars().find(|&c| c.is_control() && c != '\t') {
        let shown = if secret {
            "its value (not shown: it may be a secret)".to_string()
        } else {
            format!("its value `{}`", value.escape_debug())
        };
        cx.err(
            pos,
            format!(
                "header `{name}`: {shown} contains the control character U+{:04X}; a header value is one line of text",
                c as u32
            ),
            None,
        );
        return None;
    }
    match Template::parse(value) {
        Ok(t) => Some((name.to_string(), t)),
        Err(e) => {
            let e = if secret {
                "its value is not a valid template (the value is not shown: it may be a secret); use `${env:NAME}` for secrets".to_string()
            } else {
                e
            };
            cx.err(pos, format!("header `{name}`: {e}"), None);
            None
        }
    }
}

fn load_profile(
    cx: &mut Ctx,
    raw: &At<model::LoadSpec>,
    scenarios: &At<indexmap::IndexMap<String, At<model::ScenarioSpec>>>,
) -> LoadProfile {
    let l = &raw.value;
    let load_pos = Pos::of(raw);
    let open = open_model(cx, l, load_pos);
    let users = match (&l.users, &open) {
        (Some(u), None) => {
            if u.value == 0 {
                cx.err(Pos::of(u), "`users` must be at least 1", None);
            } else if u.value > MAX_USERS {
                cx.err(
                    Pos::of(u),
                    format!(
                        "`users` is {}, more than the {MAX_USERS} one perfgate process drives",
                        u.value
                    ),
                    Some("shard the load across runs, or use the open model (`arrival_rate`)".into()),
                );
            }
            u.value
        }
        (Some(u), Some(_)) => {
            cx.err(
                Pos::of(u),
                "`users` is for the closed model, `arrival_rate`/`stages` for the open model: choose one",
                Some("the open model's pool size is `max_connections`".into()),
            );
            0
        }
        (None, Some(o)) => o.max_connections,
        (None, None) => {
            cx.err(
                load_pos,
                "`load` needs `users` (closed model) or `arrival_rate`/`stages` (open model)",
                Some("e.g. `load: {users: 10, spawn_rate: 2, run_time: 1m}`".into()),
            );
            0
        }
    };
    let spawn_rate = match &l.spawn_rate {
        Some(r) if open.is_some() => {
            cx.err(Pos::of(r), "`spawn_rate` belongs to the closed model (`users`)", None);
            1.0
        }
        Some(r) if !(r.value.is_finite() && r.value > 0.0) => {
            cx.err(
                Pos::of(r),
                format!(
                    "`spawn_rate` must be a positive number of users per second, found `{}`",
                    r.value
                ),
                None,
            );
            1.0
        }
        Some(r) if r.value < MIN_SPAWN_RATE => {
            cx.err(
                Pos::of(r),
                format!(
                    "`spawn_rate` must be from 0.000001 users per second upward (one user every 11.6 days is the slowest the engine schedules), found `{}`",
                    short_number(r.value)
                ),
                None,
            );
            1.0
        }
        Some(r) => r.value,
        None => f64::INFINITY,
    };
    let staged: Option<Duration> = open.as_ref().map(|o| o.stages.iter().map(|s| s.duration).sum());
    let run_time = match (&l.run_time, staged) {
        (Some(rt), staged) => {
            let d = duration(cx, rt, "run_time");
            if d.is_zero() && parse_duration(&rt.value).is_ok() {
                cx.err(Pos::of(rt), "`run_time` must be longer than zero", None);
            }
            if let (Some(total), true) = (staged, l.stages.is_some()) {
                if total != d {
                    cx.err(
                        Pos::of(rt),
                        format!(
                            "`run_time` ({}) differs from the stages' total ({}): leave `run_time` out",
                            crate::gate::duration::format_duration(d),
                            crate::gate::duration::format_duration(total)
                        ),
                        None,
                    );
                }
            }
            d
        }
        (None, Some(total)) if l.stages.is_some() => total,
        (None, _) => {
            cx.err(load_pos, "`load` needs `run_time`, e.g. `run_time: 1m`", None);
            Duration::ZERO
        }
    };
    // A constant arrival rate lasts the run time.
    let open = open.map(|mut o| {
        if l.stages.is_none() {
            if let Some(s) = o.stages.first_mut() {
                s.duration = run_time;
            }
        }
        o
    });
    let grace = l
        .grace
        .as_ref()
        .map(|g| duration(cx, g, "grace"))
        .unwrap_or(Duration::from_secs(5));
    let selected = l.scenarios.as_ref().map(|names| {
        names
            .iter()
            .map(|n| {
                if !scenarios.value.contains_key(&n.value) {
                    let help = closest(&n.value, scenarios.value.keys().map(String::as_str))
                        .map(|c| format!("did you mean `{c}`?"))
                        .or_else(|| Some(format!("defined scenarios: {}", keys(scenarios.value.keys()))));
                    cx.err(
                        Pos::of(n),
                        format!("`load.scenarios` names `{}`, which is not a scenario", n.value),
                        help,
                    );
                }
                n.value.clone()
            })
            .collect()
    });
    let source_addresses = source_addresses(cx, l);
    LoadProfile {
        users,
        spawn_rate,
        run_time,
        grace,
        scenarios: selected,
        open,
        source_addresses,
    }
}

/// `load.source_addresses`: IP addresses, each once, all of one family with room to spare.
fn source_addresses(cx: &mut Ctx, l: &model::LoadSpec) -> Vec<std::net::IpAddr> {
    let Some(list) = &l.source_addresses else {
        return Vec::new();
    };
    if list.value.is_empty() {
        cx.err(
            Pos::of(list),
            "`source_addresses` is empty",
            Some("list local addresses such as `[127.0.0.2, 127.0.0.3]`, or leave the key out".into()),
        );
    }
    let mut out: Vec<std::net::IpAddr> = Vec::new();
    for a in &list.value {
        match a.value.trim().parse::<std::net::IpAddr>() {
            Ok(ip)
                if ip.is_unspecified()
                    || ip.is_multicast()
                    || ip == std::net::IpAddr::V4(std::net::Ipv4Addr::BROADCAST) =>
            {
                cx.err(
                    Pos::of(a),
                    format!("`{}` is not an address a connection can come from", a.value),
                    Some("give addresses of this machine, such as 127.0.0.2".into()),
                )
            }
            Ok(ip) if out.contains(&ip) => cx.err(Pos::of(a), format!("`{ip}` is listed twice"), None),
            Ok(ip) if out.first().is_some_and(|f| f.is_ipv4() != ip.is_ipv4()) => cx.err(
                Pos::of(a),
                format!(
                    "`{ip}` is {}, `{}` before it is {}: a connection goes to a target address of its source's family, so the sources must be of one",
                    family(ip),
                    out[0],
                    family(out[0])
                ),
                Some("list addresses of the target's family only (127.0.0.2 for 127.0.0.1, ::1 for [::1])".into()),
            ),
            Ok(ip) => out.push(ip),
            Err(_) => cx.err(
                Pos::of(a),
                format!("`{}` is not an IP address", a.value),
                Some("write addresses such as 127.0.0.2 or ::1 (no port, no host name)".into()),
            ),
        }
    }
    out
}

/// "IPv4" or "IPv6".
fn family(ip: std::net::IpAddr) -> &'static str {
    if ip.is_ipv4() {
        "IPv4"
    } else {
        "IPv6"
    }
}

fn keys<'a>(it: impl Iterator<Item = &'a String>) -> String {
    it.map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
}

fn scenario(
    cx: &mut Ctx,
    name: &str,
    spec: &At<model::ScenarioSpec>,
    gate_headers: &[(String, Template)],
    global_vars: &BTreeSet<String>,
) -> Scenario {
    let s = &spec.value;
    let pos = Pos::of(spec);
    let weight = s.weight.as_ref().map(|w| {
        if w.value == 0 {
            cx.err(
                Pos::of(w),
                format!("scenario `{name}`: `weight` must be at least 1"),
                Some("leave a scenario out with `load.scenarios` instead".into()),
            );
        }
        w.value
    });
    let think_time = s
        .think_time
        .as_ref()
        .map(|t| {
            parse_range(&t.value).unwrap_or_else(|e| {
                cx.err(Pos::of(t), format!("`think_time`: {e}"), None);
                (Duration::ZERO, Duration::ZERO)
            })
        })
        .unwrap_or((Duration::ZERO, Duration::ZERO));
    let on_start: Vec<Request> = s.on_start.iter().filter_map(|r| request(cx, r, gate_headers)).collect();
    let on_stop: Vec<Request> = s.on_stop.iter().filter_map(|r| request(cx, r, gate_headers)).collect();
    if s.tasks.value.is_empty() {
        cx.err(
            Pos::of(&s.tasks),
            format!("scenario `{name}` has no tasks"),
            Some("add at least one task, e.g. `- request: GET /api/health`".into()),
        );
    }
    let mut tasks = Vec::new();
    let task_specs: Vec<At<model::TaskSpec>> = s.tasks.value.iter().map(model::TaskEntry::full).collect();
    for t in &task_specs {
        let tpos = Pos::of(t);
        let spec = &t.value;
        let requests: Vec<Request> = match (&spec.request, &spec.sequence) {
            (Some(r), None) => request(cx, r, gate_headers).into_iter().collect(),
            (None, Some(seq)) if !seq.is_empty() => seq.iter().filter_map(|r| request(cx, r, gate_headers)).collect(),
            (None, Some(_)) => {
                cx.err(
                    tpos,
                    "`sequence` is empty: list the requests to send back to back",
                    None,
                );
                continue;
            }
            (Some(r), Some(_)) => {
                cx.err(
                    tpos,
                    "a task has either `request` or `sequence`, not both",
                    Some("use `sequence` for requests sent back to back".into()),
                );
                request(cx, r, gate_headers).into_iter().collect()
            }
            (None, None) => {
                cx.err(
                    tpos,
                    "a task needs `request` (one request) or `sequence` (requests sent back to back)",
                    Some("e.g. `- {weight: 5, request: GET /api/modules}`".into()),
                );
                continue;
            }
        };
        let weight = spec.weight.as_ref().map_or(1, |w| {
            if w.value == 0 {
                cx.err(
                    Pos::of(w),
                    "task `weight` must be at least 1",
                    Some("delete the task to leave it out".into()),
                );
            }
            w.value
        });
        let task_name = spec
            .name
            .clone()
            .or_else(|| requests.first().map(|r| r.name.clone()))
            .unwrap_or_default();
        if !requests.is_empty() {
            tasks.push(Task {
                name: task_name,
                weight,
                requests,
                pos: tpos,
            });
        }
    }

    // Every variable a request reads must be defined somewhere this user can set it. Extractions are
    // read from the raw requests, so one invalid request does not make its variables look undefined.
    let mut defined: BTreeSet<String> = global_vars.clone();
    defined.extend(s.variables.keys().cloned());
    let data = s.data.as_ref().and_then(|d| data_set(cx, d));
    let columns: BTreeSet<String> = data.iter().flat_map(|d| d.columns.iter().cloned()).collect();
    defined.extend(columns.iter().cloned());
    let raw_requests = s.on_start.iter().chain(s.on_stop.iter()).chain(
        task_specs
            .iter()
            .flat_map(|t| t.value.request.iter().chain(t.value.sequence.iter().flatten())),
    );
    let mut lists: BTreeSet<String> = BTreeSet::new();
    for r in raw_requests {
        if let RequestSpec::Full(f) = &r.value {
            for k in f.extract.keys() {
                match k.strip_suffix("[]") {
                    Some(list) => lists.insert(list.to_string()),
                    None => defined.insert(k.clone()),
                };
            }
        }
    }
    let scenario = Scenario {
        name: name.to_string(),
        weight: weight.unwrap_or(1),
        think_time,
        variables: s
            .variables
            .iter()
            .map(|(k, v)| (k.clone(), v.value.0.clone()))
            .collect(),
        data: data.clone(),
        on_start,
        tasks,
        on_stop,
        pos,
    };
    for r in scenario.requests() {
        if let Some(list) = &r.for_each {
            if !lists.contains(list) {
                let help = match closest(list, lists.iter().map(String::as_str)) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None => format!("fill it with an extraction that appends, e.g. `extract: {{\"{list}[]\": $.id}}`"),
                };
                cx.err(
                    cx.value_pos(r.pos, "for_each"),
                    format!(
                        "`{}`: `for_each: {list}` names a list nothing in scenario `{name}` appends to",
                        r.name
                    ),
                    Some(help),
                );
            }
        }
        for v in r.vars() {
            if v == Request::ITEM && r.for_each.is_some() {
                continue;
            }
            if lists.contains(&v) && !defined.contains(&v) {
                cx.err(
                    r.pos,
                    format!(
                        "`{}` reads `{{{v}}}`, but `{v}` is a list (`{v}[]`), not a variable",
                        r.name
                    ),
                    Some(format!(
                        "send the request once per item with `for_each: {v}` and read `{{item}}`"
                    )),
                );
                continue;
            }
            if !defined.contains(&v) {
                let help = match closest(&v, defined.iter().map(String::as_str).chain(crate::gate::FUNCS)) {
                    Some(c) => format!("did you mean `{{{c}}}`?"),
                    None if v == Request::ITEM => "`{item}` is set by `for_each: LIST`; add it to this request".into(),
                    None => format!(
                        "extract it from an earlier answer (`extract: {{{v}: $.{v}}}`) or set it under `variables:`"
                    ),
                };
                let columns = match &data {
                    Some(d) => format!(", nor is it a column of `{}` ({})", d.file, d.columns.join(", ")),
                    None => String::new(),
                };
                cx.err(
                    r.pos,
                    format!(
                        "`{}` uses the variable `{{{v}}}`, which nothing in scenario `{name}` defines{columns}",
                        r.name
                    ),
                    Some(help),
                );
            }
        }
    }

    scenario
}

/// Reads a scenario's data file: a CSV file with a header row and at least one row.
fn data_set(cx: &mut Ctx, d: &At<model::DataSpec>) -> Option<crate::gate::DataSet> {
    use crate::gate::{DataMode, DataSet};
    let file = &d.value.file;
    let at = Pos::of(file);
    let mode = match d.value.mode.as_ref().map(|m| m.value.as_str()) {
        None | Some("sequential") => DataMode::Sequential,
        Some("random") => DataMode::Random,
        Some("unique") => DataMode::Unique,
        Some(other) => {
            let modes = ["sequential", "random", "unique"];
            let help = closest(other, modes).map(|c| format!("did you mean `{c}`?"));
            let pos = d.value.mode.as_ref().map_or(at, Pos::of);
            cx.err(
                pos,
                format!("`data.mode`: `{other}` is not a mode: expected sequential, random or unique"),
                help,
            );
            DataMode::Sequential
        }
    };
    let path = cx.dir.join(&file.value);
    let bytes = crate::input::read_file(&path, crate::input::DATA_MAX).map_err(csv::Error::from);
    let mut reader = match bytes.map(|b| {
        csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(std::io::Cursor::new(b))
    }) {
        Ok(r) => r,
        Err(e) => {
            cx.err(
                at,
                format!("cannot read the data file `{}`: {e}", path.display()),
                Some("the path is relative to the gate file".into()),
            );
            return None;
        }
    };
    let columns: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|c| c.trim().to_string()).collect(),
        Err(e) => {
            cx.err(at, format!("the data file `{}`: {e}", file.value), None);
            return None;
        }
    };
    let mut rows = Vec::new();
    for record in reader.records() {
        if rows.len() == MAX_USERS as usize {
            // Each user takes one row: more rows than a run can have users are never used.
            cx.err(
                at,
                format!(
                    "the data file `{}` has more than {MAX_USERS} rows, more than a run can have users",
                    file.value
                ),
                Some(format!("keep the first {MAX_USERS} rows (each user takes one)")),
            );
            return None;
        }
        match record {
            Ok(r) => rows.push(r.iter().map(str::to_string).collect::<Vec<_>>()),
            Err(e) => {
                let line = e.position().map_or(String::new(), |p| format!(":{}", p.line()));
                cx.err(
                    at,
                    format!("the data file `{}{line}` is not valid CSV: {e}", file.value),
                    Some("every row needs as many fields as the header row".into()),
                );
                return None;
            }
        }
    }
    if rows.is_empty() || columns.iter().all(String::is_empty) {
        cx.err(
            at,
            format!("the data file `{}` has no rows", file.value),
            Some("write a header row with the column names, then one row per user".into()),
        );
        return None;
    }
    Some(DataSet {
        file: file.value.clone(),
        columns,
        rows: std::sync::Arc::new(rows),
        mode,
    })
}

fn request(cx: &mut Ctx, spec: &At<RequestSpec>, gate_headers: &[(String, Template)]) -> Option<Request> {
    let pos = Pos::of(spec);
    let full = match &spec.value {
        RequestSpec::Short(s) => {
            let words = words_outside_braces(s);
            let mut it = words.iter().map(String::as_str);
            match (it.next(), it.next(), it.next()) {
                (Some(m), Some(p), None) => model::RequestFull {
                    method: Some(m.to_string()),
                    path: p.to_string(),
                    ..Default::default()
                },
                (Some(p), None, None) if p.starts_with('/') => model::RequestFull {
                    path: p.to_string(),
                    ..Default::default()
                },
                _ => {
                    cx.err(
                        pos,
                        format!("`{s}` is not a request"),
                        Some("write `METHOD /path`, e.g. `GET /api/modules`".into()),
                    );
                    return None;
                }
            }
        }
        RequestSpec::Full(f) => (**f).clone(),
    };
    let method_text = full.method.as_deref().unwrap_or("GET").to_ascii_uppercase();
    let Some(method) = Method::parse(&method_text) else {
        let help = closest(&method_text, Method::names()).map(|c| format!("did you mean `{c}`?"));
        cx.err(
            pos,
            format!(
                "`{method_text}` is not an HTTP method: expected one of {}",
                Method::names().join(", ")
            ),
            help,
        );
        return None;
    };
    if !full.path.starts_with('/') {
        let at = if matches!(spec.value, RequestSpec::Short(_)) {
            pos
        } else {
            cx.value_pos(pos, "path")
        };
        cx.err(
            at,
            format!("the path `{}` must start with `/`", full.path),
            Some("the host comes from `host` or `--host`".into()),
        );
        return None;
    }
    let (path_text, inline_query) = match full.path.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (full.path.clone(), None),
    };
    let parse = |cx: &mut Ctx, what: &str, text: &str| -> Option<Template> {
        match Template::parse(text) {
            Ok(t) => Some(t),
            Err(e) => {
                cx.err(pos, format!("{what}: {e}"), None);
                None
            }
        }
    };
    // What `run` would refuse as an invalid URI is refused here, with the file's line.
    if let Some(c) = without_calls(&path_text)
        .chars()
        .find(|c| c.is_whitespace() || c.is_control())
    {
        let what = match c {
            ' ' => "a space (write it as `%20`)".to_string(),
            c => format!("the character U+{:04X} (percent-encode it)", c as u32),
        };
        let at = if matches!(spec.value, RequestSpec::Short(_)) {
            pos
        } else {
            cx.value_pos(pos, "path")
        };
        cx.err(
            at,
            format!("the path `{}` contains {what}", path_text.escape_debug()),
            None,
        );
        return None;
    }
    let path = parse(cx, "path", &path_text)?;
    if path.envs().next().is_some() {
        cx.err(pos, "`${env:..}` is for header values, not paths", None);
    }
    let mut query = Vec::new();
    if let Some(q) = &inline_query {
        for pair in q.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            query.push((k.to_string(), parse(cx, "query", v)?));
        }
    }
    for (k, v) in &full.query {
        query.push((k.clone(), parse(cx, "query", &v.0)?));
    }
    let mut headers: Vec<(String, Template)> = gate_headers
        .iter()
        .filter(|(k, _)| !full.headers.keys().any(|h| h.eq_ignore_ascii_case(k)))
        .cloned()
        .collect();
    for (k, v) in &full.headers {
        // Fields of a request keep no position of their own: the header's line below the request.
        let at = cx.value_pos(pos, k);
        headers.push(header(cx, k, v, at)?);
    }
    if let Some(body) = &full.json {
        let mut bad = None;
        let mut check = |s: &serde_json::Value| {
            if let serde_json::Value::String(s) = s {
                if let Err(e) = Template::parse(s) {
                    bad = Some(e);
                }
            }
        };
        walk_strings(body, &mut check);
        if let Some(e) = bad {
            cx.err(pos, format!("json body: {e}"), None);
        }
    }
    let bodies: Vec<&str> = [
        ("json", full.json.is_some()),
        ("body", full.body.is_some()),
        ("form", full.form.is_some()),
    ]
    .iter()
    .filter(|(_, set)| *set)
    .map(|(k, _)| *k)
    .collect();
    if let [first, second, ..] = bodies.as_slice() {
        cx.err(
            cx.value_pos(pos, second),
            format!("a request has one body, but this one has `{first}` and `{second}`"),
            Some("keep one of `json`, `body` (raw text) and `form` (URL-encoded fields)".into()),
        );
    }
    let raw = full.body.as_ref().and_then(|b| {
        let content_type = b.content_type.clone().unwrap_or_else(|| "text/plain".into());
        if content_type.is_empty() || hyper::header::HeaderValue::from_str(&content_type).is_err() {
            cx.err(
                cx.value_pos(pos, "content_type"),
                format!(
                    "`body.content_type`: `{}` is not a valid header value",
                    content_type.escape_debug()
                ),
                Some("e.g. `application/xml` or `text/csv; charset=utf-8`".into()),
            );
        }
        Some((content_type, parse(cx, "body", &b.text)?))
    });
    let mut form = Vec::new();
    for (k, v) in full.form.iter().flatten() {
        form.push((k.clone(), parse(cx, "form", &v.0)?));
    }
    let mut extract = Vec::new();
    let mut append = Vec::new();
    for (var, path) in &full.extract {
        let (name, list) = match var.strip_suffix("[]") {
            Some(n) => (n, true),
            None => (var.as_str(), false),
        };
        let at = cx.value_pos(cx.value_pos(pos, "extract"), var);
        if !is_name(name) {
            cx.err(
                at,
                format!("extract `{var}`: a variable name has letters, digits and `_`, and a list's ends in `[]`"),
                Some("e.g. `extract: {run_id: $.run_id}` or `extract: {\"ids[]\": $.id}`".into()),
            );
            continue;
        }
        if crate::gate::FUNCS.contains(&name) || (!list && name == Request::ITEM) {
            cx.err(
                at,
                format!(
                    "extract `{var}`: `{name}` is the name of {}",
                    if name == Request::ITEM {
                        "the item `for_each` sets"
                    } else {
                        "a template function"
                    }
                ),
                Some(format!("call it something else, e.g. `{name}_value`")),
            );
        }
        match JsonPath::parse(path) {
            Ok(p) if list => append.push((name.to_string(), p)),
            Ok(p) => extract.push((name.to_string(), p)),
            Err(e) => cx.err(at, format!("extract `{var}`: {e}"), None),
        }
    }
    let expect = full.expect.clone().unwrap_or_default();
    let mut expect_json = Vec::new();
    for (path, value) in &expect.json {
        match JsonPath::parse(path) {
            Ok(p) => expect_json.push((p, value.clone())),
            Err(e) => cx.err(pos, format!("expect json: {e}"), None),
        }
    }
    let name = full.name.clone().unwrap_or_else(|| {
        let mut n = format!("{method} {path}");
        for (i, (k, v)) in query.iter().enumerate() {
            n.push(if i == 0 { '?' } else { '&' });
            n.push_str(k);
            n.push('=');
            n.push_str(&v.to_string());
        }
        n
    });
    Some(Request {
        method,
        path,
        query,
        headers,
        json: full.json.clone(),
        raw,
        form,
        for_each: full.for_each.clone(),
        follow_redirects: full.follow_redirects,
        name,
        expect_status: expect.status.clone(),
        expect_json,
        extract,
        append,
        pos,
    })
}

/// `s` split at whitespace outside `{...}`, so `GET /r/{random_int 1 9}` is two words.
fn words_outside_braces(s: &str) -> Vec<String> {
    let mut words = vec![String::new()];
    let mut depth = 0usize;
    for c in s.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if c.is_whitespace() && depth == 0 {
            if words.last().is_some_and(|w| !w.is_empty()) {
                words.push(String::new());
            }
        } else if let Some(w) = words.last_mut() {
            w.push(c);
        }
    }
    words.retain(|w| !w.is_empty());
    words
}

/// `text` without its template function calls (`{random_int 1 9}`), whose spaces are not the path's.
fn without_calls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(end) if !matches!(crate::gate::Func::parse(&after[..end]), Ok(None)) => rest = &after[end + 1..],
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn walk_strings(v: &serde_json::Value, f: &mut impl FnMut(&serde_json::Value)) {
    match v {
        serde_json::Value::Array(a) => a.iter().for_each(|x| walk_strings(x, f)),
        serde_json::Value::Object(o) => o.values().for_each(|x| walk_strings(x, f)),
        other => f(other),
    }
}

fn verdict_settings(cx: &mut Ctx, spec: Option<&model::VerdictSpec>) -> VerdictSettings {
    let mut v = VerdictSettings::default();
    let Some(spec) = spec else { return v };
    if let Some(b) = spec.include_ramp_up {
        v.include_ramp_up = b;
    }
    if let Some(n) = spec.min_samples {
        v.min_samples = n;
    }
    if let Some(nd) = &spec.no_data {
        match nd.value.as_str() {
            "fail" => v.no_data_fails = true,
            "pass" => v.no_data_fails = false,
            other => cx.err(
                Pos::of(nd),
                format!("`verdict.no_data`: expected `fail` or `pass`, found `{other}`"),
                None,
            ),
        }
    }
    v
}

/// What a target or budget entry sets besides its metric values.
struct Entry<L> {
    select: Selector,
    each: bool,
    min_samples: Option<u64>,
    include_ramp_up: Option<bool>,
    /// The metric values `parse` accepted, in file order.
    limits: Vec<L>,
    pos: Pos,
    /// Problems found in the entry.
    problems: usize,
}

/// `target` or `regression budget`, for messages.
fn noun(place: Place) -> &'static str {
    match place {
        Place::Target => "target",
        Place::Budget => "regression budget",
    }
}

/// Reads one target or budget entry: the entry keys, then every metric key the registry allows at
/// `place`, its value read by `parse` (a target limit or a budget amount).
fn entry<L>(
    cx: &mut Ctx,
    spec: &At<indexmap::IndexMap<String, At<model::Scalar>>>,
    place: Place,
    names: &[String],
    parse: impl Fn(Metric, &str) -> Result<L, String>,
) -> Entry<L> {
    let problems_before = cx.problems.len();
    let mut e = Entry {
        select: Selector::Total,
        each: false,
        min_samples: None,
        include_ramp_up: None,
        limits: Vec::new(),
        pos: Pos::of(spec),
        problems: 0,
    };
    let mut metrics: Vec<(Metric, &str, Pos)> = Vec::new();
    for (key, v) in &spec.value {
        if model::entry_keys(place).any(|k| k.key == key) {
            match key.as_str() {
                "select" => e.select = select(cx, v, names),
                "each" => e.each = flag(cx, key, v),
                "include_ramp_up" => e.include_ramp_up = Some(flag(cx, key, v)),
                _ => match v.value.0.parse() {
                    Ok(n) => e.min_samples = Some(n),
                    Err(_) => cx.err(
                        Pos::of(v),
                        format!("`{key}`: expected a whole number, found `{}`", v.value.0),
                        None,
                    ),
                },
            }
            continue;
        }
        let Some(metric) = Metric::parse(key) else {
            let at = cx.key_pos(Pos::of(v), key);
            match metric::refusal(key) {
                Some(why) => cx.err(at, why, None),
                None => unknown_key(cx, key, at, place),
            }
            continue;
        };
        metrics.push((metric, key, Pos::of(v)));
        match metric.allowed_in(place).and_then(|()| parse(metric, &v.value.0)) {
            Ok(l) => e.limits.push(l),
            Err(why) => cx.err(Pos::of(v), why, None),
        }
    }
    // `abandoned` is counted for the whole run, not per request name.
    for &(metric, key, pos) in &metrics {
        if metric == Metric::Abandoned && e.select != Selector::Total {
            cx.err(
                pos,
                format!("`{key}` is counted for the whole run, not per request name: it needs `select: total`"),
                Some("put it in its own target: `- {select: total, abandoned: < 1%}`".into()),
            );
        }
    }
    // Server metrics only with `select: server`, and nothing else there.
    let server = e.select == Selector::Server;
    match place {
        Place::Target => {
            for &(metric, key, pos) in &metrics {
                if metric.is_server() && !server {
                    cx.err(
                        pos,
                        format!("`{key}` is a metric of the service under test: it needs `select: server`"),
                        Some("put it in its own target: `- {select: server, rss_max: < 500MB}`".into()),
                    );
                } else if !metric.is_server() && server {
                    cx.err(
                        pos,
                        format!("`select: server` takes the service's metrics, not `{key}`"),
                        Some(format!("server metrics: {}", metric_keys(place, true).join(", "))),
                    );
                }
            }
        }
        Place::Budget => {
            if server && metrics.iter().any(|(m, ..)| !m.is_server()) {
                cx.err(e.pos, "`select: server` takes only the service's metrics", None);
            } else if !server && metrics.iter().any(|(m, ..)| m.is_server()) {
                cx.err(
                    e.pos,
                    "the service's metrics (`rss_max`, `cpu_mean`, ...) need `select: server`",
                    None,
                );
            }
        }
    }
    e.problems = cx.problems.len() - problems_before;
    e
}

/// The named metric keys allowed at `place`, of the service (`server`) or of the requests.
fn metric_keys(place: Place, server: bool) -> Vec<&'static str> {
    metric::named_keys()
        .iter()
        .filter(|n| n.metric.is_server() == server && n.metric.allowed_in(place).is_ok())
        .map(|n| n.key)
        .collect()
}

fn unknown_key(cx: &mut Ctx, key: &str, pos: Pos, place: Place) {
    let entry_keys: Vec<&str> = model::entry_keys(place).map(|k| k.key).collect();
    let candidates: Vec<String> = metric::keys(place).into_iter().map(|(k, _)| k).collect();
    let help = closest(
        key,
        entry_keys.iter().copied().chain(candidates.iter().map(String::as_str)),
    )
    .map(|c| format!("did you mean `{c}`?"))
    .unwrap_or_else(|| {
        let quoted = entry_keys.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>();
        format!(
            "a {} has {} and {}: {}, or any `pNN`; with `select: server`: {}",
            noun(place),
            quoted.join(", "),
            match place {
                Place::Target => "limits",
                Place::Budget => "budgets",
            },
            metric_keys(place, false).join(", "),
            metric_keys(place, true).join(", ")
        )
    });
    cx.err(pos, format!("unknown key `{key}` in a {}", noun(place)), Some(help));
}

fn flag(cx: &mut Ctx, key: &str, v: &At<model::Scalar>) -> bool {
    match v.value.0.as_str() {
        "true" => true,
        "false" => false,
        other => {
            cx.err(
                Pos::of(v),
                format!("`{key}`: expected true or false, found `{other}`"),
                None,
            );
            false
        }
    }
}

fn target(
    cx: &mut Ctx,
    spec: &At<indexmap::IndexMap<String, At<model::Scalar>>>,
    verdict: &VerdictSettings,
    names: &[String],
) -> Option<Target> {
    let e = entry(cx, spec, Place::Target, names, Limit::parse);
    if e.limits.is_empty() {
        // Only when nothing else was wrong here: a misspelt limit already said so.
        if e.problems == 0 {
            cx.err(
                e.pos,
                "this target sets no limit",
                Some("add one, e.g. `avg: < 100ms`, `p95: < 200ms`, `error_rate: < 1%` or `rps: > 100`".into()),
            );
        }
        return None;
    }
    Some(Target {
        select: e.select,
        each: e.each,
        limits: e.limits,
        min_samples: e.min_samples.unwrap_or(verdict.min_samples),
        include_ramp_up: e.include_ramp_up.unwrap_or(verdict.include_ramp_up),
        pos: e.pos,
    })
}

fn percent(cx: &mut Ctx, key: &str, v: &At<model::Scalar>, lo: f64, hi: f64) -> Option<f64> {
    let t = v.value.0.trim();
    let n = t.strip_suffix('%').unwrap_or(t).trim();
    match n.parse::<f64>() {
        Ok(x) if (lo..=hi).contains(&x) => Some(x / 100.0),
        _ => {
            cx.err(
                Pos::of(v),
                format!(
                    "`regression.{key}`: expected a percentage from {lo} to {hi}, such as `{}%`, found `{t}`",
                    hi.min(95.0)
                ),
                None,
            );
            None
        }
    }
}

fn regression(cx: &mut Ctx, spec: Option<&model::RegressionSpec>, names: &[String]) -> RegressionPolicy {
    let mut p = RegressionPolicy::default();
    let Some(spec) = spec else { return p };
    if let Some(c) = &spec.confidence {
        if let Some(v) = percent(cx, "confidence", c, 50.0, 99.99) {
            p.confidence = v;
        }
    }
    if let Some(n) = &spec.noise {
        if let Some(v) = percent(cx, "noise", n, 0.0, 100.0) {
            p.noise = v;
        }
    }
    if let Some(m) = &spec.min_effect {
        // `1ms`, `3%`, or both: `1ms, 3%` (the larger applies to each comparison).
        let mut ms = None;
        for part in m.value.split(',').map(str::trim) {
            if let Some(pct) = part.strip_suffix('%') {
                match pct.trim().parse::<f64>() {
                    Ok(v) if (0.0..100.0).contains(&v) => p.min_effect_relative = v / 100.0,
                    _ => cx.err(
                        Pos::of(m),
                        format!("`regression.min_effect`: `{part}` is not a percentage from 0 to 100"),
                        Some("write a latency such as `1ms`, a share of base such as `3%`, or both: `1ms, 3%`".into()),
                    ),
                }
            } else {
                match parse_duration(part) {
                    Ok(d) if part == "0" || part.ends_with(|c: char| c.is_ascii_alphabetic()) => {
                        ms = Some(d.as_secs_f64() * 1000.0)
                    }
                    _ => cx.err(
                        Pos::of(m),
                        format!(
                            "`regression.min_effect`: expected a latency with its unit or a percentage, found `{part}`"
                        ),
                        Some("write a latency such as `1ms`, a share of base such as `3%`, or both: `1ms, 3%`".into()),
                    ),
                }
            }
        }
        // Given only as a share, the absolute floor is off.
        p.min_effect_ms = ms.unwrap_or(if p.min_effect_relative > 0.0 {
            0.0
        } else {
            p.min_effect_ms
        });
    }
    if let Some(f) = spec.fail_on_inconclusive {
        p.fail_on_inconclusive = f;
    }
    if let Some(n) = spec.min_samples {
        p.min_samples = n;
    }
    if let Some(k) = &spec.rounds {
        if (1..=MAX_ROUNDS).contains(&k.value) {
            p.rounds = Some(k.value);
        } else {
            cx.err(
                Pos::of(k),
                format!("`regression.rounds`: {} is out of range 1 to {MAX_ROUNDS}", k.value),
                Some("1 runs one pair of processes; 3 to 6 rounds of 10 s or more each are typical".into()),
            );
        }
    }
    if let Some(n) = &spec.confirm {
        if n.value <= MAX_CONFIRM {
            p.confirm = n.value;
        } else {
            cx.err(
                Pos::of(n),
                format!("`regression.confirm`: {} is out of range 0 to {MAX_CONFIRM}", n.value),
                Some("1 or 2 confirmations are enough: each one re-runs the whole duet window".into()),
            );
        }
    }
    for b in &spec.budgets {
        let e = entry(cx, b, Place::Budget, names, budget::parse_limit);
        let reported = e.problems > 0;
        let budget = Budget {
            select: e.select,
            each: e.each,
            limits: e.limits,
            pos: e.pos,
        };
        if budget.limits.is_empty() && !reported {
            cx.err(
                budget.pos,
                "this budget sets no metric",
                Some("add one, e.g. `p95: +10%` or `error_rate: +0.5pp`".into()),
            );
        } else {
            p.budgets.push(budget);
        }
    }
    p
}

/// One `accept:` entry: a subject, a budgeted metric, how much worse, why, and until when.
fn acceptance(cx: &mut Ctx, a: &At<model::AcceptSpec>) -> Option<crate::gate::Acceptance> {
    let before = cx.problems.len();
    let a_pos = Pos::of(a);
    let a = &a.value;
    let select = a.select.value.0.trim().to_string();
    if select.is_empty() {
        cx.err(
            Pos::of(&a.select),
            "`accept.select` is empty",
            Some("name the comparison's subject, e.g. `GET /api/modules` or `total`".into()),
        );
    }
    let metric = match Metric::parse(a.metric.value.0.trim()) {
        Some(m) if m.allowed_in(Place::Budget).is_ok() => Some(m),
        _ => {
            cx.err(
                Pos::of(&a.metric),
                format!(
                    "`accept.metric`: `{}` is not a metric a regression budget judges",
                    a.metric.value.0
                ),
                Some("e.g. `p95`, `avg`, `error_rate`".into()),
            );
            None
        }
    };
    let up_to = metric.and_then(|m| match budget::parse_limit(m, &a.up_to.value.0) {
        Ok(l) if l.warn.is_none() => Some(l.fail),
        Ok(_) => {
            cx.err(
                Pos::of(&a.up_to),
                "`accept.up_to` is one amount, not a `warn..fail` band",
                Some("e.g. `up_to: +25%`".into()),
            );
            None
        }
        Err(e) => {
            cx.err(Pos::of(&a.up_to), format!("`accept.up_to`: {e}"), None);
            None
        }
    });
    let reason = a.reason.value.0.trim().to_string();
    if reason.is_empty() {
        cx.err(
            Pos::of(&a.reason),
            "`accept.reason` is empty",
            Some("say why the regression is accepted: every report shows it".into()),
        );
    }
    let until = parse_date(a.until.value.0.trim());
    if until.is_none() {
        cx.err(
            Pos::of(&a.until),
            format!(
                "`accept.until`: expected a date `YYYY-MM-DD`, found `{}`",
                a.until.value.0
            ),
            Some("the last day the regression is accepted, e.g. `until: 2027-01-31`".into()),
        );
    }
    if cx.problems.len() > before {
        return None;
    }
    Some(crate::gate::Acceptance {
        select,
        metric: metric?,
        up_to: up_to?,
        up_to_text: a.up_to.value.0.trim().to_string(),
        reason,
        until: until?,
        pos: a_pos,
    })
}

/// `YYYY-MM-DD`, a real calendar day.
fn parse_date(t: &str) -> Option<(i32, u32, u32)> {
    let mut parts = t.splitn(3, '-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (y, m, d): (i32, u32, u32) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    (1..=days).contains(&d).then_some((y, m, d))
}

fn select(cx: &mut Ctx, v: &At<model::Scalar>, names: &[String]) -> Selector {
    let sel = Selector::parse(&v.value.0);
    if let Selector::Name(n) = &sel {
        if !names.contains(n) {
            let help = closest(n, names.iter().map(String::as_str))
                .map(|c| format!("did you mean `{c}`?"))
                .unwrap_or_else(|| {
                    "select `total`, a method such as `GET`, a request name, or a glob such as `GET /api/*`".into()
                });
            cx.err(
                Pos::of(v),
                format!("`select: {n}` matches no request name of this gate"),
                Some(help),
            );
        }
    }
    sel
}

fn open_model(cx: &mut Ctx, l: &model::LoadSpec, load_pos: Pos) -> Option<OpenModel> {
    let rate_ok = |cx: &mut Ctx, r: &At<f64>, key: &str| -> f64 {
        if r.value.is_finite() && r.value > MAX_ARRIVAL_RATE {
            cx.err(
                Pos::of(r),
                format!(
                    "`{key}` must be from 0 to 1000000 arrivals per second (the most one perfgate process schedules), found `{}`",
                    short_number(r.value)
                ),
                Some("shard the load across runs".into()),
            );
            MAX_ARRIVAL_RATE
        } else if r.value.is_finite() && r.value >= 0.0 {
            r.value
        } else {
            cx.err(
                Pos::of(r),
                format!(
                    "`{key}` must be a number of arrivals per second, 0 or more, found `{}`",
                    r.value
                ),
                None,
            );
            0.0
        }
    };
    let stages = match (&l.arrival_rate, &l.stages) {
        (None, None) => {
            for (key, pos) in [
                ("start_rate", l.start_rate.as_ref().map(Pos::of)),
                ("max_connections", l.max_connections.as_ref().map(Pos::of)),
            ] {
                if let Some(pos) = pos {
                    cx.err(
                        pos,
                        format!("`{key}` belongs to the open model (`arrival_rate` or `stages`)"),
                        None,
                    );
                }
            }
            return None;
        }
        (Some(r), None) => {
            let rate = rate_ok(cx, r, "arrival_rate");
            if rate == 0.0 {
                cx.err(Pos::of(r), "`arrival_rate` must be above 0", None);
            }
            vec![Stage {
                duration: Duration::ZERO,
                from: rate,
                to: rate,
            }]
        }
        (None, Some(st)) => {
            if st.value.is_empty() {
                cx.err(
                    Pos::of(st),
                    "`stages` is empty: list at least one `{duration, rate}`",
                    None,
                );
            }
            let mut prev = l
                .start_rate
                .as_ref()
                .map(|r| rate_ok(cx, r, "start_rate"))
                .unwrap_or(0.0);
            let mut out = Vec::new();
            for s in &st.value {
                let d = duration(cx, &s.value.duration, "duration");
                if d.is_zero() {
                    cx.err(
                        Pos::of(&s.value.duration),
                        "a stage's `duration` must be longer than zero",
                        None,
                    );
                }
                let to = rate_ok(cx, &s.value.rate, "rate");
                out.push(Stage {
                    duration: d,
                    from: prev,
                    to,
                });
                prev = to;
            }
            out
        }
        (Some(r), Some(_)) => {
            cx.err(
                Pos::of(r),
                "give `arrival_rate` (constant) or `stages` (ramps), not both",
                None,
            );
            return None;
        }
    };
    let max_connections = match &l.max_connections {
        Some(m) if m.value == 0 => {
            cx.err(Pos::of(m), "`max_connections` must be at least 1", None);
            1
        }
        Some(m) if m.value > MAX_USERS => {
            cx.err(
                Pos::of(m),
                format!("`max_connections` must be at most {MAX_USERS}"),
                None,
            );
            1
        }
        Some(m) => m.value,
        None => 100,
    };
    let _ = load_pos;
    Some(OpenModel {
        stages,
        max_connections,
    })
}
