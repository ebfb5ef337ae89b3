//! `perfgate import locust FILE`: a starter gate from a locustfile, read with a Python parser
//! (rustpython-parser), never with patterns over the text.
//!
//! Translated: `HttpUser` / `FastHttpUser` classes as scenarios, their `weight`, `host`, `wait_time =
//! between(a, b)` / `constant(s)` (and, approximated as a fixed think time, `constant_pacing(s)` /
//! `constant_throughput(n)`), `@task` / `@task(n)` methods and `tasks = [...]` / `tasks = {f: n}`
//! entries (functions of the user, or of the module taking the user) as weighted tasks (one request,
//! or several as a sequence), a `SequentialTaskSet` as one `sequence:` task, a `TaskSet`'s tasks as
//! the user's, `on_start` / `on_stop`, helper methods a task calls (inlined), `for` loops over
//! literals (unrolled), `if self.x:` guards (the gate skips a task until its variables are set), and in them
//! `self.client.get/post/put/patch/delete/head/options/request(url, json=, data=json.dumps(...),
//! params=, headers=, name=)`, with URLs as strings or f-strings over instance attributes
//! (`f"/runs/{self.run_id}"` reads `{run_id}`), `self.x = resp.json()["k"]` as `extract`, and
//! constant instance attributes (`self.limit = 20`) as variables. In `with self.client.get(...,
//! catch_response=True) as r:`, `if` checks of `r.status_code` and of `r.json()[...]` values that
//! call `r.failure(...)` / `r.success()` are its `expect`. `@tag`s are kept as a comment above their
//! task (perfgate runs every task).
//!
//! Everything else is listed with `file:line` as a comment in the gate and a note, never guessed.

use super::{Draft, DraftRequest, DraftScenario, DraftTask, Imported};
use rustpython_parser::ast::{self, Constant, Expr, Ranged, Stmt};
use rustpython_parser::Parse;
use serde_json::Value;

/// The HTTP methods `self.client` has a function for.
const METHODS: [&str; 7] = ["get", "post", "put", "patch", "delete", "head", "options"];
/// Attributes of a Locust user class that configure Locust itself (not constants the tasks read).
const LOCUST_ATTRS: [&str; 9] = [
    "abstract",
    "fixed_count",
    "network_timeout",
    "connection_timeout",
    "max_redirects",
    "max_retries",
    "concurrency",
    "insecure",
    "pool_manager",
];
/// Most times a `SequentialTaskSet` step of `@task(n)` is repeated.
const MAX_REPEAT: usize = 20;
/// How deep helper methods are inlined.
const MAX_INLINE: usize = 4;

/// What a note says about its construct.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// Left out: the gate does not do it.
    Untranslated,
    /// Translated to the closest gate construct, which differs as the note says.
    Approximated,
}

/// One note: a construct at a line.
#[derive(Debug, Clone)]
struct Note {
    kind: Kind,
    line: usize,
    text: String,
}

impl Note {
    /// The note as the gate comment and the stderr line show it.
    fn render(&self) -> String {
        match self.kind {
            Kind::Untranslated => format!("not translated: {}", self.text),
            Kind::Approximated => format!("approximated: {}", self.text),
        }
    }
}

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
        functions: suite
            .iter()
            .filter_map(|s| match s {
                Stmt::FunctionDef(f) => Some(f),
                _ => None,
            })
            .collect(),
        classes: suite
            .iter()
            .filter_map(|s| match s {
                Stmt::ClassDef(c) => Some(c),
                _ => None,
            })
            .collect(),
        used_sets: Vec::new(),
    };
    let mut host = None;
    let mut scenarios = Vec::new();
    let mut placed = Vec::new();
    for c in cx.classes.clone() {
        if c.bases
            .iter()
            .any(|b| matches!(last_name(b).as_deref(), Some("HttpUser" | "FastHttpUser")))
        {
            let before = cx.notes.len();
            let mut s = user_class(&mut cx, c, &mut host);
            cx.notes[before..].sort_by_key(|n| n.line);
            s.comments = cx.notes[before..].iter().map(Note::render).collect();
            placed.push(before..cx.notes.len());
            scenarios.push(s);
        }
    }
    // Event hooks (`@events.test_start.add_listener`) and other decorated functions run code the
    // gate does not.
    for f in cx.functions.clone() {
        if let Some(d) = f.decorator_list.first() {
            let off = d.range().start().to_usize();
            let what = cx.snippet(off);
            cx.note(
                off,
                format!("`@{what}` on `{}`: event hooks are not translated", f.name.as_str()),
            );
        }
    }
    for c in cx.classes.clone() {
        if task_set_kind(c).is_some() && !cx.used_sets.iter().any(|u| u == c.name.as_str()) {
            let off = c.range.start().to_usize();
            cx.note(
                off,
                format!(
                    "the task set `{}` is in no user class's `tasks`: left out",
                    c.name.as_str()
                ),
            );
        }
    }
    if scenarios.is_empty() {
        return Err(format!(
            "{file}: no class derives from HttpUser or FastHttpUser: nothing to translate"
        ));
    }
    // The notes of no class go at the top; a class's are above its scenario.
    let mut header = vec![
        format!("Imported by `perfgate import locust {file}`."),
        "Check the load (Locust's -u, -r, -t) and the weights, then `perfgate validate` it.".into(),
    ];
    header.extend(
        cx.notes
            .iter()
            .enumerate()
            .filter(|(i, _)| !placed.iter().any(|r| r.contains(i)))
            .map(|(_, n)| n.render()),
    );
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
        notes: cx.notes.iter().map(Note::render).collect(),
    })
}

