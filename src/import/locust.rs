//! `perfgate import locust FILE`: a starter gate from a locustfile, read with a Python parser
//! (rustpython-parser), never with patterns over the text.
//!
//! Translated: `HttpUser` / `FastHttpUser` classes as scenarios, their `weight`, `host`,
//! `wait_time = between(a, b)` / `constant(s)`, `@task` / `@task(n)` methods as weighted tasks (one
//! request, or several as a sequence), `on_start` / `on_stop`, and in them
//! `self.client.get/post/put/patch/delete/head/options/request(url, json=, params=, headers=, name=)`,
//! with URLs as strings or f-strings over instance attributes (`f"/runs/{self.run_id}"` reads
//! `{run_id}`), `self.x = resp.json()["k"]` after `resp = self.client...` as `extract`, and constant
//! instance attributes (`self.limit = 20`) as variables. `with self.client.get(..., catch_response=True)
//! as r:` sends its request, and `if r.status_code != 200:` (or `==`, `in`, `not in`) inside is its
//! `expect`; other checks there are listed.
//!
//! Everything else is listed with `file:line` as a comment in the gate (and a note), never guessed.

use super::{Draft, DraftRequest, DraftScenario, DraftTask, Imported};
use rustpython_parser::ast::{self, Constant, Expr, Ranged, Stmt};
use rustpython_parser::Parse;
use serde_json::Value;

/// The HTTP methods `self.client` has a function for.
const METHODS: [&str; 7] = ["get", "post", "put", "patch", "delete", "head", "options"];

/// Reads a locustfile (`file` names it in messages) and drafts a gate.
pub fn import(file: &str, text: &str) -> Result<Imported, String> {
    let suite = ast::Suite::parse(text, file).map_err(|e| {
        let (line, col) = line_col(text, e.offset.to_usize());
        format!("{file}:{line}:{col}: not valid Python: {}", e.error)
    })?;
    let mut cx = Cx {
        file,
        text,
        notes: Vec::new(),
    };
    let mut host = None;
    let mut scenarios = Vec::new();
    for stmt in &suite {
        if let Stmt::ClassDef(c) = stmt {
            if c.bases
                .iter()
                .any(|b| matches!(last_name(b).as_deref(), Some("HttpUser" | "FastHttpUser")))
            {
                scenarios.push(user_class(&mut cx, c, &mut host));
            } else if c
                .bases
                .iter()
                .any(|b| last_name(b).is_some_and(|n| n.ends_with("TaskSet")))
            {
                let at = cx.at(c.range.start().to_usize());
                cx.notes.push(format!(
                    "{at}: the task set `{}` is not translated: write its requests as tasks (a SequentialTaskSet's as one `sequence:`)",
                    c.name.as_str()
                ));
            }
        }
    }
    if scenarios.is_empty() {
        return Err(format!(
            "{file}: no class derives from HttpUser or FastHttpUser: nothing to translate"
        ));
    }
    // The notes of no class go at the top; a class's are above its scenario.
    let header_notes: Vec<String> = cx
        .notes
        .iter()
        .map(|n| format!("not translated: {n}"))
        .filter(|n| !scenarios.iter().any(|s: &DraftScenario| s.comments.contains(n)))
        .collect();
    let mut header = vec![
        format!("Imported by `perfgate import locust {file}`."),
        "Check the load (Locust's -u, -r, -t) and the weights, then `perfgate validate` it.".into(),
    ];
    header.extend(header_notes);
    let stem = std::path::Path::new(file)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "locustfile".into());
    let draft = Draft {
        header,
        name: super::ident(&stem),
        host: host.unwrap_or_else(|| "http://127.0.0.1:8000".into()),
        users: 10,
        spawn_rate: 2,
        run_time: "1m".into(),
        scenarios,
    };
    Ok(Imported {
        gate: draft.render(),
        notes: cx.notes,
    })
}

