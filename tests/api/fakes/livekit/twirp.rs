//! The Twirp endpoints: routing, the token check, and RoomService.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{json, Map, Value};

use super::{egress, new_id, FakeRoom, LiveKit};
use crate::fakes::Fault;

/// A Twirp error: `{"code","msg"}` with the code's HTTP status (twirp `errors.go`).
pub(super) fn twirp_error(code: &str, msg: &str) -> Response {
    let status = match code {
        "canceled" | "deadline_exceeded" => StatusCode::REQUEST_TIMEOUT,
        "invalid_argument" | "malformed" | "out_of_range" => StatusCode::BAD_REQUEST,
        "not_found" | "bad_route" => StatusCode::NOT_FOUND,
        "already_exists" | "aborted" => StatusCode::CONFLICT,
        "permission_denied" => StatusCode::FORBIDDEN,
        "unauthenticated" => StatusCode::UNAUTHORIZED,
        "resource_exhausted" => StatusCode::TOO_MANY_REQUESTS,
        "failed_precondition" => StatusCode::PRECONDITION_FAILED,
        "unimplemented" => StatusCode::NOT_IMPLEMENTED,
        "unavailable" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (status, Json(json!({ "code": code, "msg": msg }))).into_response()
}

pub(super) async fn bad_route() -> Response {
    twirp_error("bad_route", "no handler for path")
}

/// The grants of a verified token, as the middleware hands them on.
#[derive(Debug, Default)]
pub(super) struct Grants {
    room_create: bool,
    room_list: bool,
    room_admin: bool,
    room_record: bool,
    room: String,
    /// The whole `video` claim, for tests to inspect.
    video: Value,
}

/// LiveKit's `APIKeyAuthMiddleware`: no header, no grants (each method then refuses); a header
/// that does not verify: `Err(why)`, answered with HTTP 401 in plain text before Twirp sees the
/// request.
fn authenticate(lk: &LiveKit, headers: &HeaderMap) -> Result<Grants, String> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Ok(Grants::default());
    };
    let refuse = |why: &str| why.to_owned();
    let value = value.to_str().unwrap_or_default();
    let Some(token) = value.strip_prefix("Bearer ") else {
        return Err(refuse(
            "invalid authorization header. Must start with Bearer",
        ));
    };
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 60;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp", "iss"]);
    validation.set_issuer(&[&lk.api_key]);
    let secret = if lk.faults.get() == Fault::RejectCredentials {
        // As if the secret had been rotated on the server.
        format!("{}-rotated", lk.api_secret)
    } else {
        lk.api_secret.clone()
    };
    let claims = match jsonwebtoken::decode::<Value>(
        token,
        &DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    ) {
        Ok(data) => data.claims,
        Err(e) => return Err(refuse(&format!("invalid token: {:?}", e.kind()))),
    };
    let video = &claims["video"];
    let flag = |name: &str| video[name].as_bool().unwrap_or(false);
    Ok(Grants {
        room_create: flag("roomCreate"),
        room_list: flag("roomList"),
        room_admin: flag("roomAdmin"),
        room_record: flag("roomRecord"),
        room: video["room"].as_str().unwrap_or_default().to_owned(),
        video: video.clone(),
    })
}

/// A field of a protojson request under its proto name or its camelCase JSON name.
pub(super) fn field<'a>(request: &'a Value, proto_name: &str) -> Option<&'a Value> {
    request.get(proto_name).or_else(|| {
        let mut camel = String::new();
        let mut upper = false;
        for c in proto_name.chars() {
            if c == '_' {
                upper = true;
            } else if upper {
                camel.push(c.to_ascii_uppercase());
                upper = false;
            } else {
                camel.push(c);
            }
        }
        request.get(&camel)
    })
}