struct Cx<'a> {
    file: &'a str,
    text: &'a str,
    notes: Vec<Note>,
    /// The module's functions, for `tasks = [...]`.
    functions: Vec<&'a ast::StmtFunctionDef>,
    /// The module's classes: users and task sets.
    classes: Vec<&'a ast::StmtClassDef>,
    /// Task sets some user class runs.
    used_sets: Vec<String>,
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

    fn push(&mut self, kind: Kind, offset: usize, what: String) {
        let line = line_col(self.text, offset).0;
        let text = format!("{}: {what}", self.at(offset));
        // A loop unrolled, or a helper inlined twice, says it once.
        if !self.notes.iter().any(|n| n.text == text) {
            self.notes.push(Note { kind, line, text });
        }
    }

    /// A construct left out, said at its line.
    fn note(&mut self, offset: usize, what: String) {
        self.push(Kind::Untranslated, offset, what);
    }

    /// A construct translated to something close, and how it differs.
    fn approx(&mut self, offset: usize, what: String) {
        self.push(Kind::Approximated, offset, what);
    }

    /// A statement left out, quoted.
    fn untranslated(&mut self, offset: usize) {
        let what = format!("`{}`", self.snippet(offset));
        self.note(offset, what);
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

/// `Some(true)` for a `SequentialTaskSet`, `Some(false)` for another `TaskSet`.
fn task_set_kind(c: &ast::StmtClassDef) -> Option<bool> {
    let names: Vec<String> = c.bases.iter().filter_map(last_name).collect();
    if names.iter().any(|n| n == "SequentialTaskSet") {
        Some(true)
    } else if names.iter().any(|n| n.ends_with("TaskSet")) {
        Some(false)
    } else {
        None
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

/// `me.NAME` → NAME (`me` is `self`, or a task function's user parameter).
fn self_attr(e: &Expr, me: &str) -> Option<String> {
    match e {
        Expr::Attribute(a) if matches!(&*a.value, Expr::Name(n) if n.id.as_str() == me) => {
            Some(a.attr.as_str().to_string())
        }
        _ => None,
    }
}

/// What the expressions of a body may read: the user's attributes as `{variables}`, and the loop
/// variables of an unrolled `for` as their values.
#[derive(Clone, Copy)]
struct Names<'n> {
    /// The name the user is known by (`self`, or a task function's parameter; empty: none).
    me: &'n str,
    /// Loop variables and their values.
    locals: &'n [(String, Value)],
}

/// Names with no user and no locals, for literals.
const LITERAL: Names<'static> = Names { me: "", locals: &[] };

/// The name of a function's first parameter (`self`, or `user` of `def index(user):`).
fn first_param(f: &ast::StmtFunctionDef) -> String {
    f.args
        .posonlyargs
        .iter()
        .chain(&f.args.args)
        .next()
        .map_or_else(|| "self".to_string(), |a| a.def.arg.as_str().to_string())
}

/// Where a statement starts.
fn stmt_offset(s: &Stmt) -> usize {
    s.range().start().to_usize()
}

/// What the methods of one user class share while they are read.
struct Scope<'a> {
    /// The name the user is known by (`self`, or a task function's parameter).
    me: String,
    /// Methods a task may call, inlined.
    helpers: Vec<&'a ast::StmtFunctionDef>,
    /// Helpers some task called.
    inlined: Vec<String>,
    /// Constant attributes (`self.limit = 20`).
    constants: Vec<(String, String)>,
    /// Helpers being inlined now.
    depth: usize,
    /// The variables of the `for` loops being unrolled.
    locals: Vec<(String, Value)>,
}

impl Scope<'_> {
    /// What expressions in the current body may read.
    fn names(&self) -> Names<'_> {
        Names {
            me: &self.me,
            locals: &self.locals,
        }
    }
}

/// The `wait_time = ...` of a class as a think time, noting what differs.
fn wait_time(cx: &mut Cx, off: usize, value: &Expr) -> Option<String> {
    let Expr::Call(call) = value else {
        cx.untranslated(off);
        return None;
    };
    let arg = |i: usize, kw: &str| {
        call.args.get(i).or_else(|| {
            call.keywords
                .iter()
                .find(|k| k.arg.as_ref().is_some_and(|a| a.as_str() == kw))
                .map(|k| &k.value)
        })
    };
    let fun = last_name(&call.func);
    let what = cx.snippet(off);
    match fun.as_deref() {
        Some("between") => {
            if let (Some(lo), Some(hi)) = (arg(0, "min_wait").and_then(number), arg(1, "max_wait").and_then(number)) {
                return Some(format!("{}..{}", secs(lo), secs(hi)));
            }
        }
        Some("constant") => {
            if let Some(t) = arg(0, "wait_time").and_then(number) {
                return Some(secs(t));
            }
        }
        Some("constant_pacing") => {
            if let Some(t) = arg(0, "wait_time").and_then(number) {
                cx.approx(
                    off,
                    format!(
                        "`{what}` starts a task every {0}; the gate thinks {0} after each task, so a task starts every {0} plus its own time",
                        secs(t)
                    ),
                );
                return Some(secs(t));
            }
        }
        Some("constant_throughput") => {
            if let Some(n) = arg(0, "task_runs_per_second").and_then(number).filter(|n| *n > 0.0) {
                cx.approx(
                    off,
                    format!(
                        "`{what}` runs {n} tasks per second per user; the gate thinks {} after each task, so a user runs a little fewer",
                        secs(1.0 / n)
                    ),
                );
                return Some(secs(1.0 / n));
            }
        }
        _ => {}
    }
    cx.note(
        off,
        format!("`{what}`: a think time is a fixed pause or a range (`between`, `constant`, `constant_pacing`, `constant_throughput` with numbers)"),
    );
    None
}

/// `@task`, `@task(n)`: the weight; None when the function is not a task.
fn task_weight(f: &ast::StmtFunctionDef) -> Option<u32> {
    f.decorator_list.iter().find_map(|d| {
        if last_name(d).as_deref() != Some("task") {
            return None;
        }
        Some(match d {
            Expr::Call(call) => call.args.first().and_then(number).unwrap_or(1.0).clamp(1.0, 1e6) as u32,
            _ => 1,
        })
    })
}

/// A task function as a task: its requests, its tags as a comment, disabled when one of its requests
/// could not be translated whole. None (and a note) when it sends nothing.
fn function_task<'a>(cx: &mut Cx<'a>, sc: &mut Scope<'a>, f: &ast::StmtFunctionDef, weight: u32) -> Option<DraftTask> {
    let name = f.name.as_str();
    let mut comments = Vec::new();
    for d in &f.decorator_list {
        let off = d.range().start().to_usize();
        match last_name(d).as_deref() {
            Some("task") => {}
            Some("tag") => {
                let tags: Vec<String> = match d {
                    Expr::Call(c) => c.args.iter().filter_map(|a| template(a, LITERAL)).collect(),
                    _ => Vec::new(),
                };
                comments.push(format!("Locust tags: {}", tags.join(", ")));
                let what = cx.snippet(off);
                cx.approx(
                    off,
                    format!("`@{what}`: the gate runs every task; the tags are a comment above `{name}`"),
                );
            }
            _ => {
                let what = cx.snippet(off);
                cx.note(off, format!("the decorator `@{what}`"));
            }
        }
    }
    let saved = std::mem::replace(&mut sc.me, first_param(f));
    let (requests, complete) = body(cx, sc, &f.body);
    sc.me = saved;
    if requests.is_empty() {
        if complete && !only_control(&f.body) {
            let off = f.range.start().to_usize();
            cx.note(off, format!("the task `{name}` sends no request perfgate can read"));
        }
        return None;
    }
    if !complete {
        comments.push(format!(
            "`{name}` sends a request perfgate cannot translate whole (see above): complete it, then uncomment"
        ));
    }
    Some(DraftTask {
        name: Some(name.to_string()),
        weight,
        requests,
        comments,
        disabled: !complete,
    })
}