struct Cx<'a> {
    file: &'a str,
    text: &'a str,
    notes: Vec<String>,
}

impl Cx<'_> {
    /// `file:line` of a byte offset.
    fn at(&self, offset: usize) -> String {
        format!("{}:{}", self.file, line_col(self.text, offset).0)
    }

    /// The first line of the source at `offset`, trimmed, for a note.
    fn snippet(&self, offset: usize) -> String {
        let rest = self.text.get(offset..).unwrap_or("");
        let line = rest.lines().next().unwrap_or("").trim();
        let mut s: String = line.chars().take(70).collect();
        if line.chars().count() > 70 {
            s.push_str("...");
        }
        s
    }
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// `HttpUser` of `HttpUser` or `locust.HttpUser`, `task` of `@task` or `@locust.task(3)`.
fn last_name(e: &Expr) -> Option<String> {
    match e {
        Expr::Name(n) => Some(n.id.as_str().to_string()),
        Expr::Attribute(a) => Some(a.attr.as_str().to_string()),
        Expr::Call(c) => last_name(&c.func),
        _ => None,
    }
}

/// A number constant.
fn number(e: &Expr) -> Option<f64> {
    match e {
        Expr::Constant(c) => match &c.value {
            Constant::Int(i) => i.to_string().parse().ok(),
            Constant::Float(f) => Some(*f),
            _ => None,
        },
        _ => None,
    }
}

/// Seconds as a gate duration: `500ms`, `2s`, `1.5s`.
fn secs(s: f64) -> String {
    let ms = (s * 1000.0).round() as u64;
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{}s", ms as f64 / 1000.0)
    }
}

/// `self.NAME` → NAME.
fn self_attr(e: &Expr) -> Option<String> {
    match e {
        Expr::Attribute(a) if matches!(&*a.value, Expr::Name(n) if n.id.as_str() == "self") => {
            Some(a.attr.as_str().to_string())
        }
        _ => None,
    }
}