pub(super) fn string_field(request: &Value, proto_name: &str) -> String {
    field(request, proto_name)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn u32_field(request: &Value, proto_name: &str) -> u32 {
    field(request, proto_name)
        .and_then(Value::as_u64)
        .map_or(0, |n| n as u32)
}

fn permission_denied() -> Response {
    // livekit-server `twirpAuthError(ErrPermissionDenied)`.
    twirp_error("unauthenticated", "permissions denied")
}

pub(super) async fn handle(
    State(lk): State<LiveKit>,
    Path((service, method)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Twirp routes on the content type first: JSON here (protobuf is not spoken by this fake).
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type.starts_with("application/json") {
        return twirp_error(
            "bad_route",
            &format!("unexpected Content-Type: {content_type:?}"),
        );
    }
    let grants = match authenticate(&lk, &headers) {
        Ok(grants) => grants,
        Err(why) => return (StatusCode::UNAUTHORIZED, format!("{why}\n")).into_response(),
    };
    if !grants.video.is_null() {
        let method = format!("{}/{method}", service.trim_start_matches("livekit."));
        lk.lock().grants_seen.push((method, grants.video.clone()));
    }
    let request: Value = match serde_json::from_slice(&body) {
        Ok(Value::Object(map)) => Value::Object(map),
        Ok(_) | Err(_) => return twirp_error("malformed", "the json request could not be decoded"),
    };
    match (service.as_str(), method.as_str()) {
        ("livekit.RoomService", "CreateRoom") if grants.room_create => create_room(&lk, &request),
        ("livekit.RoomService", "DeleteRoom") if grants.room_create => delete_room(&lk, &request),
        ("livekit.RoomService", "ListRooms") if grants.room_list => list_rooms(&lk, &request),
        ("livekit.RoomService", "ListParticipants")
            if grants.room_admin && grants.room == string_field(&request, "room") =>
        {
            list_participants(&lk, &request)
        }
        ("livekit.RoomService", "CreateRoom" | "DeleteRoom" | "ListRooms" | "ListParticipants") => {
            permission_denied()
        }
        ("livekit.Egress", method @ ("StartRoomCompositeEgress" | "StopEgress" | "ListEgress")) => {
            if !grants.room_record {
                return permission_denied();
            }
            egress::handle(&lk, method, &request).await
        }
        _ => twirp_error(
            "bad_route",
            &format!("no handler for path \"/twirp/{service}/{method}\""),
        ),
    }
}

/// `livekit.Room` as the server API answers it: proto names, defaults left out, int64 as text.
pub(super) fn room_json(room: &FakeRoom) -> Value {
    let mut json = Map::new();
    json.insert("sid".into(), room.sid.clone().into());
    json.insert("name".into(), room.name.clone().into());
    if room.empty_timeout != 0 {
        json.insert("empty_timeout".into(), room.empty_timeout.into());
    }
    if room.max_participants != 0 {
        json.insert("max_participants".into(), room.max_participants.into());
    }
    json.insert(
        "creation_time".into(),
        room.creation_time.to_string().into(),
    );
    if !room.metadata.is_empty() {
        json.insert("metadata".into(), room.metadata.clone().into());
    }
    if !room.participants.is_empty() {
        json.insert("num_participants".into(), room.participants.len().into());
    }
    Value::Object(json)
}

/// CreateRoom answers the existing room of that name unchanged, or makes it.
fn create_room(lk: &LiveKit, request: &Value) -> Response {
    let name = string_field(request, "name");
    if name.is_empty() {
        return twirp_error("invalid_argument", "room name is required");
    }
    let (room, new) = {
        let mut state = lk.lock();
        if let Some(room) = state.rooms.get(&name) {
            (room.clone(), false)
        } else {
            let room = FakeRoom {
                sid: new_id("RM_"),
                name: name.clone(),
                empty_timeout: u32_field(request, "empty_timeout"),
                max_participants: u32_field(request, "max_participants"),
                metadata: string_field(request, "metadata"),
                creation_time: super::now_ns() / 1_000_000_000,
                participants: Vec::new(),
            };
            state.rooms.insert(name, room.clone());
            (room, true)
        }
    };
    if new {
        lk.notify(super::webhooks::room_event("room_started", &room));
    }
    Json(room_json(&room)).into_response()
}

fn delete_room(lk: &LiveKit, request: &Value) -> Response {
    let name = string_field(request, "room");
    lk.lock().deleted.push(name.clone());
    let Some(room) = lk.lock().rooms.remove(&name) else {
        return twirp_error("not_found", "requested room does not exist");
    };
    // The room's egresses end with it.
    let active: Vec<String> = lk
        .lock()
        .egresses
        .values()
        .filter(|e| e.room_name == name && e.status == "EGRESS_ACTIVE")
        .map(|e| e.egress_id.clone())
        .collect();
    let lk_for_egress = lk.clone();
    tokio::spawn(async move {
        for egress_id in active {
            egress::finish(&lk_for_egress, &egress_id).await;
        }
    });
    lk.notify(super::webhooks::room_event("room_finished", &room));
    Json(json!({})).into_response()
}

fn list_rooms(lk: &LiveKit, request: &Value) -> Response {
    let names: Vec<String> = field(request, "names")
        .and_then(Value::as_array)
        .map(|names| {
            names
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let rooms: Vec<Value> = lk
        .lock()
        .rooms
        .values()
        .filter(|room| names.is_empty() || names.contains(&room.name))
        .map(room_json)
        .collect();
    Json(json!({ "rooms": rooms })).into_response()
}

fn list_participants(lk: &LiveKit, request: &Value) -> Response {
    let name = string_field(request, "room");
    let Some(room) = lk.lock().rooms.get(&name).cloned() else {
        return twirp_error("not_found", "requested room does not exist");
    };
    let participants: Vec<Value> = room
        .participants
        .iter()
        .map(|(identity, name)| {
            json!({ "sid": format!("PA_{identity}"), "identity": identity, "name": name,
                    "state": "ACTIVE" })
        })
        .collect();
    Json(json!({ "participants": participants })).into_response()
}