/// A body that only hands control back to Locust (`self.interrupt()`, `pass`): no note needed.
fn only_control(stmts: &[Stmt]) -> bool {
    stmts.iter().all(|s| match s {
        Stmt::Pass(_) => true,
        Stmt::Expr(e) => {
            matches!(last_name(&e.value).as_deref(), Some("interrupt" | "wait"))
                || matches!(&*e.value, Expr::Constant(_))
        }
        _ => false,
    })
}

/// What `tasks = [...]`, `tasks = {f: n}` or a task set adds to a user: tasks, start and stop steps.
#[derive(Default)]
struct Found {
    tasks: Vec<DraftTask>,
    on_start: Vec<DraftRequest>,
    on_stop: Vec<DraftRequest>,
}

/// The entries of `tasks = [a, b]` / `tasks = {a: 3, b: 1}` with their weights.
fn task_entries<'e>(cx: &mut Cx, off: usize, value: &'e Expr) -> Vec<(&'e Expr, u32)> {
    match value {
        Expr::List(l) => l.elts.iter().map(|e| (e, 1)).collect(),
        Expr::Tuple(t) => t.elts.iter().map(|e| (e, 1)).collect(),
        Expr::Dict(d) => {
            let mut out = Vec::new();
            for (k, v) in d.keys.iter().zip(&d.values) {
                match (k, number(v)) {
                    (Some(k), Some(w)) => out.push((k, w.clamp(1.0, 1e6) as u32)),
                    _ => cx.note(
                        v.range().start().to_usize(),
                        format!(
                            "`{}`: a weight that is not a number",
                            cx.snippet(v.range().start().to_usize())
                        ),
                    ),
                }
            }
            out
        }
        _ => {
            cx.untranslated(off);
            Vec::new()
        }
    }
}

/// One entry of a user's `tasks`: a method of the user, a function of the module, or a task set.
fn task_ref<'a>(
    cx: &mut Cx<'a>,
    sc: &mut Scope<'a>,
    user: &'a ast::StmtClassDef,
    e: &Expr,
    weight: u32,
    found: &mut Found,
) {
    let off = e.range().start().to_usize();
    let Some(name) = (match e {
        Expr::Name(n) => Some(n.id.as_str().to_string()),
        _ => None,
    }) else {
        let what = cx.snippet(off);
        cx.note(
            off,
            format!("`{what}` in `tasks`: only names of functions and task sets translate"),
        );
        return;
    };
    let method = user.body.iter().find_map(|s| match s {
        Stmt::FunctionDef(f) if f.name.as_str() == name => Some(f),
        _ => None,
    });
    let function = cx.functions.iter().copied().find(|f| f.name.as_str() == name);
    let nested = user.body.iter().find_map(|s| match s {
        Stmt::ClassDef(c) if c.name.as_str() == name => Some(c),
        _ => None,
    });
    let class = nested.or_else(|| cx.classes.iter().copied().find(|c| c.name.as_str() == name));
    if let Some(f) = method.or(function) {
        if let Some(t) = function_task(cx, sc, f, weight) {
            found.tasks.push(t);
        }
    } else if let Some((c, sequential)) = class.and_then(|c| task_set_kind(c).map(|k| (c, k))) {
        cx.used_sets.push(name.clone());
        task_set(cx, sc, c, sequential, weight, found);
    } else {
        cx.note(
            off,
            format!("`{name}` in `tasks` is no function or task set of this file"),
        );
    }
}

/// A task set: a `SequentialTaskSet` is one `sequence:` task of its steps in order (a step of
/// `@task(n)` n times); a `TaskSet`'s tasks join the user's, weighted by the set's weight times theirs.
fn task_set<'a>(
    cx: &mut Cx<'a>,
    sc: &mut Scope<'a>,
    c: &'a ast::StmtClassDef,
    sequential: bool,
    weight: u32,
    found: &mut Found,
) {
    let name = c.name.as_str();
    let off = c.range.start().to_usize();
    let saved = std::mem::replace(
        &mut sc.helpers,
        c.body
            .iter()
            .filter_map(|s| match s {
                Stmt::FunctionDef(f) => Some(f),
                _ => None,
            })
            .collect(),
    );
    let mut listed: Vec<DraftTask> = Vec::new();
    let mut decorated: Vec<DraftTask> = Vec::new();
    for stmt in &c.body {
        let soff = stmt_offset(stmt);
        match stmt {
            Stmt::Assign(a)
                if a.targets.len() == 1 && matches!(&a.targets[0], Expr::Name(n) if n.id.as_str() == "tasks") =>
            {
                for (e, w) in task_entries(cx, soff, &a.value) {
                    let mut inner = Found::default();
                    let fname = match e {
                        Expr::Name(n) => Some(n.id.as_str()),
                        _ => None,
                    };
                    let f = fname.and_then(|n| {
                        c.body
                            .iter()
                            .find_map(|s| match s {
                                Stmt::FunctionDef(f) if f.name.as_str() == n => Some(f),
                                _ => None,
                            })
                            .or_else(|| cx.functions.iter().copied().find(|f| f.name.as_str() == n))
                    });
                    match f {
                        Some(f) => inner.tasks.extend(function_task(cx, sc, f, w)),
                        None => {
                            let at = e.range().start().to_usize();
                            let what = cx.snippet(at);
                            cx.note(
                                at,
                                format!("`{what}`: only functions translate in a task set's `tasks`"),
                            );
                        }
                    }
                    listed.extend(inner.tasks);
                }
            }
            Stmt::Assign(_) => cx.untranslated(soff),
            Stmt::FunctionDef(f) => match (f.name.as_str(), task_weight(f)) {
                ("on_start" | "on_stop", _) => {
                    let (requests, complete) = body(cx, sc, &f.body);
                    if !complete {
                        cx.note(
                            soff,
                            format!(
                                "`{name}.{}` sends a request that does not translate whole",
                                f.name.as_str()
                            ),
                        );
                    } else if !requests.is_empty() {
                        cx.approx(
                            soff,
                            format!(
                                "`{name}.{}` runs when a user enters (leaves) the task set; the gate sends it when the user starts (stops)",
                                f.name.as_str()
                            ),
                        );
                        if f.name.as_str() == "on_start" {
                            found.on_start.extend(requests);
                        } else {
                            found.on_stop.extend(requests);
                        }
                    }
                }
                (_, Some(w)) => decorated.extend(function_task(cx, sc, f, w)),
                (_, None) => {}
            },
            Stmt::Expr(e) if matches!(&*e.value, Expr::Constant(_)) => {}
            Stmt::Pass(_) => {}
            _ => cx.untranslated(soff),
        }
    }
    sc.helpers = saved;
    listed.extend(decorated);
    if listed.is_empty() {
        cx.note(off, format!("the task set `{name}` has no task perfgate can read"));
        return;
    }
    if sequential {
        let mut requests = Vec::new();
        let mut complete = true;
        for t in &listed {
            for _ in 0..(t.weight as usize).min(MAX_REPEAT) {
                requests.extend(t.requests.iter().cloned());
            }
            complete &= !t.disabled;
        }
        cx.approx(
            off,
            format!("the SequentialTaskSet `{name}` is one `sequence:` task: its steps go back to back (Locust thinks between them) and the gate's think time follows the whole sequence"),
        );
        let mut comments = Vec::new();
        if !complete {
            comments.push(format!(
                "`{name}` has a step perfgate cannot translate whole (see above): complete it, then uncomment"
            ));
        }
        found.tasks.push(DraftTask {
            name: Some(name.to_string()),
            weight,
            requests,
            comments,
            disabled: !complete,
        });
    } else {
        cx.approx(
            off,
            format!("the TaskSet `{name}`: its tasks are the user's, weighted by {weight} times theirs (a Locust user stays in a task set until `interrupt()`)"),
        );
        for mut t in listed {
            t.weight = t.weight.saturating_mul(weight);
            found.tasks.push(t);
        }
    }
}

