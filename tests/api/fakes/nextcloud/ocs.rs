//! The OCS layer of Nextcloud: the login and CSRF gate in front of every OCS route, request
//! parameters as PHP and Nextcloud's dispatcher see them, and the v1/v2 envelopes in JSON or
//! XML.

use std::collections::HashMap;

use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Map, Value};

use super::Nextcloud;
use crate::fakes::Fault;

/// OCSController::RESPOND_UNAUTHORISED.
pub(super) const UNAUTHORISED: u16 = 997;

/// Answers what Nextcloud's SecurityMiddleware answers before any OCS controller runs: not
/// logged in first (HTTP 401, statuscode 997 in either version), then the CSRF check, which an
/// OCS request passes only with `OCS-APIRequest: true` (else HTTP 412, a plain JSON message).
pub(super) async fn require_admin_ocs_request(
    State(nc): State<Nextcloud>,
    request: Request,
    next: Next,
) -> Response {
    let ocs = Ocs::of(request.uri(), request.headers());
    let logged_in = nc.faults.get() != Fault::RejectCredentials
        && basic_credentials(request.headers())
            .is_some_and(|(user, password)| user == nc.admin_user && password == nc.admin_password);
    if !logged_in {
        return ocs.fail(UNAUTHORISED, "Current user is not logged in");
    }
    let ocs_api_request = request
        .headers()
        .get("OCS-APIRequest")
        .is_some_and(|value| value == "true");
    if !ocs_api_request {
        return (
            StatusCode::PRECONDITION_FAILED,
            Json(json!({ "message": "CSRF check failed" })),
        )
            .into_response();
    }
    next.run(request).await
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// What PHP does when a controller argument has the wrong type (an array for a string, a
/// string for an array, nothing for a required one): a TypeError, which Nextcloud answers with
/// a bare HTTP 500.
pub(super) struct TypeError;

impl IntoResponse for TypeError {
    fn into_response(self) -> Response {
        internal_server_error()
    }
}

pub(super) fn internal_server_error() -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Json,
    Xml,
}

/// The entry point (`/ocs/v1.php` or `/ocs/v2.php`) and format of an OCS request, which decide
/// the shape of the answer.
#[derive(Clone, Copy, Debug)]
pub(super) struct Ocs {
    version: Version,
    format: Format,
}

impl Ocs {
    pub(super) fn of(uri: &Uri, headers: &HeaderMap) -> Self {
        let version = if uri.path().starts_with("/ocs/v1.php") {
            Version::V1
        } else {
            Version::V2
        };
        // OCSMiddleware: `format` parameter first, then the Accept header; XML by default.
        let format_param = uri.query().and_then(|query| {
            url::form_urlencoded::parse(query.as_bytes())
                .find(|(name, _)| name == "format")
                .map(|(_, value)| value.into_owned())
        });
        let accepts_json = headers
            .get(ACCEPT)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.to_ascii_lowercase().contains("application/json"));
        let format = match format_param.as_deref() {
            Some("json") => Format::Json,
            Some(_) => Format::Xml,
            None if accepts_json => Format::Json,
            None => Format::Xml,
        };
        Self { version, format }
    }

    pub(super) fn ok(&self, data: Value) -> Response {
        let statuscode = match self.version {
            Version::V1 => 100,
            Version::V2 => 200,
        };
        self.render(StatusCode::OK, statuscode, "OK", data)
    }

    /// An OCSException with `statuscode` (OCS code or HTTP status) and `message`.
    pub(super) fn fail(&self, statuscode: u16, message: &str) -> Response {
        let http = match self.version {
            // V1Response: HTTP 200 whatever happened, except for a failed login.
            Version::V1 if statuscode == UNAUTHORISED => StatusCode::UNAUTHORIZED,
            Version::V1 => StatusCode::OK,
            // V2Response: the OCS code mapped to an HTTP status.
            Version::V2 => match statuscode {
                UNAUTHORISED => StatusCode::UNAUTHORIZED,
                998 => StatusCode::NOT_FOUND,
                996 | 999 => StatusCode::INTERNAL_SERVER_ERROR,
                code if !(200..=600).contains(&code) => StatusCode::BAD_REQUEST,
                code => StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST),
            },
        };
        self.render(http, statuscode, message, json!([]))
    }

    fn render(&self, http: StatusCode, statuscode: u16, message: &str, data: Value) -> Response {
        let status = if http == StatusCode::OK && (statuscode == 100 || statuscode == 200) {
            "ok"
        } else {
            "failure"
        };
        match self.format {
            Format::Json => {
                let body = json!({
                    "ocs": {
                        "meta": { "status": status, "statuscode": statuscode, "message": message },
                        "data": data,
                    }
                });
                (http, Json(body)).into_response()
            }
            Format::Xml => {
                let mut xml = String::from("<?xml version=\"1.0\"?>\n<ocs>\n <meta>\n");
                write_xml(&mut xml, "status", &status.into(), 2);
                write_xml(&mut xml, "statuscode", &statuscode.into(), 2);
                write_xml(&mut xml, "message", &message.into(), 2);
                xml.push_str(" </meta>\n");
                write_xml(&mut xml, "data", &data, 1);
                xml.push_str("</ocs>\n");
                (
                    http,
                    [(CONTENT_TYPE, "application/xml; charset=utf-8")],
                    xml,
                )
                    .into_response()
            }
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Ocs {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Ocs::of(&parts.uri, &parts.headers))
    }
}

