//! The HTTP handlers of the reference API. Errors are `{detail, error_code, timestamp}`; request validation
//! errors are FastAPI's 422 `{detail: [{type, loc, msg, input, ...}]}`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::data::{ModuleView, SavedConfig};
use super::knobs::Route;
use super::runs::{self, CancelError, Plan, RunStatus, RunView};
use super::stats::SAMPLE_FOR;
use super::time::{iso, iso_now, now_micros};
use super::{lock, Demo};

type St = State<Arc<Demo>>;
type Answer = Result<Response, Reject>;

/// The version the health endpoint reports.
const VERSION: &str = "1.0.0";
/// Modeled cost of sorting one stored run in `GET /api/runs` (part of its base latency).
const SORT_COST_PER_RUN: Duration = Duration::from_micros(5);

/// Serializes `body` as a JSON response.
fn send<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            bytes,
        )
            .into_response(),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            format!("serialization failed: {e}"),
        ),
    }
}

/// A refused request: its status and JSON document (small, unlike a `Response`).
pub(crate) struct Reject {
    status: StatusCode,
    body: Value,
}

impl IntoResponse for Reject {
    fn into_response(self) -> Response {
        send(self.status, &self.body)
    }
}

/// The reference's error document: `{detail, error_code, timestamp}`.
fn reject(status: StatusCode, code: &str, detail: String) -> Reject {
    Reject {
        status,
        body: json!({ "detail": detail, "error_code": code, "timestamp": iso_now() }),
    }
}

/// The reference's error document as a response.
pub(crate) fn error(status: StatusCode, code: &str, detail: String) -> Response {
    reject(status, code, detail).into_response()
}

/// One FastAPI validation error item.
fn invalid(kind: &str, loc: &[&str], msg: &str, input: Value, ctx: Option<Value>) -> Value {
    let mut item = json!({ "type": kind, "loc": loc, "msg": msg, "input": input });
    if let (Some(ctx), Some(obj)) = (ctx, item.as_object_mut()) {
        obj.insert("ctx".into(), ctx);
    }
    item
}

/// FastAPI's 422 answer.
fn unprocessable(items: Vec<Value>) -> Reject {
    Reject {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        body: json!({ "detail": items }),
    }
}

fn module_not_found(id: &str) -> Reject {
    reject(
        StatusCode::NOT_FOUND,
        "MODULE_NOT_FOUND",
        format!("Module '{id}' not found"),
    )
}

fn run_not_found(id: &str) -> Reject {
    reject(StatusCode::NOT_FOUND, "RUN_NOT_FOUND", format!("Run '{id}' not found"))
}

fn path(p: Result<Path<String>, PathRejection>, name: &str) -> Result<String, Reject> {
    p.map(|Path(v)| v).map_err(|e| {
        unprocessable(vec![invalid(
            "string_type",
            &["path", name],
            &e.body_text(),
            Value::Null,
            None,
        )])
    })
}

fn query(q: Result<Query<Vec<(String, String)>>, QueryRejection>) -> Result<Vec<(String, String)>, Reject> {
    q.map(|Query(v)| v).map_err(|e| {
        unprocessable(vec![invalid(
            "query_parsing",
            &["query"],
            &e.body_text(),
            Value::Null,
            None,
        )])
    })
}

/// The last value of a query parameter (FastAPI reads scalars that way).
fn last<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// An integer query parameter with FastAPI's `ge`/`le` bounds; problems are pushed to `errors`.
fn int_param(
    q: &[(String, String)],
    name: &str,
    default: i64,
    ge: i64,
    le: Option<i64>,
    errors: &mut Vec<Value>,
) -> i64 {
    let Some(raw) = last(q, name) else { return default };
    let loc = ["query", name];
    let Ok(v) = raw.trim().parse::<i64>() else {
        let msg = "Input should be a valid integer, unable to parse string as an integer";
        errors.push(invalid("int_parsing", &loc, msg, json!(raw), None));
        return default;
    };
    if v < ge {
        let msg = format!("Input should be greater than or equal to {ge}");
        errors.push(invalid(
            "greater_than_equal",
            &loc,
            &msg,
            json!(raw),
            Some(json!({ "ge": ge })),
        ));
        return default;
    }
    if let Some(le) = le.filter(|le| v > *le) {
        let msg = format!("Input should be less than or equal to {le}");
        errors.push(invalid(
            "less_than_equal",
            &loc,
            &msg,
            json!(raw),
            Some(json!({ "le": le })),
        ));
        return default;
    }
    v
}