/// One user class as a scenario.
fn user_class<'a>(cx: &mut Cx<'a>, c: &'a ast::StmtClassDef, host: &mut Option<String>) -> DraftScenario {
    let mut s = DraftScenario {
        name: c.name.as_str().to_string(),
        ..DraftScenario::default()
    };
    let mut sc = Scope {
        me: "self".into(),
        helpers: c
            .body
            .iter()
            .filter_map(|s| match s {
                Stmt::FunctionDef(f)
                    if task_weight(f).is_none() && !matches!(f.name.as_str(), "on_start" | "on_stop") =>
                {
                    Some(f)
                }
                _ => None,
            })
            .collect(),
        inlined: Vec::new(),
        constants: Vec::new(),
        depth: 0,
        locals: Vec::new(),
    };
    let mut helpers_seen = Vec::new();
    for stmt in &c.body {
        let off = stmt_offset(stmt);
        match stmt {
            Stmt::Assign(a) if a.targets.len() == 1 => {
                let target = match &a.targets[0] {
                    Expr::Name(n) => n.id.as_str().to_string(),
                    _ => String::new(),
                };
                match (target.as_str(), &*a.value) {
                    ("weight", v) if number(v).is_some() => s.weight = number(v).map(|w| w.clamp(1.0, 1e6) as u32),
                    ("host", Expr::Constant(k)) => {
                        if let Constant::Str(h) = &k.value {
                            host.get_or_insert_with(|| h.trim_end_matches('/').to_string());
                        }
                    }
                    ("wait_time", v) => s.think_time = wait_time(cx, off, v).or(s.think_time.take()),
                    (name, Expr::Constant(k)) if !LOCUST_ATTRS.contains(&name) && !name.is_empty() => {
                        // A class attribute the tasks read as `self.NAME`.
                        match &k.value {
                            Constant::Str(v) => sc.constants.push((name.to_string(), v.clone())),
                            Constant::Int(v) => sc.constants.push((name.to_string(), v.to_string())),
                            Constant::Float(v) => sc.constants.push((name.to_string(), v.to_string())),
                            Constant::Bool(v) => sc.constants.push((name.to_string(), v.to_string())),
                            _ => cx.untranslated(off),
                        }
                    }
                    ("tasks", v) => {
                        let mut found = Found::default();
                        for (e, w) in task_entries(cx, off, v) {
                            task_ref(cx, &mut sc, c, e, w, &mut found);
                        }
                        s.tasks.extend(found.tasks);
                        s.on_start.extend(found.on_start);
                        s.on_stop.extend(found.on_stop);
                    }
                    _ => cx.untranslated(off),
                }
            }
            Stmt::FunctionDef(f) => {
                let name = f.name.as_str();
                match (name, task_weight(f)) {
                    ("on_start" | "on_stop", _) => {
                        let (requests, complete) = body(cx, &mut sc, &f.body);
                        if !complete {
                            cx.note(
                                off,
                                format!("`{name}` sends a request that does not translate whole: left out"),
                            );
                        } else if name == "on_start" {
                            s.on_start.splice(0..0, requests);
                        } else {
                            s.on_stop.extend(requests);
                        }
                    }
                    (_, Some(weight)) => s.tasks.extend(function_task(cx, &mut sc, f, weight)),
                    (_, None) => helpers_seen.push((name.to_string(), off)),
                }
            }
            Stmt::ClassDef(n) if task_set_kind(n).is_some() => {
                if !c.body.iter().any(|st| {
                    matches!(st, Stmt::Assign(a) if a.targets.len() == 1
                        && matches!(&a.targets[0], Expr::Name(t) if t.id.as_str() == "tasks")
                        && names_in(&a.value).iter().any(|x| x == n.name.as_str()))
                }) {
                    cx.note(
                        off,
                        format!(
                            "the task set `{}` is in no `tasks` of `{}`: left out",
                            n.name.as_str(),
                            c.name.as_str()
                        ),
                    );
                }
            }
            Stmt::Expr(e) if matches!(&*e.value, Expr::Constant(_)) => {} // a docstring
            Stmt::Pass(_) => {}
            _ => cx.untranslated(off),
        }
    }
    for (name, off) in helpers_seen {
        if !sc.inlined.contains(&name) && !referenced(c, &name) {
            cx.note(
                off,
                format!("the method `{name}` is no task, nor on_start/on_stop, and no task calls it: left out"),
            );
        }
    }
    variables(&mut s, &sc.constants);
    if s.tasks.iter().all(|t| t.disabled) {
        let at = c.range.start().to_usize();
        cx.note(
            at,
            format!(
                "the class `{}` has no task perfgate can read: a placeholder `GET /` stands in",
                c.name.as_str()
            ),
        );
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
    s
}

/// The names in `tasks = [a, b]` or `{a: 1}`.
fn names_in(e: &Expr) -> Vec<String> {
    let elts: Vec<&Expr> = match e {
        Expr::List(l) => l.elts.iter().collect(),
        Expr::Tuple(t) => t.elts.iter().collect(),
        Expr::Dict(d) => d.keys.iter().flatten().collect(),
        _ => Vec::new(),
    };
    elts.iter()
        .filter_map(|e| match e {
            Expr::Name(n) => Some(n.id.as_str().to_string()),
            _ => None,
        })
        .collect()
}

