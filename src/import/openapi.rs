//! `perfgate import openapi FILE`: a starter gate from an OpenAPI 3 description (JSON or YAML; a
//! FastAPI service serves one at `/openapi.json`).
//!
//! Read with serde_json's `Value` rather than a typed OpenAPI model: the importer reads a dozen
//! fields (paths, parameters, examples, request bodies, responses, `$ref`s), and a `Value` reads 3.0
//! and 3.1 alike (3.1's `examples` arrays, `type` lists) without a dependency for it.
//!
//! - Every GET operation becomes a task of weight 1 (its `summary` or `operationId` as the name).
//! - Path parameters become `{variables}` set from the description's examples (`example`, `examples`,
//!   the schema's `example`/`examples`/`default`/`enum`); an operation whose parameter has none is
//!   written as a comment that says which variable to set.
//! - Operations that write (POST, PUT, PATCH, DELETE) are written as comments, with their JSON body
//!   from the description's example or built from its schema and the success status as `expect`:
//!   a load test should choose which writes it sends.
//! - A commented `targets:` section follows.

use super::{ident, Draft, DraftRequest, DraftScenario, DraftTask, Imported};
use serde_json::{Map, Value};

/// How deep `$ref`s and nested schemas are followed when building an example body.
const MAX_DEPTH: usize = 8;

/// Methods read, in the order a path's operations are written.
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Reads an OpenAPI 3 description (`file` names it in messages) and drafts a gate.
pub fn import(file: &str, text: &str) -> Result<Imported, String> {
    import_served(file, text, None)
}

/// Like [`import`], for a description fetched from a service: `origin` (`http://127.0.0.1:8000`) is
/// the host when the description names no absolute server (FastAPI names none).
pub fn import_served(file: &str, text: &str, origin: Option<&str>) -> Result<Imported, String> {
    let doc = parse(file, text)?;
    if let Some(v) = doc.get("swagger") {
        return Err(format!(
            "{file}: Swagger {} is not OpenAPI 3: convert it first (e.g. with swagger2openapi), or serve the service's OpenAPI 3 description",
            v.as_str().unwrap_or("2")
        ));
    }
    let version = doc.get("openapi").and_then(Value::as_str).unwrap_or("");
    if !version.starts_with('3') {
        return Err(format!(
            "{file}: not an OpenAPI 3 description: it has no `openapi: 3.x` field (found {})",
            if version.is_empty() {
                "none".to_string()
            } else {
                format!("`{version}`")
            }
        ));
    }
    let paths = doc
        .get("paths")
        .and_then(Value::as_object)
        .filter(|p| !p.is_empty())
        .ok_or_else(|| format!("{file}: the description has no `paths`: nothing to load"))?;
    let title = doc
        .pointer("/info/title")
        .and_then(Value::as_str)
        .unwrap_or("service")
        .to_string();
    let (host, prefix) = host_and_prefix(&doc, origin);
    let mut notes = Vec::new();
    let mut variables: Vec<(String, String, Option<String>)> = Vec::new();
    let mut ops: Vec<Op> = Vec::new();
    for (path, item) in paths {
        let Some(item) = item.as_object() else { continue };
        let shared = item
            .get("parameters")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let mut params: Vec<Value> = shared.iter().map(|p| resolve(&doc, p, 0).clone()).collect();
            for p in op.get("parameters").and_then(Value::as_array).into_iter().flatten() {
                let p = resolve(&doc, p, 0).clone();
                // An operation's parameter replaces the path item's of the same name and place.
                params.retain(|q| !(q.get("name") == p.get("name") && q.get("in") == p.get("in")));
                params.push(p);
            }
            ops.push(operation(&doc, &prefix, path, method, op, &params, &mut variables));
        }
    }
    // Reads first, then the writes.
    ops.sort_by_key(|o| o.task.requests[0].method != "GET");
    link(&doc, &mut ops, &mut notes);
    let (reads, mut writes): (Vec<DraftTask>, Vec<DraftTask>) = ops
        .into_iter()
        .map(|o| o.task)
        .partition(|t| t.requests[0].method == "GET");
    if reads.iter().all(|t: &DraftTask| t.disabled) {
        notes.push(
            "no GET operation could run without more data: the gate's tasks are comments; uncomment at least one"
                .into(),
        );
    } else {
        let waiting: Vec<&DraftTask> = reads.iter().filter(|t| t.disabled).collect();
        if !waiting.is_empty() {
            notes.push(format!(
                "{} data the description does not give: {} in the gate, saying what to set: {}",
                match waiting.len() {
                    1 => "1 GET operation needs".to_string(),
                    n => format!("{n} GET operations need"),
                },
                if waiting.len() == 1 { "a comment" } else { "comments" },
                listed(&waiting)
            ));
        }
    }
    if !writes.is_empty() {
        notes.push(format!(
            "{} in the gate (writes change the service's data): uncomment the ones the load test should send: {}",
            match writes.len() {
                1 => "1 write is a comment".to_string(),
                n => format!("{n} writes are comments"),
            },
            listed(&writes.iter().collect::<Vec<_>>())
        ));
    }
    if let Some(first) = writes.first_mut() {
        first.comments.insert(
            0,
            "Writes change the service's data: uncomment the ones the load test should send.".into(),
        );
    }
    let mut tasks = reads;
    tasks.extend(writes);
    if tasks.iter().all(|t| t.disabled) {
        // A gate needs one task: the first operation, so the file validates and says what to do.
        if let Some(t) = tasks
            .iter_mut()
            .find(|t| t.requests.iter().all(|r| !r.path.contains('{')))
        {
            t.disabled = false;
        } else {
            tasks.insert(
                0,
                DraftTask {
                    name: Some("root".into()),
                    weight: 1,
                    requests: vec![DraftRequest {
                        method: "GET".into(),
                        path: format!("{prefix}/"),
                        ..DraftRequest::default()
                    }],
                    comments: vec!["A placeholder: every operation needs data the description does not give.".into()],
                    disabled: false,
                },
            );
        }
    }
    let draft = Draft {
        header: vec![
            format!("Imported by `perfgate import openapi {file}` from \"{title}\" (OpenAPI {version})."),
            "A starting point: check the weights, the think time and the load, then `perfgate validate` it.".into(),
        ],
        name: ident(&title.to_ascii_lowercase()),
        host,
        users: 10,
        spawn_rate: 2,
        run_time: "1m".into(),
        scenarios: vec![DraftScenario {
            name: "ApiUser".into(),
            comments: vec!["Every GET operation, equally weighted; writes follow as comments.".into()],
            think_time: Some("1s..3s".into()),
            variables,
            tasks,
            ..DraftScenario::default()
        }],
    };
    Ok(Imported {
        gate: draft.render(),
        notes,
    })
}

