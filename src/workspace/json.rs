//! `ValidJson<T>`: a JSON request body, or an [`ApiError`] that says what is wrong with it and
//! where: a missing or mistyped field is named as the client wrote it (`participants[2]`,
//! `schedule.duration_minutes`), so the message can be shown beside that field.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// The request body parsed as `T`. The body limit of the workspace routes applies (413).
#[derive(Debug, Clone, Copy, Default)]
pub struct ValidJson<T>(pub T);

impl<T, S> FromRequest<S> for ValidJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(request.headers()) {
            return Err(ApiError::MalformedBody(
                "send the body as JSON, with Content-Type: application/json".into(),
            ));
        }
        let body =
            Bytes::from_request(request, state)
                .await
                .map_err(|rejection| match rejection.status() {
                    StatusCode::PAYLOAD_TOO_LARGE => ApiError::BodyTooLarge,
                    _ => ApiError::MalformedBody("the request body could not be read".into()),
                })?;
        parse(&body).map(ValidJson)
    }
}

/// `application/json`, or a `+json` type (RFC 6839 §3.1), with any parameters.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json") || subtype.to_ascii_lowercase().ends_with("+json"))
}

/// Parses `body` as a `T`, naming the field that is wrong.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_data() {
            data_error(&path, &inner)
        } else {
            ApiError::MalformedBody(format!("the body is not valid JSON: {}", message(&inner)))
        }
    })?;
    // Trailing characters after the value: not one JSON document.
    deserializer.end().map_err(|inner| {
        ApiError::MalformedBody(format!("the body is not valid JSON: {}", message(&inner)))
    })?;
    Ok(value)
}

/// A value of the wrong kind, or a missing field. serde reports a missing field at the object
/// that lacks it, so its name is taken from the message and put at the end of the path.
fn data_error(path: &str, inner: &serde_json::Error) -> ApiError {
    let message = message(inner);
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'));
    let field = match (missing, path) {
        (Some(name), ".") => name.to_owned(),
        (Some(name), parent) => format!("{parent}.{name}"),
        // The whole body is of the wrong kind (an array where an object belongs).
        (None, ".") => "body".to_owned(),
        (None, path) => path.to_owned(),
    };
    ApiError::Invalid { field, message }
}

/// serde_json's message without the position it appends (" at line 1 column 17").
fn message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rsplit_once(" at line ") {
        Some((message, _)) => message.to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Room {
        name: String,
        duration_minutes: Option<u32>,
        participants: Option<Vec<String>>,
        schedule: Option<Schedule>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Schedule {
        start: String,
    }

    fn field_of(body: &str) -> (String, String) {
        match parse::<Room>(body.as_bytes()) {
            Err(ApiError::Invalid { field, message }) => (field, message),
            other => panic!("not an invalid field: {other:?}"),
        }
    }

    #[test]
    fn a_missing_or_mistyped_field_is_named_where_it_is() {
        assert_eq!(
            field_of("{}"),
            ("name".into(), "missing field `name`".into())
        );
        let (field, message) = field_of(r#"{"name": 5}"#);
        assert_eq!(field, "name");
        assert!(
            message.starts_with("invalid type: integer `5`"),
            "{message}"
        );
        assert_eq!(
            field_of(r#"{"name": "a", "duration_minutes": -5}"#).0,
            "duration_minutes"
        );
        assert_eq!(
            field_of(r#"{"name": "a", "participants": ["x@y.z", 3]}"#).0,
            "participants[1]"
        );
        assert_eq!(
            field_of(r#"{"name": "a", "schedule": {}}"#).0,
            "schedule.start"
        );
        assert_eq!(field_of("\"a room\"").0, "body");
    }

    #[test]
    fn a_body_that_is_not_json_is_malformed() {
        for body in ["", "{", "name=a", r#"{"name": "a"} {}"#] {
            assert!(
                matches!(
                    parse::<Room>(body.as_bytes()),
                    Err(ApiError::MalformedBody(_))
                ),
                "{body:?}"
            );
        }
        assert!(parse::<Room>(br#"{"name": "a"}"#).is_ok());
    }

    #[test]
    fn json_content_types_are_recognised() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, value.parse().unwrap());
            is_json(&headers)
        };
        assert!(with("application/json"));
        assert!(with("Application/JSON; charset=utf-8"));
        assert!(with("application/merge-patch+json"));
        assert!(!with("text/plain"));
        assert!(!with("application/x-www-form-urlencoded"));
        assert!(!is_json(&HeaderMap::new()));
    }
}