/// One user class as a scenario.
fn user_class(cx: &mut Cx, c: &ast::StmtClassDef, host: &mut Option<String>) -> DraftScenario {
    let mut s = DraftScenario {
        name: c.name.as_str().to_string(),
        ..DraftScenario::default()
    };
    let before = cx.notes.len();
    let mut constants: Vec<(String, String)> = Vec::new();
    for stmt in &c.body {
        let off = stmt_offset(stmt);
        match stmt {
            Stmt::Assign(a) if a.targets.len() == 1 => {
                let target = match &a.targets[0] {
                    Expr::Name(n) => n.id.as_str().to_string(),
                    _ => String::new(),
                };
                match (target.as_str(), &*a.value) {
                    ("weight", v) if number(v).is_some() => s.weight = number(v).map(|w| w.max(1.0) as u32),
                    ("host", Expr::Constant(k)) => {
                        if let Constant::Str(h) = &k.value {
                            host.get_or_insert_with(|| h.trim_end_matches('/').to_string());
                        }
                    }
                    ("wait_time", Expr::Call(call)) => match last_name(&call.func).as_deref() {
                        Some("between") if call.args.len() == 2 => match (number(&call.args[0]), number(&call.args[1]))
                        {
                            (Some(lo), Some(hi)) => s.think_time = Some(format!("{}..{}", secs(lo), secs(hi))),
                            _ => untranslated(cx, off),
                        },
                        Some("constant") if call.args.len() == 1 => match number(&call.args[0]) {
                            Some(t) => s.think_time = Some(secs(t)),
                            None => untranslated(cx, off),
                        },
                        _ => {
                            let at = cx.at(off);
                            let what = cx.snippet(off);
                            cx.notes.push(format!(
                                "{at}: `{what}`: perfgate's think time is a fixed pause or a range (`between`, `constant`), not a pacing"
                            ));
                        }
                    },
                    _ => untranslated(cx, off),
                }
            }
            Stmt::FunctionDef(f) => {
                let name = f.name.as_str();
                let task_weight = f.decorator_list.iter().find_map(|d| {
                    if last_name(d).as_deref() != Some("task") {
                        return None;
                    }
                    Some(match d {
                        Expr::Call(call) => call.args.first().and_then(number).unwrap_or(1.0).max(1.0) as u32,
                        _ => 1,
                    })
                });
                for d in &f.decorator_list {
                    if last_name(d).as_deref() != Some("task") {
                        let at = cx.at(d.range().start().to_usize());
                        let what = cx.snippet(d.range().start().to_usize());
                        cx.notes
                            .push(format!("{at}: the decorator `@{what}` is not translated"));
                    }
                }
                if task_weight.is_none() && !matches!(name, "on_start" | "on_stop") {
                    let at = cx.at(off);
                    cx.notes.push(format!(
                        "{at}: the method `{name}` is neither a task nor on_start/on_stop: left out"
                    ));
                    continue;
                }
                let (requests, complete) = body(cx, &f.body, &mut constants);
                match (name, task_weight) {
                    ("on_start", _) => s.on_start = requests,
                    ("on_stop", _) => s.on_stop = requests,
                    (_, Some(weight)) if !requests.is_empty() => s.tasks.push(DraftTask {
                        name: Some(name.to_string()),
                        weight,
                        requests,
                        comments: if complete {
                            Vec::new()
                        } else {
                            vec![format!(
                                "`{name}` sends a request perfgate cannot translate whole (see above): complete it, then uncomment"
                            )]
                        },
                        disabled: !complete,
                    }),
                    (_, Some(_)) => {
                        let at = cx.at(off);
                        cx.notes.push(format!("{at}: the task `{name}` sends no request perfgate can read"));
                    }
                    (_, None) => {}
                }
            }
            Stmt::Expr(e) if matches!(&*e.value, Expr::Constant(_)) => {} // a docstring
            Stmt::Pass(_) => {}
            _ => untranslated(cx, off),
        }
    }
    // Every variable the requests read must be set: constants the methods assign, else a placeholder.
    let mut extracted: Vec<String> = Vec::new();
    for r in s
        .on_start
        .iter()
        .chain(s.tasks.iter().flat_map(|t| t.requests.iter()))
        .chain(s.on_stop.iter())
    {
        extracted.extend(r.extract.iter().map(|(k, _)| k.clone()));
    }
    let mut used: Vec<String> = Vec::new();
    for r in s
        .on_start
        .iter()
        .chain(s.tasks.iter().flat_map(|t| t.requests.iter()))
        .chain(s.on_stop.iter())
    {
        let mut text = r.path.clone();
        if let Some(j) = &r.json {
            text.push_str(&j.to_string());
        }
        for (_, v) in &r.headers {
            text.push_str(v);
        }
        for part in text.split('{').skip(1) {
            if let Some(end) = part.find('}') {
                let v = &part[..end];
                if !v.is_empty()
                    && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !used.iter().any(|u| u == v)
                {
                    used.push(v.to_string());
                }
            }
        }
    }
    for v in used {
        if extracted.contains(&v) {
            continue;
        }
        match constants.iter().find(|(k, _)| *k == v) {
            Some((_, value)) => s
                .variables
                .push((v, value.clone(), Some("a constant the locustfile assigns".into()))),
            None => s.variables.push((
                v.clone(),
                String::new(),
                Some(format!("`self.{v}` is computed at run time in the locustfile: set it")),
            )),
        }
    }
    if s.tasks.is_empty() {
        let at = cx.at(c.range.start().to_usize());
        cx.notes.push(format!(
            "{at}: the class `{}` has no task perfgate can read: a placeholder `GET /` stands in",
            c.name.as_str()
        ));
        s.tasks.push(DraftTask {
            name: Some("placeholder".into()),
            weight: 1,
            requests: vec![DraftRequest {
                method: "GET".into(),
                path: "/".into(),
                ..DraftRequest::default()
            }],
            comments: Vec::new(),
            disabled: false,
        });
    }
    s.comments = cx.notes[before..]
        .iter()
        .map(|n| format!("not translated: {n}"))
        .collect();
    s
}