/// The tasks' first requests, `METHOD /path`, the first five and how many more.
fn listed(tasks: &[&DraftTask]) -> String {
    let mut names: Vec<String> = tasks
        .iter()
        .take(5)
        .filter_map(|t| t.requests.first())
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    if tasks.len() > 5 {
        names.push(format!("and {} more", tasks.len() - 5));
    }
    names.join(", ")
}

/// The document as JSON or YAML; an error names the file, line and column.
fn parse(file: &str, text: &str) -> Result<Value, String> {
    if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| format!("{file}:{}:{}: not valid JSON: {e}", e.line(), e.column()))
    } else {
        serde_saphyr::from_str(text).map_err(|e| {
            let at = e
                .location()
                .map(|l| format!("{}:{}", l.line(), l.column()))
                .unwrap_or_else(|| "1:1".into());
            let msg = e.without_snippet().to_string();
            format!("{file}:{at}: not valid JSON or YAML: {msg}")
        })
    }
}

/// The host from `servers[0].url` when it is absolute (else `origin`, else the usual local port), and
/// the path prefix a relative or absolute server URL adds (`/api/v1`).
fn host_and_prefix(doc: &Value, origin: Option<&str>) -> (String, String) {
    let url = doc.pointer("/servers/0/url").and_then(Value::as_str).unwrap_or("");
    let default = origin.unwrap_or("http://127.0.0.1:8000").to_string();
    if let Some(rest) = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://")) {
        let scheme_len = url.len() - rest.len();
        let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
        if authority.contains('{') {
            return (default, String::new());
        }
        let prefix = path.trim_end_matches('/');
        let prefix = if prefix.is_empty() {
            String::new()
        } else {
            format!("/{prefix}")
        };
        return (format!("{}{authority}", &url[..scheme_len]), prefix);
    }
    let prefix = url.trim_end_matches('/');
    let prefix = if prefix.starts_with('/') && !prefix.contains('{') {
        prefix.to_string()
    } else {
        String::new()
    };
    (default, prefix)
}