/// Whether the user class's `tasks` names `name`.
fn referenced(c: &ast::StmtClassDef, name: &str) -> bool {
    c.body.iter().any(|st| {
        matches!(st, Stmt::Assign(a) if a.targets.len() == 1
            && matches!(&a.targets[0], Expr::Name(t) if t.id.as_str() == "tasks")
            && names_in(&a.value).iter().any(|x| x == name))
    })
}

/// Every variable the requests read is set: by an `extract`, else by a constant the locustfile
/// assigns, else as an empty placeholder that says to set it.
fn variables(s: &mut DraftScenario, constants: &[(String, String)]) {
    let all: Vec<&DraftRequest> = s
        .on_start
        .iter()
        .chain(s.tasks.iter().filter(|t| !t.disabled).flat_map(|t| t.requests.iter()))
        .chain(s.on_stop.iter())
        .collect();
    let extracted: Vec<&String> = all.iter().flat_map(|r| r.extract.iter().map(|(k, _)| k)).collect();
    let mut used: Vec<String> = Vec::new();
    for r in &all {
        let mut text = r.path.clone();
        if let Some(j) = &r.json {
            text.push_str(&j.to_string());
        }
        for (_, v) in r.headers.iter().chain(&r.form) {
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
        if extracted.contains(&&v) {
            continue;
        }
        match constants.iter().find(|(k, _)| *k == v) {
            Some((_, value)) => s
                .variables
                .push((v, value.clone(), Some("a constant the locustfile assigns".into()))),
            None => s.variables.push((
                v.clone(),
                String::new(),
                Some(format!("`{v}` is computed at run time in the locustfile: set it")),
            )),
        }
    }
}

/// Local names bound to an answer: name, index of its request, and whether the name holds the
/// decoded JSON (`data = r.json()`) rather than the response.
type Answers = Vec<(String, usize, bool)>;

/// The requests a body sends, in order, and whether each was translated whole; what it cannot read
/// becomes a note.
fn body<'a>(cx: &mut Cx<'a>, sc: &mut Scope<'a>, stmts: &[Stmt]) -> (Vec<DraftRequest>, bool) {
    let mut out = Vec::new();
    let mut answers = Answers::new();
    let mut complete = true;
    for stmt in stmts {
        step(cx, sc, stmt, &mut out, &mut answers, &mut complete, None);
    }
    (out, complete)
}

/// One statement of a body. `check` is the answer a `with ... catch_response=True as r:` block
/// checks, and the index of its request.
#[allow(clippy::too_many_arguments)]
fn step<'a>(
    cx: &mut Cx<'a>,
    sc: &mut Scope<'a>,
    stmt: &Stmt,
    out: &mut Vec<DraftRequest>,
    answers: &mut Answers,
    complete: &mut bool,
    check: Option<(&str, usize)>,
) {
    let off = stmt_offset(stmt);
    match stmt {
        Stmt::Expr(e) => {
            match client_call(cx, sc.names(), &e.value) {
                Call::Request(r, whole) => {
                    *complete &= whole;
                    out.push(*r);
                    return;
                }
                Call::Unreadable => {
                    *complete = false;
                    return;
                }
                Call::NotRequest => {}
            }
            if matches!(&*e.value, Expr::Constant(_)) {
                return;
            }
            if let Expr::Call(call) = &*e.value {
                // `r.success()`, `r.failure(...)` outside an `if`: the answer's fate, already counted.
                if let (Some((answer, _)), Expr::Attribute(a)) = (check, &*call.func) {
                    if matches!(&*a.value, Expr::Name(n) if n.id.as_str() == answer)
                        && matches!(a.attr.as_str(), "success" | "failure")
                    {
                        if a.attr.as_str() == "failure" {
                            cx.untranslated(off);
                        }
                        return;
                    }
                }
                if let Some(m) = self_attr(&call.func, &sc.me) {
                    if matches!(m.as_str(), "interrupt" | "wait") {
                        return;
                    }
                    let helper = sc.helpers.iter().copied().find(|f| f.name.as_str() == m);
                    if let (Some(f), true) = (helper, call.args.is_empty() && sc.depth < MAX_INLINE) {
                        sc.inlined.push(m.clone());
                        sc.depth += 1;
                        let (rs, whole) = body(cx, sc, &f.body);
                        sc.depth -= 1;
                        *complete &= whole;
                        out.extend(rs);
                        return;
                    }
                }
            }
            untranslated_step(cx, stmt, complete);
        }
        Stmt::Assign(a) if a.targets.len() == 1 => {
            match client_call(cx, sc.names(), &a.value) {
                Call::Request(r, whole) => {
                    *complete &= whole;
                    out.push(*r);
                    if let Expr::Name(n) = &a.targets[0] {
                        answers.push((n.id.as_str().to_string(), out.len() - 1, false));
                    }
                    return;
                }
                Call::Unreadable => {
                    *complete = false;
                    return;
                }
                Call::NotRequest => {}
            }
            if let Expr::Name(n) = &a.targets[0] {
                // `data = r.json()`: `data["k"]` reads the answer.
                if let Some((i, path)) = json_path(&a.value, answers) {
                    if path == "$" {
                        answers.push((n.id.as_str().to_string(), i, true));
                        return;
                    }
                }
                cx.untranslated(off);
                return;
            }
            let Some(attr) = self_attr(&a.targets[0], &sc.me) else {
                cx.untranslated(off);
                return;
            };
            if let Some((i, path)) = json_path(&a.value, answers).filter(|(_, p)| p != "$") {
                out[i].extract.push((attr, path));
            } else if let Expr::Constant(k) = &*a.value {
                let v = match &k.value {
                    Constant::Str(v) => Some(v.clone()),
                    Constant::Int(v) => Some(v.to_string()),
                    Constant::Bool(v) => Some(v.to_string()),
                    Constant::Float(v) => Some(v.to_string()),
                    _ => None,
                };
                match v {
                    Some(v) => sc.constants.push((attr, v)),
                    // `self.run_id = None`: unset until extracted, as a gate's variables start.
                    None if matches!(k.value, Constant::None) => {}
                    None => cx.untranslated(off),
                }
            } else {
                cx.untranslated(off);
            }
        }
        Stmt::With(w) if w.items.len() == 1 => match client_call(cx, sc.names(), &w.items[0].context_expr) {
            Call::Request(r, whole) => {
                *complete &= whole;
                out.push(*r);
                let i = out.len() - 1;
                let answer = match w.items[0].optional_vars.as_deref() {
                    Some(Expr::Name(n)) => Some(n.id.as_str().to_string()),
                    _ => None,
                };
                if let Some(a) = &answer {
                    answers.push((a.clone(), i, false));
                }
                for st in &w.body {
                    step(cx, sc, st, out, answers, complete, answer.as_deref().map(|a| (a, i)));
                }
            }
            Call::Unreadable => *complete = false,
            Call::NotRequest => untranslated_step(cx, stmt, complete),
        },
        Stmt::If(i) if check.is_some() => {
            let (answer, idx) = check.unwrap_or_default();
            if_checks(cx, i, answer, idx, out, answers);
        }
        Stmt::Try(t) if check.is_some() => {
            for st in t.body.iter().chain(&t.orelse).chain(&t.finalbody) {
                step(cx, sc, st, out, answers, complete, check);
            }
            for h in &t.handlers {
                let ast::ExceptHandler::ExceptHandler(h) = h;
                if !fates(&h.body, check.map_or("", |c| c.0)) {
                    cx.untranslated(h.range.start().to_usize());
                }
            }
        }
        // `if self.run_id:` around requests that read `{run_id}`: the gate skips a task until the
        // variables it reads are set, which is what the guard is for.
        Stmt::If(i) if i.orelse.is_empty() && guarded(&i.test, &sc.me).is_some() => {
            let attr = guarded(&i.test, &sc.me).unwrap_or_default();
            let before = out.len();
            for st in &i.body {
                step(cx, sc, st, out, answers, complete, check);
            }
            if out[before..].iter().any(|r| reads(r, &attr)) {
                let what = cx.snippet(off);
                cx.approx(
                    off,
                    format!("`{what}`: the gate skips a task until the variables it reads are set"),
                );
            } else {
                // A guard on something the requests do not read decides more than the gate can.
                out.truncate(before);
                untranslated_step(cx, stmt, complete);
            }
        }
        // `if not self.run_id: return` at the top of a task: the same guard.
        Stmt::If(i)
            if i.orelse.is_empty()
                && matches!(i.body.as_slice(), [Stmt::Return(r)] if r.value.is_none())
                && negated_guard(&i.test, &sc.me).is_some() =>
        {
            let what = cx.snippet(off);
            cx.approx(
                off,
                format!("`{what}`: the gate skips a task until the variables it reads are set"),
            );
        }
        // `for page in range(3):` over literals: the body once per value.
        Stmt::For(f)
            if f.orelse.is_empty() && matches!(&*f.target, Expr::Name(_)) && loop_values(&f.iter).is_some() =>
        {
            let Expr::Name(var) = &*f.target else { return };
            for v in loop_values(&f.iter).unwrap_or_default() {
                sc.locals.push((var.id.as_str().to_string(), v));
                for st in &f.body {
                    step(cx, sc, st, out, answers, complete, check);
                }
                sc.locals.pop();
            }
        }
        Stmt::Pass(_) => {}
        _ => untranslated_step(cx, stmt, complete),
    }
}