/// Where a statement starts.
fn stmt_offset(s: &Stmt) -> usize {
    s.range().start().to_usize()
}

fn untranslated(cx: &mut Cx, offset: usize) {
    let at = cx.at(offset);
    let what = cx.snippet(offset);
    cx.notes.push(format!("{at}: `{what}`"));
}

/// The requests a method body sends, in order, and whether each was translated whole; what it
/// cannot read becomes a note.
fn body(cx: &mut Cx, stmts: &[Stmt], constants: &mut Vec<(String, String)>) -> (Vec<DraftRequest>, bool) {
    let mut out: Vec<DraftRequest> = Vec::new();
    let mut complete = true;
    let mut call = |cx: &mut Cx, e: &Expr| {
        client_call(cx, e).map(|(r, whole)| {
            complete &= whole;
            r
        })
    };
    // Local names bound to a request's answer: name → index in `out`.
    let mut answers: Vec<(String, usize)> = Vec::new();
    for stmt in stmts {
        let off = stmt_offset(stmt);
        match stmt {
            Stmt::Expr(e) => match call(cx, &e.value) {
                Some(r) => out.push(r),
                None if matches!(&*e.value, Expr::Constant(_)) => {}
                None => untranslated(cx, off),
            },
            Stmt::Assign(a) if a.targets.len() == 1 => {
                if let Some(r) = call(cx, &a.value) {
                    out.push(r);
                    if let Expr::Name(n) = &a.targets[0] {
                        answers.push((n.id.as_str().to_string(), out.len() - 1));
                    }
                    continue;
                }
                let Some(attr) = self_attr(&a.targets[0]) else {
                    untranslated(cx, off);
                    continue;
                };
                if let Some((answer, path)) = json_path(&a.value) {
                    match answers.iter().rev().find(|(n, _)| *n == answer) {
                        Some((_, i)) => out[*i].extract.push((attr, path)),
                        None => untranslated(cx, off),
                    }
                } else if let Expr::Constant(k) = &*a.value {
                    match &k.value {
                        Constant::Str(v) => constants.push((attr, v.clone())),
                        Constant::Int(v) => constants.push((attr, v.to_string())),
                        Constant::Bool(v) => constants.push((attr, v.to_string())),
                        Constant::Float(v) => constants.push((attr, v.to_string())),
                        _ => untranslated(cx, off),
                    }
                } else {
                    untranslated(cx, off);
                }
            }
            Stmt::With(w) if w.items.len() == 1 => match call(cx, &w.items[0].context_expr) {
                Some(mut r) => {
                    let answer = match w.items[0].optional_vars.as_deref() {
                        Some(Expr::Name(n)) => Some(n.id.as_str().to_string()),
                        _ => None,
                    };
                    // `if r.status_code != 200: r.failure(...)` is `expect: 200`.
                    let mut rest = 0;
                    for st in &w.body {
                        match (st, &answer) {
                            (Stmt::If(i), Some(a)) if r.expect.is_empty() => match status_check(&i.test, a) {
                                Some(codes) => {
                                    r.expect = codes;
                                    // An `elif`/`else` checks something else (time, content).
                                    rest += usize::from(!i.orelse.is_empty());
                                }
                                None => rest += 1,
                            },
                            _ => rest += 1,
                        }
                    }
                    out.push(r);
                    if let Some(a) = answer {
                        answers.push((a, out.len() - 1));
                    }
                    if rest > 0 {
                        let at = cx.at(off);
                        cx.notes.push(format!(
                            "{at}: the checks inside `with ... catch_response=True` other than the status code (perfgate counts any 2xx or 3xx a success unless the request sets `expect:`)"
                        ));
                    }
                }
                None => untranslated(cx, off),
            },
            Stmt::Pass(_) => {}
            _ => untranslated(cx, off),
        }
    }
    (out, complete)
}