/// `v` with a `$ref` to `#/...` followed (up to a depth); `v` itself when it has none or it dangles.
fn resolve<'a>(doc: &'a Value, v: &'a Value, depth: usize) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) if depth < MAX_DEPTH => match r.strip_prefix('#').and_then(|p| doc.pointer(p)) {
            Some(target) => resolve(doc, target, depth + 1),
            None => v,
        },
        _ => v,
    }
}

/// The example a parameter or media type gives, in the order OpenAPI prefers them.
fn example_of(doc: &Value, v: &Value) -> Option<Value> {
    if let Some(e) = v.get("example") {
        return Some(e.clone());
    }
    if let Some(first) = v
        .get("examples")
        .and_then(Value::as_object)
        .and_then(|o| o.values().next())
    {
        if let Some(e) = resolve(doc, first, 0).get("value") {
            return Some(e.clone());
        }
    }
    let schema = resolve(doc, v.get("schema")?, 0);
    schema_example(doc, schema)
}

/// A schema's own example, default or first enum value.
fn schema_example(doc: &Value, schema: &Value) -> Option<Value> {
    let schema = resolve(doc, schema, 0);
    schema
        .get("example")
        .or_else(|| schema.get("examples").and_then(Value::as_array).and_then(|a| a.first()))
        .or_else(|| schema.get("default"))
        .or_else(|| schema.get("enum").and_then(Value::as_array).and_then(|a| a.first()))
        .or_else(|| schema.get("const"))
        .cloned()
}

/// A value that fits `schema`: its example, or one built from its properties (required ones and those
/// with an example or default), items and type.
fn build(doc: &Value, schema: &Value, depth: usize) -> Value {
    let schema = resolve(doc, schema, 0);
    if let Some(e) = schema_example(doc, schema) {
        return e;
    }
    if depth >= MAX_DEPTH {
        return Value::Null;
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(list) = schema.get(key).and_then(Value::as_array) {
            if key == "allOf" {
                let mut merged = Map::new();
                for s in list {
                    if let Value::Object(o) = build(doc, s, depth + 1) {
                        merged.extend(o);
                    }
                }
                return Value::Object(merged);
            }
            // The first alternative that is not `null` (FastAPI writes optionals as anyOf [T, null]).
            let pick = list
                .iter()
                .find(|s| resolve(doc, s, 0).get("type").and_then(Value::as_str) != Some("null"));
            return pick.map_or(Value::Null, |s| build(doc, s, depth + 1));
        }
    }
    let ty = match schema.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if schema.get("properties").is_some() => "object",
        _ => "",
    };
    match ty {
        "object" => {
            let required: Vec<&str> = schema
                .get("required")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut out = Map::new();
            for (name, prop) in schema
                .get("properties")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                if required.contains(&name.as_str()) || schema_example(doc, prop).is_some() {
                    out.insert(name.clone(), build(doc, prop, depth + 1));
                }
            }
            Value::Object(out)
        }
        "array" => match schema.get("items") {
            Some(items) => Value::Array(vec![build(doc, items, depth + 1)]),
            None => Value::Array(Vec::new()),
        },
        "string" => Value::String("string".into()),
        "integer" => Value::from(schema.get("minimum").and_then(Value::as_i64).unwrap_or(1)),
        "number" => Value::from(schema.get("minimum").and_then(Value::as_f64).unwrap_or(1.0)),
        "boolean" => Value::Bool(false),
        _ => Value::Null,
    }
}

/// A parameter value as text in a path or query.
fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One operation drafted as a task, with what it lacks and what it answers.
struct Op {
    task: DraftTask,
    /// Path variables without an example.
    missing: Vec<String>,
    /// The success answer's JSON schema.
    answer: Option<Value>,
    /// Disabled for a reason other than a missing variable (a write, a query without example).
    held: bool,
}