/// Parses a JSON request body that must be an object.
fn body_object(bytes: &Bytes) -> Result<Map<String, Value>, Reject> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(unprocessable(vec![invalid(
            "missing",
            &["body"],
            "Field required",
            Value::Null,
            None,
        )]));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(unprocessable(vec![invalid(
            "model_attributes_type",
            &["body"],
            "Input should be a valid dictionary or object to extract fields from",
            other,
            None,
        )])),
        Err(e) => {
            let pos = e.column().to_string();
            Err(unprocessable(vec![invalid(
                "json_invalid",
                &["body", &pos],
                "JSON decode error",
                json!({}),
                Some(json!({ "error": e.to_string() })),
            )]))
        }
    }
}

/// `GET /api/health`.
pub(crate) async fn health(State(d): St) -> Response {
    d.pace(Route::Health, Duration::ZERO).await;
    let active = lock(&d.runs).active();
    send(
        StatusCode::OK,
        &json!({
            "status": "healthy",
            "version": VERSION,
            "uptime_seconds": d.started.elapsed().as_secs(),
            "active_runs": active,
            "total_modules": d.catalogue.len(),
        }),
    )
}

/// `GET /api/system/stats`: about 100 ms on a cache miss, fast within the 2 s cache; header
/// `x-demo-cache: hit|miss` tells which.
pub(crate) async fn system_stats(State(d): St) -> Response {
    d.pace(Route::SystemStats, Duration::ZERO).await;
    let scaled = SAMPLE_FOR.as_secs_f64() * d.knobs.factor(Route::SystemStats);
    let sample_for = Duration::from_secs_f64(if scaled.is_finite() {
        scaled.clamp(0.0, 3600.0)
    } else {
        0.1
    });
    let (s, hit) = d.system_sample(sample_for).await;
    let (totals, busy) = {
        let reg = lock(&d.runs);
        (reg.totals(), reg.busy_modules())
    };
    let finished = totals.completed + totals.failed;
    let success_rate = if finished == 0 {
        0.0
    } else {
        (totals.completed as f64 / finished as f64 * 1000.0).round() / 10.0
    };
    let modules = d.catalogue.len();
    let mut resp = send(
        StatusCode::OK,
        &json!({
            "runs": {
                "total": totals.created,
                "successful": totals.completed,
                "failed": totals.failed,
                "success_rate": success_rate,
            },
            "modules": { "total": modules, "active": busy, "idle": modules.saturating_sub(busy) },
            "system": {
                "cpu_percent": s.cpu_percent,
                "memory_percent": s.memory_percent,
                "disk_free_gb": s.disk_free_gb,
            },
        }),
    );
    resp.headers_mut().insert(
        HeaderName::from_static("x-demo-cache"),
        HeaderValue::from_static(if hit { "hit" } else { "miss" }),
    );
    resp
}

/// `GET /api/modules`.
pub(crate) async fn list_modules(State(d): St) -> Response {
    d.pace(Route::ListModules, Duration::ZERO).await;
    #[derive(Serialize)]
    struct Page<'a> {
        modules: Vec<ModuleView<'a>>,
        total: usize,
    }
    let modules: Vec<ModuleView<'_>> = {
        let reg = lock(&d.runs);
        d.catalogue.all().iter().map(|m| m.view(reg.activity(&m.id))).collect()
    };
    let total = modules.len();
    send(StatusCode::OK, &Page { modules, total })
}

/// `GET /api/modules/{module_id}`.
pub(crate) async fn get_module(State(d): St, id: Result<Path<String>, PathRejection>) -> Answer {
    d.pace(Route::GetModule, Duration::ZERO).await;
    let id = path(id, "module_id")?;
    let module = d.catalogue.get(&id).ok_or_else(|| module_not_found(&id))?;
    let view = {
        let reg = lock(&d.runs);
        module.view(reg.activity(&module.id))
    };
    Ok(send(StatusCode::OK, &view))
}

fn config_body(module_id: &str, parameters: Map<String, Value>, updated_at: Option<u64>) -> Value {
    json!({ "module_id": module_id, "parameters": parameters, "updated_at": updated_at.map(iso) })
}

/// `GET /api/modules/{module_id}/config`: defaults merged with the saved values.
pub(crate) async fn get_config(State(d): St, id: Result<Path<String>, PathRejection>) -> Answer {
    d.pace(Route::GetConfig, Duration::ZERO).await;
    let id = path(id, "module_id")?;
    let module = d.catalogue.get(&id).ok_or_else(|| module_not_found(&id))?;
    let saved = lock(&d.configs).get(&id).cloned();
    let body = match saved {
        Some(s) => config_body(&id, module.merged(&[&s.parameters]), Some(s.updated_at)),
        None => config_body(&id, module.defaults(), None),
    };
    Ok(send(StatusCode::OK, &body))
}