/// BaseResponse::toXML: list items are `<element>`, booleans "1" or empty.
fn write_xml(out: &mut String, name: &str, value: &Value, depth: usize) {
    let indent = " ".repeat(depth);
    let children: Vec<(String, &Value)> = match value {
        Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), v)).collect(),
        Value::Array(items) => items.iter().map(|v| ("element".to_owned(), v)).collect(),
        Value::Null => {
            out.push_str(&format!("{indent}<{name}/>\n"));
            return;
        }
        Value::Bool(b) => {
            let text = if *b { "1" } else { "" };
            out.push_str(&format!("{indent}<{name}>{text}</{name}>\n"));
            return;
        }
        Value::Number(n) => {
            out.push_str(&format!("{indent}<{name}>{n}</{name}>\n"));
            return;
        }
        Value::String(s) => {
            out.push_str(&format!("{indent}<{name}>{}</{name}>\n", escape_xml(s)));
            return;
        }
    };
    if children.is_empty() {
        out.push_str(&format!("{indent}<{name}/>\n"));
        return;
    }
    out.push_str(&format!("{indent}<{name}>\n"));
    for (child_name, child) in children {
        write_xml(out, &child_name, child, depth + 1);
    }
    out.push_str(&format!("{indent}</{name}>\n"));
}

fn escape_xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A request parameter as PHP parses it: `groups[]=a&groups[]=b` is a list, `groups=a` a string.
#[derive(Clone, Debug)]
enum Param {
    One(String),
    Many(Vec<String>),
}

/// The request's parameters, merged as Nextcloud's Request does: the query string, then the
/// body (form-urlencoded, or JSON when the content type says so) over it.
#[derive(Debug, Default)]
pub(super) struct Params(HashMap<String, Param>);

impl Params {
    /// A string argument; `Ok(None)` when absent.
    pub(super) fn string(&self, name: &str) -> Result<Option<String>, TypeError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(Param::One(value)) => Ok(Some(value.clone())),
            Some(Param::Many(_)) => Err(TypeError),
        }
    }

    /// A string argument that defaults to "" when absent.
    pub(super) fn string_or_empty(&self, name: &str) -> Result<String, TypeError> {
        Ok(self.string(name)?.unwrap_or_default())
    }

    /// An array argument; empty when absent.
    pub(super) fn list(&self, name: &str) -> Result<Vec<String>, TypeError> {
        match self.0.get(name) {
            None => Ok(Vec::new()),
            Some(Param::Many(values)) => Ok(values.clone()),
            Some(Param::One(_)) => Err(TypeError),
        }
    }

    fn merge_form(&mut self, form: &[u8]) {
        let mut parsed: HashMap<String, Param> = HashMap::new();
        for (key, value) in url::form_urlencoded::parse(form) {
            let value = value.into_owned();
            match key.find('[') {
                // `name[]` and `name[i]` build a PHP array.
                Some(open) if key.ends_with(']') => {
                    let entry = parsed
                        .entry(key[..open].to_owned())
                        .or_insert_with(|| Param::Many(Vec::new()));
                    match entry {
                        Param::Many(values) => values.push(value),
                        one => *one = Param::Many(vec![value]),
                    }
                }
                _ => {
                    parsed.insert(key.into_owned(), Param::One(value));
                }
            }
        }
        self.0.extend(parsed);
    }

    fn merge_json(&mut self, object: Map<String, Value>) {
        for (key, value) in object {
            let param = match value {
                Value::Null | Value::Object(_) => continue,
                Value::Array(items) => Param::Many(items.iter().filter_map(php_string).collect()),
                scalar => Param::One(php_string(&scalar).unwrap_or_default()),
            };
            self.0.insert(key, param);
        }
    }
}

/// PHP's string conversion of a JSON scalar.
fn php_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(true) => Some("1".to_owned()),
        Value::Bool(false) => Some(String::new()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = Response;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, 1 << 20)
            .await
            .map_err(|_| StatusCode::BAD_REQUEST.into_response())?;
        let mut params = Params::default();
        if let Some(query) = parts.uri.query() {
            params.merge_form(query.as_bytes());
        }
        let content_type = parts
            .headers
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        if content_type.contains("application/json") {
            // Nextcloud ignores a body that is not a JSON object.
            if let Ok(Value::Object(object)) = serde_json::from_slice(&body) {
                params.merge_json(object);
            }
        } else if content_type.contains("application/x-www-form-urlencoded") {
            params.merge_form(&body);
        }
        Ok(params)
    }
}