/// One operation as a task; records the variables its path parameters need.
fn operation(
    doc: &Value,
    prefix: &str,
    path: &str,
    method: &str,
    op: &Value,
    params: &[Value],
    variables: &mut Vec<(String, String, Option<String>)>,
) -> Op {
    let upper = method.to_ascii_uppercase();
    let mut comments = Vec::new();
    let mut missing = Vec::new();
    let mut held = method != "get";
    let mut gate_path = format!("{prefix}{path}");
    // Path parameters: `{name}` in the path, a variable of the same name (made an identifier).
    for p in params
        .iter()
        .filter(|p| p.get("in").and_then(Value::as_str) == Some("path"))
    {
        let Some(name) = p.get("name").and_then(Value::as_str) else {
            continue;
        };
        let var = ident(name);
        if var != name {
            gate_path = gate_path.replace(&format!("{{{name}}}"), &format!("{{{var}}}"));
        }
        if variables.iter().any(|(k, ..)| *k == var) {
            continue;
        }
        match example_of(doc, p) {
            Some(e) => variables.push((var, text_of(&e), Some(format!("example of `{name}` in {upper} {path}")))),
            None => missing.push(var),
        }
    }
    // Query parameters: the required ones, with their examples.
    let mut query = Vec::new();
    for p in params
        .iter()
        .filter(|p| p.get("in").and_then(Value::as_str) == Some("query"))
    {
        let Some(name) = p.get("name").and_then(Value::as_str) else {
            continue;
        };
        if p.get("required").and_then(Value::as_bool) != Some(true) {
            continue;
        }
        match example_of(doc, p) {
            Some(e) => query.push(format!("{name}={}", text_of(&e))),
            None => {
                held = true;
                comments.push(format!(
                    "needs the query parameter `{name}`: the description gives no example"
                ));
                query.push(format!("{name}=VALUE"));
            }
        }
    }
    // Required headers: from the environment, as secrets are.
    let mut headers = Vec::new();
    for p in params
        .iter()
        .filter(|p| p.get("in").and_then(Value::as_str) == Some("header"))
    {
        if p.get("required").and_then(Value::as_bool) == Some(true) {
            if let Some(name) = p.get("name").and_then(Value::as_str) {
                let env = ident(name).to_ascii_uppercase();
                comments.push(format!(
                    "`{name}` comes from the environment variable {env}: export it before the run"
                ));
                headers.push((name.to_string(), format!("${{env:{env}}}")));
            }
        }
    }
    if !query.is_empty() {
        gate_path = format!("{gate_path}?{}", query.join("&"));
    }
    // A JSON body: the example, else one built from the schema.
    let json = op.get("requestBody").map(|b| resolve(doc, b, 0)).and_then(|b| {
        let content = b.get("content")?.as_object()?;
        let (_, media) = content
            .iter()
            .find(|(k, _)| k.starts_with("application/json") || k.ends_with("+json"))?;
        example_of(doc, media).or_else(|| media.get("schema").map(|s| build(doc, s, 0)))
    });
    if op.get("requestBody").is_some() && json.is_none() {
        comments.push("its request body is not JSON: perfgate sends JSON bodies only".into());
    }
    // The success status, when there is exactly one and it is not 200.
    let success: Vec<u16> = op
        .get("responses")
        .and_then(Value::as_object)
        .map(|r| {
            r.keys()
                .filter_map(|k| k.parse::<u16>().ok())
                .filter(|s| (200..300).contains(s))
                .collect()
        })
        .unwrap_or_default();
    let answer = success.first().and_then(|code| {
        let r = resolve(doc, op.pointer(&format!("/responses/{code}"))?, 0);
        let content = r.get("content")?.as_object()?;
        let (_, media) = content.iter().find(|(k, _)| k.starts_with("application/json"))?;
        media.get("schema").cloned()
    });
    let expect = match success.as_slice() {
        [one] if *one != 200 => vec![*one],
        _ => Vec::new(),
    };
    let name = op
        .get("summary")
        .and_then(Value::as_str)
        .or_else(|| op.get("operationId").and_then(Value::as_str))
        .map(str::to_string);
    Op {
        task: DraftTask {
            name,
            weight: 1,
            requests: vec![DraftRequest {
                method: upper,
                path: gate_path,
                json,
                expect,
                headers,
                ..DraftRequest::default()
            }],
            comments,
            disabled: held || !missing.is_empty(),
        },
        missing,
        answer,
        held,
    }
}