/// `POST /api/modules/{module_id}/config` with `{parameters: {...}}`.
pub(crate) async fn save_config(State(d): St, id: Result<Path<String>, PathRejection>, bytes: Bytes) -> Answer {
    d.pace(Route::SaveConfig, Duration::ZERO).await;
    let id = path(id, "module_id")?;
    let body = body_object(&bytes)?;
    let parameters = match body.get("parameters") {
        Some(Value::Object(p)) => p.clone(),
        Some(other) => {
            let msg = "Input should be a valid dictionary";
            return Err(unprocessable(vec![invalid(
                "dict_type",
                &["body", "parameters"],
                msg,
                other.clone(),
                None,
            )]));
        }
        None => {
            let input = Value::Object(body.clone());
            return Err(unprocessable(vec![invalid(
                "missing",
                &["body", "parameters"],
                "Field required",
                input,
                None,
            )]));
        }
    };
    let module = d.catalogue.get(&id).ok_or_else(|| module_not_found(&id))?;
    module
        .validate(&parameters)
        .map_err(|why| reject(StatusCode::BAD_REQUEST, "INVALID_PARAMETERS", why))?;
    let now = now_micros();
    let merged = module.merged(&[&parameters]);
    lock(&d.configs).insert(
        id.clone(),
        SavedConfig {
            parameters,
            updated_at: now,
        },
    );
    Ok(send(StatusCode::OK, &config_body(&id, merged, Some(now))))
}

/// `POST /api/modules/{module_id}/run` with `{parameters: {...}, save_config: bool}`: 202 and a queued run.
pub(crate) async fn launch(State(d): St, id: Result<Path<String>, PathRejection>, bytes: Bytes) -> Answer {
    d.pace(Route::Launch, Duration::ZERO).await;
    let id = path(id, "module_id")?;
    let body = body_object(&bytes)?;
    let mut problems = Vec::new();
    let given = match body.get("parameters") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(p)) => p.clone(),
        Some(other) => {
            let msg = "Input should be a valid dictionary";
            problems.push(invalid("dict_type", &["body", "parameters"], msg, other.clone(), None));
            Map::new()
        }
    };
    let save = match body.get("save_config") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            let msg = "Input should be a valid boolean";
            problems.push(invalid("bool_type", &["body", "save_config"], msg, other.clone(), None));
            false
        }
    };
    if !problems.is_empty() {
        return Err(unprocessable(problems));
    }
    let module = d.catalogue.get(&id).ok_or_else(|| module_not_found(&id))?;
    module
        .validate(&given)
        .map_err(|why| reject(StatusCode::BAD_REQUEST, "INVALID_PARAMETERS", why))?;
    let saved = lock(&d.configs)
        .get(&id)
        .map(|s| s.parameters.clone())
        .unwrap_or_default();
    let parameters = module.merged(&[&saved, &given]);
    let items_total = parameters
        .get("max_results")
        .and_then(Value::as_u64)
        .filter(|n| (1..=10_000).contains(n))
        .unwrap_or(50);
    let (seed, suffix) = (d.draw(), d.draw());
    let plan = Plan::draw(seed, items_total);
    let launched = {
        let mut reg = lock(&d.runs);
        reg.launch(module, parameters, items_total, suffix).map(|run| {
            (
                run.id().to_string(),
                send(StatusCode::ACCEPTED, &run.view(now_micros())),
            )
        })
    };
    let Some((run_id, resp)) = launched else {
        let detail = format!(
            "Maximum concurrent runs ({}) reached; wait for a run to finish or cancel one",
            runs::MAX_ACTIVE
        );
        return Err(reject(StatusCode::CONFLICT, "MAX_CONCURRENT_RUNS", detail));
    };
    if save {
        lock(&d.configs).insert(
            id,
            SavedConfig {
                parameters: given,
                updated_at: now_micros(),
            },
        );
    }
    tokio::spawn(runs::drive(d.runs.clone(), run_id, plan, d.stop.subscribe()));
    Ok(resp)
}

