//! json_api.php: the API key check, how request bodies become `attr` and `items`, and the
//! shape of the answers.

use std::collections::HashMap;

use axum::extract::{FromRequest, Path, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use super::{mailbox, Mailcow};
use crate::fakes::Fault;

fn error(status: StatusCode, msg: &str) -> Response {
    (status, Json(json!({ "type": "error", "msg": msg }))).into_response()
}

/// sessions.inc.php: a missing or unknown `X-API-Key` is HTTP 401; json_api.php: a read-only
/// key is HTTP 403 on anything but a GET.
pub(super) async fn require_api_key(
    State(mc): State<Mailcow>,
    request: Request,
    next: Next,
) -> Response {
    let key = request
        .headers()
        .get("X-API-Key")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let read_only_key = mc.read_only_key.lock().unwrap().clone();
    let read_only = !key.is_empty() && read_only_key.as_deref() == Some(key);
    let known = !key.is_empty() && (key == mc.api_key || read_only);
    if !known || mc.faults.get() == Fault::RejectCredentials {
        return error(StatusCode::UNAUTHORIZED, "authentication failed");
    }
    if read_only && !request.uri().path().starts_with("/api/v1/get/") {
        return error(StatusCode::FORBIDDEN, "API read/write access denied");
    }
    next.run(request).await
}

pub(super) async fn route_not_found() -> Response {
    error(StatusCode::NOT_FOUND, "route not found")
}

/// A POST body as json_api.php reads it: JSON when the content type says so (and then it must
/// parse), else the form fields `attr` and `items`, each holding JSON.
pub(super) enum Payload {
    Json(Value),
    Form(HashMap<String, String>),
}

impl<S: Send + Sync> FromRequest<S> for Payload {
    type Rejection = Response;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.contains("application/json"));
        let body = axum::body::to_bytes(request.into_body(), 1 << 20)
            .await
            .map_err(|_| StatusCode::BAD_REQUEST.into_response())?;
        if is_json {
            serde_json::from_slice(&body)
                .map(Payload::Json)
                .map_err(|_| {
                    error(
                        StatusCode::BAD_REQUEST,
                        "Request body doesn't contain valid json!",
                    )
                })
        } else {
            let form = url::form_urlencoded::parse(&body).into_owned().collect();
            Ok(Payload::Form(form))
        }
    }
}

impl Payload {
    /// `add`: the whole JSON body, or the form's `attr`.
    fn add_attr(&self) -> Option<Value> {
        match self {
            Payload::Json(body) => Some(body.clone()),
            Payload::Form(form) => form.get("attr").map(|attr| decode(attr)),
        }
    }

    /// `edit`: the JSON body's `attr` and `items`, or the form's.
    fn edit_attr_and_items(&self) -> Option<(Value, Value)> {
        match self {
            Payload::Json(body) => Some((body["attr"].clone(), body["items"].clone())),
            Payload::Form(form) => Some((decode(form.get("attr")?), decode(form.get("items")?))),
        }
    }

    /// `delete`: the whole JSON body, or the form's `items`.
    fn delete_items(&self) -> Option<Value> {
        match self {
            Payload::Json(body) => Some(body.clone()),
            Payload::Form(form) => form.get("items").map(|items| decode(items)),
        }
    }
}

fn decode(json: &str) -> Value {
    serde_json::from_str(json).unwrap_or(Value::Null)
}

/// PHP's `(array)` on decoded `attr`: anything but an object has none of the expected keys.
fn as_object(attr: Value) -> Map<String, Value> {
    match attr {
        Value::Object(object) => object,
        _ => Map::new(),
    }
}

/// PHP's `(array)` on decoded `items`.
fn as_items(items: Value) -> Vec<Value> {
    match items {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        item => vec![item],
    }
}

fn incomplete() -> Response {
    Json(json!({ "type": "error", "msg": "Cannot find attributes in post data" })).into_response()
}

/// process_*_return: the results of the call; with none, a generic success.
fn results(results: Vec<Value>) -> Response {
    if results.is_empty() {
        return Json(json!({ "type": "success", "msg": "Task completed" })).into_response();
    }
    Json(Value::Array(results)).into_response()
}

/// `POST /api/v1/add/mailbox`.
pub(super) async fn add_mailbox(State(mc): State<Mailcow>, payload: Payload) -> Response {
    let Some(attr) = payload.add_attr() else {
        return incomplete();
    };
    results(mailbox::add(&mut mc.lock(), &as_object(attr)))
}

/// `GET /api/v1/get/mailbox/{id}`: the mailbox or `{}`; `all` lists them all.
pub(super) async fn get_mailbox(State(mc): State<Mailcow>, Path(id): Path<String>) -> Response {
    let state = mc.lock();
    if id == "all" {
        let mut all: Vec<_> = state.mailboxes.values().collect();
        all.sort_by(|a, b| a.username.cmp(&b.username));
        return Json(Value::Array(
            all.into_iter()
                .map(|m| mailbox::details(m, used(&state, m)))
                .collect(),
        ))
        .into_response();
    }
    match state.mailboxes.get(&id.to_lowercase()) {
        Some(found) => Json(mailbox::details(found, used(&state, found))).into_response(),
        None => Json(json!({})).into_response(),
    }
}

fn used(state: &super::McState, mailbox: &super::Mailbox) -> u64 {
    state
        .quota_used
        .get(&mailbox.username)
        .copied()
        .unwrap_or(0)
}

/// `GET /api/v1/get/mailbox/all/{domains}`: the mailboxes of these (comma-separated) domains,
/// or `{}` when there are none (json_api.php's `process_get_return` of nothing).
pub(super) async fn get_domain_mailboxes(
    State(mc): State<Mailcow>,
    Path(domains): Path<String>,
) -> Response {
    let state = mc.lock();
    let domains: Vec<String> = domains
        .split(',')
        .map(|d| d.trim().to_lowercase())
        .collect();
    let mut found: Vec<_> = state
        .mailboxes
        .values()
        .filter(|m| domains.contains(&m.domain))
        .collect();
    if found.is_empty() {
        return Json(json!({})).into_response();
    }
    found.sort_by(|a, b| a.username.cmp(&b.username));
    Json(Value::Array(
        found
            .into_iter()
            .map(|m| mailbox::details(m, used(&state, m)))
            .collect(),
    ))
    .into_response()
}

/// `POST /api/v1/edit/mailbox` with `{"attr": {…}, "items": ["alice@ex.org"]}`.
pub(super) async fn edit_mailbox(State(mc): State<Mailcow>, payload: Payload) -> Response {
    let Some((attr, items)) = payload.edit_attr_and_items() else {
        return incomplete();
    };
    results(mailbox::edit(
        &mut mc.lock(),
        as_items(items),
        &as_object(attr),
    ))
}

/// `POST /api/v1/delete/mailbox` with `["alice@ex.org"]`.
pub(super) async fn delete_mailbox(State(mc): State<Mailcow>, payload: Payload) -> Response {
    let Some(items) = payload.delete_items() else {
        return incomplete();
    };
    results(mailbox::delete(&mut mc.lock(), as_items(items)))
}