/// The statuses a check of `answer.status_code` accepts: `!= 200`, `== 200`, `in (200, 201)`,
/// `not in [...]` (the branch taken decides success or failure; the codes are the same).
fn status_check(test: &Expr, answer: &str) -> Option<Vec<u16>> {
    let Expr::Compare(c) = test else { return None };
    let Expr::Attribute(a) = &*c.left else { return None };
    if a.attr.as_str() != "status_code" || !matches!(&*a.value, Expr::Name(n) if n.id.as_str() == answer) {
        return None;
    }
    let ([op], [value]) = (c.ops.as_slice(), c.comparators.as_slice()) else {
        return None;
    };
    let code = |e: &Expr| number(e).filter(|n| (100.0..600.0).contains(n)).map(|n| n as u16);
    match op {
        ast::CmpOp::Eq | ast::CmpOp::NotEq => code(value).map(|c| vec![c]),
        ast::CmpOp::In | ast::CmpOp::NotIn => {
            let elts = match value {
                Expr::Tuple(t) => &t.elts,
                Expr::List(l) => &l.elts,
                _ => return None,
            };
            elts.iter().map(code).collect()
        }
        _ => None,
    }
}

/// `resp.json()["a"][0]["b"]` → (`resp`, `$.a[0].b`).
fn json_path(e: &Expr) -> Option<(String, String)> {
    let mut keys = Vec::new();
    let mut cur = e;
    while let Expr::Subscript(s) = cur {
        match &*s.slice {
            Expr::Constant(k) => match &k.value {
                Constant::Str(name) => keys.push(format!(".{name}")),
                Constant::Int(i) => keys.push(format!("[{i}]")),
                _ => return None,
            },
            _ => return None,
        }
        cur = &s.value;
    }
    let Expr::Call(call) = cur else { return None };
    let Expr::Attribute(a) = &*call.func else { return None };
    if a.attr.as_str() != "json" || keys.is_empty() {
        return None;
    }
    let Expr::Name(n) = &*a.value else { return None };
    keys.reverse();
    Some((n.id.as_str().to_string(), format!("${}", keys.concat())))
}