/// `GET /api/runs?limit&offset&status&module_id`: newest first.
pub(crate) async fn list_runs(State(d): St, q: Result<Query<Vec<(String, String)>>, QueryRejection>) -> Answer {
    let stored = lock(&d.runs).len();
    d.pace(
        Route::ListRuns,
        SORT_COST_PER_RUN.saturating_mul(stored.min(u32::MAX as usize) as u32),
    )
    .await;
    let q = query(q)?;
    let mut errors = Vec::new();
    let limit = int_param(&q, "limit", 50, 1, Some(100), &mut errors);
    let offset = int_param(&q, "offset", 0, 0, None, &mut errors);
    let status = match last(&q, "status") {
        None => None,
        Some(raw) => match RunStatus::parse(raw) {
            Some(s) => Some(s),
            None => {
                let expected = "'queued', 'running', 'completed', 'failed' or 'cancelled'";
                let msg = format!("Input should be {expected}");
                errors.push(invalid(
                    "enum",
                    &["query", "status"],
                    &msg,
                    json!(raw),
                    Some(json!({ "expected": expected })),
                ));
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(unprocessable(errors));
    }
    let module_id = last(&q, "module_id");
    #[derive(Serialize)]
    struct Page<'a> {
        runs: Vec<RunView<'a>>,
        total: usize,
        limit: i64,
        offset: i64,
    }
    let now = now_micros();
    let reg = lock(&d.runs);
    let offset_n = usize::try_from(offset).unwrap_or(usize::MAX);
    let (total, page) = reg.list(status, module_id, offset_n, limit.clamp(1, 100) as usize);
    let runs = page.into_iter().map(|r| r.view(now)).collect();
    Ok(send(
        StatusCode::OK,
        &Page {
            runs,
            total,
            limit,
            offset,
        },
    ))
}

/// `GET /api/runs/{run_id}`.
pub(crate) async fn get_run(State(d): St, id: Result<Path<String>, PathRejection>) -> Answer {
    d.pace(Route::GetRun, Duration::ZERO).await;
    let id = path(id, "run_id")?;
    let reg = lock(&d.runs);
    let run = reg.get(&id).ok_or_else(|| run_not_found(&id))?;
    Ok(send(StatusCode::OK, &run.view(now_micros())))
}

/// `DELETE /api/runs/{run_id}`: cancels a queued or running run.
pub(crate) async fn cancel_run(State(d): St, id: Result<Path<String>, PathRejection>) -> Answer {
    d.pace(Route::CancelRun, Duration::ZERO).await;
    let id = path(id, "run_id")?;
    let mut reg = lock(&d.runs);
    match reg.cancel(&id) {
        Ok(run) => Ok(send(StatusCode::OK, &run.view(now_micros()))),
        Err(CancelError::NotFound) => Err(run_not_found(&id)),
        Err(CancelError::Finished(status)) => Err(reject(
            StatusCode::BAD_REQUEST,
            "RUN_NOT_CANCELLABLE",
            format!(
                "Run '{id}' cannot be cancelled: it already finished with status '{}'",
                status.as_str()
            ),
        )),
    }
}

/// `GET /api/runs/{run_id}/logs?tail=N`.
pub(crate) async fn run_logs(
    State(d): St,
    id: Result<Path<String>, PathRejection>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Answer {
    d.pace(Route::RunLogs, Duration::ZERO).await;
    let id = path(id, "run_id")?;
    let q = query(q)?;
    let mut errors = Vec::new();
    let tail = int_param(&q, "tail", 500, 1, Some(10_000), &mut errors);
    if !errors.is_empty() {
        return Err(unprocessable(errors));
    }
    let tail = tail.clamp(1, 10_000) as usize;
    let reg = lock(&d.runs);
    let run = reg.get(&id).ok_or_else(|| run_not_found(&id))?;
    let total = run.log_len();
    Ok(send(
        StatusCode::OK,
        &json!({
            "run_id": run.id(),
            "logs": run.log_tail(tail),
            "total_lines": total,
            "truncated": total > tail,
        }),
    ))
}

/// Unknown paths: FastAPI's `{"detail": "Not Found"}`.
pub(crate) async fn not_found() -> Response {
    send(StatusCode::NOT_FOUND, &json!({ "detail": "Not Found" }))
}

/// Known paths with another method: FastAPI's `{"detail": "Method Not Allowed"}`.
pub(crate) async fn method_not_allowed() -> Response {
    send(
        StatusCode::METHOD_NOT_ALLOWED,
        &json!({ "detail": "Method Not Allowed" }),
    )
}

/// The reference API's OpenAPI description (the file the importer's tests read).
const OPENAPI: &str = include_str!("../../tests/data/prismq-openapi.json");

/// `GET /openapi.json`: the reference API's OpenAPI description, where FastAPI serves it, for
/// `perfgate import openapi http://127.0.0.1:8000/openapi.json`.
pub async fn openapi() -> Response {
    ([(CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}