/// The attribute `x` of a test that `self.x` is set: `self.x`, `self.x is not None`.
fn guarded(test: &Expr, me: &str) -> Option<String> {
    match test {
        Expr::Attribute(_) => self_attr(test, me),
        Expr::Compare(c)
            if matches!(c.ops.as_slice(), [ast::CmpOp::IsNot])
                && matches!(c.comparators.as_slice(), [Expr::Constant(k)] if matches!(k.value, Constant::None)) =>
        {
            self_attr(&c.left, me)
        }
        _ => None,
    }
}

/// The attribute `x` of a test that `self.x` is not set: `not self.x`, `self.x is None`.
fn negated_guard(test: &Expr, me: &str) -> Option<String> {
    match test {
        Expr::UnaryOp(u) if matches!(u.op, ast::UnaryOp::Not) => self_attr(&u.operand, me),
        Expr::Compare(c)
            if matches!(c.ops.as_slice(), [ast::CmpOp::Is])
                && matches!(c.comparators.as_slice(), [Expr::Constant(k)] if matches!(k.value, Constant::None)) =>
        {
            self_attr(&c.left, me)
        }
        _ => None,
    }
}

/// Whether a request reads `{name}` in its path, body or headers.
fn reads(r: &DraftRequest, name: &str) -> bool {
    let var = format!("{{{name}}}");
    r.path.contains(&var)
        || r.json.as_ref().is_some_and(|j| j.to_string().contains(&var))
        || r.form.iter().any(|(_, v)| v.contains(&var))
        || r.headers.iter().any(|(_, v)| v.contains(&var))
}

/// A statement left out of a body; when it sends a request (a loop, a condition), the body is no
/// longer translated whole.
fn untranslated_step(cx: &mut Cx, stmt: &Stmt, complete: &mut bool) {
    let range = stmt.range();
    let source = cx
        .text
        .get(range.start().to_usize()..range.end().to_usize())
        .unwrap_or("");
    if source.contains("client.") {
        *complete = false;
    }
    cx.untranslated(range.start().to_usize());
}

/// Whether a branch only decides the answer's fate (`r.failure(...)`, `r.success()`, `pass`).
fn fates(stmts: &[Stmt], answer: &str) -> bool {
    !stmts.is_empty()
        && stmts.iter().all(|s| match s {
            Stmt::Pass(_) => true,
            Stmt::Expr(e) => match &*e.value {
                Expr::Call(c) => matches!(&*c.func, Expr::Attribute(a)
                    if matches!(a.attr.as_str(), "success" | "failure")
                        && matches!(&*a.value, Expr::Name(n) if n.id.as_str() == answer)),
                _ => false,
            },
            _ => false,
        })
}

/// An `if` / `elif` chain in a `catch_response` block: each test of the status code or of JSON
/// values whose branch decides the answer's fate joins the request's `expect`; others are noted.
fn if_checks(cx: &mut Cx, i: &ast::StmtIf, answer: &str, idx: usize, out: &mut [DraftRequest], answers: &Answers) {
    let off = i.test.range().start().to_usize();
    match conditions(&i.test, answer, idx, answers).filter(|_| fates(&i.body, answer)) {
        Some((codes, values)) => {
            let r = &mut out[idx];
            for c in codes {
                if !r.expect.contains(&c) {
                    r.expect.push(c);
                }
            }
            r.expect_json.extend(values);
        }
        None => {
            let what = cx.snippet(off);
            let what = what.trim_end_matches(':');
            cx.note(
                off,
                format!("`{what}`: only checks of the status code and of JSON values become `expect:` (a time limit is a target)"),
            );
        }
    }
    match i.orelse.as_slice() {
        [] => {}
        [Stmt::If(elif)] => if_checks(cx, elif, answer, idx, out, answers),
        rest if fates(rest, answer) => {}
        rest => cx.untranslated(stmt_offset(&rest[0])),
    }
}