/// A request from `self.client.METHOD(url, ...)` or `self.client.request(METHOD, url, ...)`, and
/// whether every argument was translated.
fn client_call(cx: &mut Cx, e: &Expr) -> Option<(DraftRequest, bool)> {
    let Expr::Call(call) = e else { return None };
    let Expr::Attribute(func) = &*call.func else {
        return None;
    };
    if self_attr(&func.value).as_deref() != Some("client") {
        return None;
    }
    let off = call.range.start().to_usize();
    let attr = func.attr.as_str();
    let (method, url) = if METHODS.contains(&attr) {
        (attr.to_ascii_uppercase(), call.args.first())
    } else if attr == "request" {
        let m = match call.args.first() {
            Some(Expr::Constant(k)) => match &k.value {
                Constant::Str(m) => m.to_ascii_uppercase(),
                _ => return None,
            },
            _ => return None,
        };
        (m, call.args.get(1))
    } else {
        return None;
    };
    let url = call
        .keywords
        .iter()
        .find(|k| k.arg.as_ref().is_some_and(|a| a.as_str() == "url"))
        .map(|k| &k.value)
        .or(url)?;
    let Some(mut path) = template(url) else {
        let at = cx.at(off);
        let what = cx.snippet(off);
        cx.notes.push(format!(
            "{at}: `{what}`: the URL is computed in a way perfgate cannot read"
        ));
        return None;
    };
    if !path.starts_with('/') {
        if let Some(i) = path.find("://") {
            let rest = &path[i + 3..];
            path = rest.find('/').map_or("/".to_string(), |j| rest[j..].to_string());
        } else {
            path.insert(0, '/');
        }
    }
    let mut r = DraftRequest {
        method,
        ..DraftRequest::default()
    };
    let mut query = Vec::new();
    let mut whole = true;
    for k in &call.keywords {
        let Some(arg) = k.arg.as_ref().map(|a| a.as_str()) else {
            untranslated(cx, k.range.start().to_usize());
            whole = false;
            continue;
        };
        match arg {
            "url" | "catch_response" | "allow_redirects" | "timeout" => {}
            "name" => r.name = template(&k.value),
            "json" => match json(&k.value) {
                Some(j) => r.json = Some(j),
                None => {
                    untranslated(cx, k.range.start().to_usize());
                    whole = false;
                }
            },
            "params" | "headers" => match json(&k.value) {
                Some(Value::Object(o)) => {
                    for (key, v) in o {
                        let v = match v {
                            Value::String(s) => s,
                            other => other.to_string(),
                        };
                        if arg == "params" {
                            query.push(format!("{key}={v}"));
                        } else {
                            r.headers.push((key, v));
                        }
                    }
                }
                _ => {
                    untranslated(cx, k.range.start().to_usize());
                    whole = false;
                }
            },
            _ => {
                let at = cx.at(k.range.start().to_usize());
                cx.notes.push(format!(
                    "{at}: `{arg}=` of `self.client.{attr}` is not translated (a gate sends JSON bodies only)"
                ));
                whole = false;
            }
        }
    }
    if !query.is_empty() {
        path.push(if path.contains('?') { '&' } else { '?' });
        path.push_str(&query.join("&"));
    }
    r.path = path;
    Some((r, whole))
}

/// A string, or an f-string over `self.NAME` attributes (each becomes `{NAME}`).
fn template(e: &Expr) -> Option<String> {
    match e {
        Expr::Constant(k) => match &k.value {
            Constant::Str(s) => Some(s.clone()),
            _ => None,
        },
        Expr::JoinedStr(j) => {
            let mut out = String::new();
            for v in &j.values {
                match v {
                    Expr::Constant(k) => match &k.value {
                        Constant::Str(s) => out.push_str(s),
                        _ => return None,
                    },
                    Expr::FormattedValue(f) if f.format_spec.is_none() => {
                        out.push('{');
                        out.push_str(&self_attr(&f.value)?);
                        out.push('}');
                    }
                    _ => return None,
                }
            }
            Some(out)
        }
        _ => None,
    }
}

/// A JSON value from a Python literal: dicts, lists, strings (and f-strings over attributes), numbers,
/// booleans and None.
fn json(e: &Expr) -> Option<Value> {
    match e {
        Expr::Dict(d) => {
            let mut o = serde_json::Map::new();
            for (k, v) in d.keys.iter().zip(&d.values) {
                let key = template(k.as_ref()?)?;
                o.insert(key, json(v)?);
            }
            Some(Value::Object(o))
        }
        Expr::List(l) => l.elts.iter().map(json).collect::<Option<Vec<_>>>().map(Value::Array),
        Expr::Tuple(t) => t.elts.iter().map(json).collect::<Option<Vec<_>>>().map(Value::Array),
        Expr::JoinedStr(_) => template(e).map(Value::String),
        Expr::Constant(k) => match &k.value {
            Constant::Str(s) => Some(Value::String(s.clone())),
            Constant::Int(i) => i.to_string().parse::<i64>().ok().map(Value::from),
            Constant::Float(f) => serde_json::Number::from_f64(*f).map(Value::Number),
            Constant::Bool(b) => Some(Value::Bool(*b)),
            Constant::None => Some(Value::Null),
            _ => None,
        },
        Expr::Attribute(_) => self_attr(e).map(|a| Value::String(format!("{{{a}}}"))),
        _ => None,
    }
}