/// Where `var` can be read in an answer of `schema`: a property of that name (`$.run_id`), one in
/// the first item of a list property (`$.runs[0].run_id`), or the `id` of the first item of the list
/// its name points to (`module_id` in `$.modules[0].id`).
fn path_to(doc: &Value, schema: &Value, var: &str) -> Option<String> {
    let schema = resolve(doc, schema, 0);
    let props = |s: &Value| -> Option<Map<String, Value>> {
        resolve(doc, s, 0).get("properties").and_then(Value::as_object).cloned()
    };
    if let Some(items) = schema.get("items") {
        if props(items).is_some_and(|p| p.contains_key(var)) {
            return Some(format!("$[0].{var}"));
        }
    }
    let top = props(schema)?;
    if top.contains_key(var) {
        return Some(format!("$.{var}"));
    }
    for (name, prop) in &top {
        let Some(items) = resolve(doc, prop, 0).get("items") else {
            continue;
        };
        let Some(fields) = props(items) else { continue };
        if fields.contains_key(var) {
            return Some(format!("$.{name}[0].{var}"));
        }
        let singular = name.strip_suffix('s').unwrap_or(name);
        if fields.contains_key("id") && var == format!("{singular}_id") {
            return Some(format!("$.{name}[0].id"));
        }
    }
    None
}

/// Gives every missing variable a producer: the first operation whose answer holds it, preferring a
/// GET that runs; the producer extracts it and a task that lacked only it runs (skipped until set).
fn link(doc: &Value, ops: &mut [Op], notes: &mut Vec<String>) {
    let mut wanted: Vec<String> = Vec::new();
    for op in ops.iter() {
        for v in &op.missing {
            if !wanted.contains(v) {
                wanted.push(v.clone());
            }
        }
    }
    for var in wanted {
        // Only a field of the answer itself is extracted: a list's first item fails the request
        // whenever the list is empty, so that one is offered in a comment instead.
        let direct = format!("$.{var}");
        let producer = |runs_only: bool| {
            ops.iter().position(|o| {
                o.missing.is_empty()
                    && (!runs_only || !o.task.disabled)
                    && o.answer.as_ref().and_then(|a| path_to(doc, a, &var)) == Some(direct.clone())
            })
        };
        let Some(p) = producer(true).or_else(|| producer(false)) else {
            let from_list = ops.iter().find_map(|o| {
                let path = o.answer.as_ref().and_then(|a| path_to(doc, a, &var))?;
                let name = o.task.name.clone().unwrap_or_else(|| o.task.requests[0].path.clone());
                Some((name, path))
            });
            if let Some((name, path)) = from_list {
                for o in ops.iter_mut().filter(|o| o.missing.contains(&var)) {
                    o.task.comments.push(format!(
                        "needs `{{{var}}}`: `{name}` answers it as `{path}` when its list is not empty; add `extract: {{{var}: \"{path}\"}}` there (an empty list fails it) or set it under `variables:`, then uncomment"
                    ));
                }
                continue;
            }
            for o in ops.iter_mut().filter(|o| o.missing.contains(&var)) {
                o.task.comments.push(format!(
                    "needs `{{{var}}}`: the description gives no example and no answer holds it; set it under `variables:` or `extract` it, then uncomment"
                ));
                let r = &o.task.requests[0];
                notes.push(format!(
                    "{} {}: `{var}` has no example and no operation answers it: the task is a comment until it is set",
                    r.method, r.path
                ));
            }
            continue;
        };
        let answer = ops[p].answer.clone().unwrap_or_default();
        let json_path = path_to(doc, &answer, &var).unwrap_or_default();
        ops[p].task.requests[0].extract.push((var.clone(), json_path));
        let producer_runs = !ops[p].task.disabled;
        let producer_name = ops[p]
            .task
            .name
            .clone()
            .unwrap_or_else(|| format!("{} {}", ops[p].task.requests[0].method, ops[p].task.requests[0].path));
        for o in ops.iter_mut().filter(|o| o.missing.contains(&var)) {
            o.missing.retain(|v| *v != var);
            if producer_runs {
                o.task.comments.push(format!(
                    "`{{{var}}}` comes from the answer of `{producer_name}` (`extract`); skipped until that has run"
                ));
            } else {
                o.task.comments.push(format!(
                    "needs `{{{var}}}`, which `{producer_name}` extracts: uncomment both"
                ));
                o.held = true;
            }
            o.task.disabled = o.held || !o.missing.is_empty();
        }
    }
}