/// The statuses and JSON values a test checks: `r.status_code != 200`, `in (200, 201)`,
/// `r.json()["status"] != "queued"`, and `or` / `and` of them.
type Checks = (Vec<u16>, Vec<(String, Value)>);

fn conditions(test: &Expr, answer: &str, idx: usize, answers: &Answers) -> Option<Checks> {
    match test {
        Expr::BoolOp(b) => {
            let mut all: Checks = (Vec::new(), Vec::new());
            for v in &b.values {
                let (c, j) = conditions(v, answer, idx, answers)?;
                all.0.extend(c);
                all.1.extend(j);
            }
            Some(all)
        }
        Expr::Compare(c) => {
            if let Some(codes) = status_check(test, answer) {
                return Some((codes, Vec::new()));
            }
            let ([op], [value]) = (c.ops.as_slice(), c.comparators.as_slice()) else {
                return None;
            };
            if !matches!(op, ast::CmpOp::Eq | ast::CmpOp::NotEq) {
                return None;
            }
            let (i, path) = json_path(&c.left, answers)?;
            let v = json(value, LITERAL)?;
            (i == idx && path != "$").then(|| (Vec::new(), vec![(path, v)]))
        }
        _ => None,
    }
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

/// `resp.json()["a"][0]["b"]`, `resp.json().get("a")` or `data["a"]` (after `data = resp.json()`)
/// → the index of the answer's request and the JSON path (`$.a[0].b`; `$` for the whole answer).
fn json_path(e: &Expr, answers: &Answers) -> Option<(usize, String)> {
    let mut keys = Vec::new();
    let mut cur = e;
    loop {
        match cur {
            Expr::Subscript(s) => {
                keys.push(key(&s.slice)?);
                cur = &s.value;
            }
            Expr::Call(c)
                if matches!(&*c.func, Expr::Attribute(a) if a.attr.as_str() == "get") && c.args.len() == 1 =>
            {
                keys.push(key(&c.args[0])?);
                let Expr::Attribute(a) = &*c.func else { return None };
                cur = &a.value;
            }
            _ => break,
        }
    }
    keys.reverse();
    let path = format!("${}", keys.concat());
    match cur {
        Expr::Call(call) => {
            let Expr::Attribute(a) = &*call.func else { return None };
            let Expr::Name(n) = &*a.value else { return None };
            if a.attr.as_str() != "json" {
                return None;
            }
            let (_, i, _) = answers
                .iter()
                .rev()
                .find(|(name, _, json)| name == n.id.as_str() && !json)?;
            Some((*i, path))
        }
        Expr::Name(n) => {
            let (_, i, _) = answers
                .iter()
                .rev()
                .find(|(name, _, json)| name == n.id.as_str() && *json)?;
            Some((*i, path))
        }
        _ => None,
    }
}

/// One step of a JSON path: `.name` or `[0]`.
fn key(e: &Expr) -> Option<String> {
    match e {
        Expr::Constant(k) => match &k.value {
            Constant::Str(name) if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                Some(format!(".{name}"))
            }
            Constant::Int(i) => Some(format!("[{i}]")),
            _ => None,
        },
        _ => None,
    }
}

/// What a call is to the client: not a request, a request perfgate cannot read (noted), or a
/// request and whether every argument was translated.
enum Call {
    /// Not a call of the client.
    NotRequest,
    /// A request whose URL or method is computed (noted).
    Unreadable,
    /// A request, and whether every argument was translated.
    Request(Box<DraftRequest>, bool),
}

/// A request from `me.client.METHOD(url, ...)` or `me.client.request(METHOD, url, ...)`.
fn client_call(cx: &mut Cx, names: Names, e: &Expr) -> Call {
    match read_call(cx, names, e) {
        Some(Some((r, whole))) => Call::Request(Box::new(r), whole),
        Some(None) => Call::Unreadable,
        None => Call::NotRequest,
    }
}

/// [`client_call`]: None for no request, `Some(None)` for one perfgate cannot read.
fn read_call(cx: &mut Cx, names: Names, e: &Expr) -> Option<Option<(DraftRequest, bool)>> {
    let me = names.me;
    let Expr::Call(call) = e else { return None };
    let Expr::Attribute(func) = &*call.func else {
        return None;
    };
    if self_attr(&func.value, me).as_deref() != Some("client") {
        return None;
    }
    let off = call.range.start().to_usize();
    let attr = func.attr.as_str();
    let kw = |name: &str| {
        call.keywords
            .iter()
            .find(|k| k.arg.as_ref().is_some_and(|a| a.as_str() == name))
            .map(|k| &k.value)
    };
    let (method, url) = if METHODS.contains(&attr) {
        (attr.to_ascii_uppercase(), call.args.first())
    } else if attr == "request" {
        let m = match call.args.first().or_else(|| kw("method")) {
            Some(Expr::Constant(k)) => match &k.value {
                Constant::Str(m) => m.to_ascii_uppercase(),
                _ => return None,
            },
            _ => {
                let what = cx.snippet(off);
                cx.note(
                    off,
                    format!("`{what}`: the method is computed in a way perfgate cannot read"),
                );
                return Some(None);
            }
        };
        (m, call.args.get(1))
    } else {
        return None;
    };
    let Some(mut path) = kw("url").or(url).and_then(|u| template(u, names)) else {
        let what = cx.snippet(off);
        cx.note(
            off,
            format!("`{what}`: the URL is computed in a way perfgate cannot read"),
        );
        return Some(None);
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
        let koff = k.range.start().to_usize();
        let Some(arg) = k.arg.as_ref().map(|a| a.as_str()) else {
            cx.untranslated(koff);
            whole = false;
            continue;
        };
        match arg {
            "url" | "method" | "catch_response" | "allow_redirects" | "timeout" => {}
            "name" => r.name = template(&k.value, names),
            "json" => match json(&k.value, names) {
                Some(j) => r.json = Some(j),
                None => {
                    cx.untranslated(koff);
                    whole = false;
                }
            },
            // `data=json.dumps({...})` is a JSON body.
            "data" if dumps(&k.value).and_then(|v| json(v, names)).is_some() => {
                r.json = dumps(&k.value).and_then(|v| json(v, names));
            }
            // `data={...}` of plain values is a form body; a literal secret is read from the environment.
            "data" if form(&k.value, names).is_some() => {
                for (name, value) in form(&k.value, names).unwrap_or_default() {
                    let (value, secret) = if value.contains('{') {
                        (value, None)
                    } else {
                        super::form_field(&name, &value)
                    };
                    if let Some(var) = secret {
                        cx.approx(
                            koff,
                            format!(
                                "`data=` of `{me}.client.{attr}`: the form field `{name}` is not copied (a secret): the gate reads it from ${{env:{var}}}; export {var} before the run"
                            ),
                        );
                    }
                    r.form.push((name, value));
                }
            }
            "params" | "headers" => match json(&k.value, names) {
                Some(Value::Object(o)) => {
                    for (key, v) in o {
                        let v = match v {
                            Value::String(s) => s,
                            other => other.to_string(),
                        };
                        if arg == "params" {
                            query.push(format!("{key}={v}"));
                        } else if !(key.eq_ignore_ascii_case("content-type") && v.contains("json")) {
                            r.headers.push((key, v));
                        }
                    }
                }
                _ => {
                    cx.untranslated(koff);
                    whole = false;
                }
            },
            "data" => {
                // The value is not quoted: a form body often holds a password.
                let form = matches!(k.value, Expr::Dict(_));
                cx.note(
                    koff,
                    format!(
                        "`data=` of `{me}.client.{attr}`: {}",
                        if form {
                            "a form body whose values perfgate cannot read (a gate's `form:` holds text and `{variables}`)"
                        } else {
                            "a body perfgate cannot read; a gate sends JSON bodies (`json=`, `data=json.dumps(...)`)"
                        }
                    ),
                );
                whole = false;
            }
            _ => {
                // The value is not quoted: `auth=` holds a password.
                cx.note(koff, format!("`{arg}=` of `{me}.client.{attr}` is not translated"));
                whole = false;
            }
        }
    }
    if !query.is_empty() {
        path.push(if path.contains('?') { '&' } else { '?' });
        path.push_str(&query.join("&"));
    }
    r.path = path;
    Some(Some((r, whole)))
}

/// The value of a loop variable being unrolled.
fn local<'n>(e: &Expr, names: Names<'n>) -> Option<&'n Value> {
    let Expr::Name(n) = e else { return None };
    names
        .locals
        .iter()
        .rev()
        .find(|(k, _)| k == n.id.as_str())
        .map(|(_, v)| v)
}

/// The values of `range(n)`, `range(a, b[, step])` or a list or tuple of literals, when there are
/// at most [`MAX_REPEAT`].
fn loop_values(e: &Expr) -> Option<Vec<Value>> {
    match e {
        Expr::List(_) | Expr::Tuple(_) => match json(e, LITERAL)? {
            Value::Array(a) if a.len() <= MAX_REPEAT => Some(a),
            _ => None,
        },
        Expr::Call(c) if matches!(&*c.func, Expr::Name(n) if n.id.as_str() == "range") && c.keywords.is_empty() => {
            let n: Vec<i64> = c
                .args
                .iter()
                .map(|a| json(a, LITERAL).and_then(|v| v.as_i64()))
                .collect::<Option<_>>()?;
            let (start, end, by) = match n.as_slice() {
                [end] => (0, *end, 1),
                [start, end] => (*start, *end, 1),
                [start, end, by] if *by != 0 => (*start, *end, *by),
                _ => return None,
            };
            let mut out = Vec::new();
            let mut i = start;
            while (by > 0 && i < end) || (by < 0 && i > end) {
                if out.len() == MAX_REPEAT {
                    return None;
                }
                out.push(Value::from(i));
                i += by;
            }
            Some(out)
        }
        _ => None,
    }
}

/// `X` of `json.dumps(X)`.
fn dumps(e: &Expr) -> Option<&Expr> {
    let Expr::Call(c) = e else { return None };
    (last_name(&c.func).as_deref() == Some("dumps") && c.args.len() == 1).then(|| &c.args[0])
}

/// A string, or an f-string over `me.NAME` attributes (each becomes `{NAME}`) and loop variables
/// (each becomes its value).
fn template(e: &Expr, names: Names) -> Option<String> {
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
                    Expr::FormattedValue(f) if f.format_spec.is_none() => match local(&f.value, names) {
                        Some(Value::String(v)) => out.push_str(v),
                        Some(v) => out.push_str(&v.to_string()),
                        None => {
                            out.push('{');
                            out.push_str(&self_attr(&f.value, names.me)?);
                            out.push('}');
                        }
                    },
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
/// A dict of plain values (text, numbers, true/false, f-strings) as form fields.
fn form(e: &Expr, names: Names) -> Option<Vec<(String, String)>> {
    let Value::Object(o) = json(e, names)? else {
        return None;
    };
    o.into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => Some((k, s)),
            Value::Number(n) => Some((k, n.to_string())),
            Value::Bool(b) => Some((k, if b { "True" } else { "False" }.to_string())),
            _ => None,
        })
        .collect()
}

fn json(e: &Expr, names: Names) -> Option<Value> {
    match e {
        Expr::Dict(d) => {
            let mut o = serde_json::Map::new();
            for (k, v) in d.keys.iter().zip(&d.values) {
                let key = template(k.as_ref()?, names)?;
                o.insert(key, json(v, names)?);
            }
            Some(Value::Object(o))
        }
        Expr::List(l) => l
            .elts
            .iter()
            .map(|x| json(x, names))
            .collect::<Option<Vec<_>>>()
            .map(Value::Array),
        Expr::Tuple(t) => t
            .elts
            .iter()
            .map(|x| json(x, names))
            .collect::<Option<Vec<_>>>()
            .map(Value::Array),
        Expr::JoinedStr(_) => template(e, names).map(Value::String),
        Expr::Name(_) => local(e, names).cloned(),
        Expr::Constant(k) => match &k.value {
            Constant::Str(s) => Some(Value::String(s.clone())),
            Constant::Int(i) => i.to_string().parse::<i64>().ok().map(Value::from),
            Constant::Float(f) => serde_json::Number::from_f64(*f).map(Value::Number),
            Constant::Bool(b) => Some(Value::Bool(*b)),
            Constant::None => Some(Value::Null),
            _ => None,
        },
        Expr::UnaryOp(u) if matches!(u.op, ast::UnaryOp::USub) => match json(&u.operand, names)? {
            Value::Number(n) => n.as_i64().map(|i| Value::from(-i)).or_else(|| {
                n.as_f64()
                    .and_then(|f| serde_json::Number::from_f64(-f))
                    .map(Value::Number)
            }),
            _ => None,
        },
        Expr::Attribute(_) if !names.me.is_empty() => self_attr(e, names.me).map(|a| Value::String(format!("{{{a}}}"))),
        _ => None,
    }
}
