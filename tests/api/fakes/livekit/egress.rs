//! Egress: StartRoomCompositeEgress to an MP4 file in S3, StopEgress, ListEgress. The file is
//! really written to the bucket the request names, with its credentials, when the egress ends.

use std::time::Duration;

use axum::response::{IntoResponse, Response};
use axum::Json;
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use serde_json::{json, Map, Value};

use super::twirp::{field, string_field, twirp_error};
use super::{new_id, now_ns, FakeEgress, LiveKit, S3Upload, WrittenFile};

pub(super) async fn handle(lk: &LiveKit, method: &str, request: &Value) -> Response {
    match method {
        "StartRoomCompositeEgress" => start(lk, request),
        "StopEgress" => stop(lk, request).await,
        _ => list(lk, request),
    }
}

/// The one file output a request asks for: `file_outputs[0]`, or the older `file`.
fn file_output(request: &Value) -> Option<&Value> {
    field(request, "file_outputs")
        .and_then(Value::as_array)
        .and_then(|outputs| outputs.first())
        .or_else(|| field(request, "file"))
}

fn start(lk: &LiveKit, request: &Value) -> Response {
    let room_name = string_field(request, "room_name");
    if room_name.is_empty() {
        return twirp_error("invalid_argument", "room name is required");
    }
    let Some(output) = file_output(request) else {
        return twirp_error("invalid_argument", "no outputs provided");
    };
    let file_type = string_field(output, "file_type");
    if !matches!(file_type.as_str(), "" | "DEFAULT_FILETYPE" | "MP4") {
        return twirp_error(
            "invalid_argument",
            "only MP4 files are recorded by this fake",
        );
    }
    let Some(s3) = field(output, "s3") else {
        return twirp_error(
            "invalid_argument",
            "only S3 uploads are supported by this fake",
        );
    };
    let upload = S3Upload {
        access_key: string_field(s3, "access_key"),
        secret: string_field(s3, "secret"),
        region: string_field(s3, "region"),
        endpoint: string_field(s3, "endpoint"),
        bucket: string_field(s3, "bucket"),
        force_path_style: field(s3, "force_path_style")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    };
    if upload.bucket.is_empty() {
        return twirp_error("invalid_argument", "s3 bucket is required");
    }
    let mut state = lk.lock();
    let Some(room) = state.rooms.get(&room_name) else {
        return twirp_error("not_found", "requested room does not exist");
    };
    let egress = FakeEgress {
        egress_id: new_id("EG_"),
        room_name: room_name.clone(),
        room_sid: room.sid.clone(),
        status: "EGRESS_ACTIVE".into(),
        error: String::new(),
        started_at: now_ns(),
        ended_at: 0,
        filepath: match string_field(output, "filepath") {
            path if path.is_empty() => format!("{room_name}-{}.mp4", now_ns()),
            path => path,
        },
        s3: upload,
        file: None,
    };
    state
        .egresses
        .insert(egress.egress_id.clone(), egress.clone());
    drop(state);
    // LiveKit answers EGRESS_STARTING; this fake's egress is active at once.
    let mut answer = egress_json(&egress);
    answer["status"] = "EGRESS_STARTING".into();
    Json(answer).into_response()
}

async fn stop(lk: &LiveKit, request: &Value) -> Response {
    let egress_id = string_field(request, "egress_id");
    let status = lk.lock().egresses.get(&egress_id).map(|e| e.status.clone());
    match status.as_deref() {
        None => return twirp_error("not_found", "egress not found"),
        Some("EGRESS_ACTIVE") => {}
        Some(other) => {
            return twirp_error(
                "failed_precondition",
                &format!("egress with status {other} cannot be stopped"),
            )
        }
    }
    // Answered as LiveKit does, ENDING; the upload and the webhook follow.
    let mut answer = {
        let mut state = lk.lock();
        let egress = state.egresses.get_mut(&egress_id).unwrap();
        egress.status = "EGRESS_ENDING".into();
        egress_json(egress)
    };
    answer["status"] = "EGRESS_ENDING".into();
    let lk = lk.clone();
    // The upload happens before the answer, so a test sees the file once StopEgress returns.
    finish(&lk, &egress_id).await;
    Json(answer).into_response()
}

/// Writes the file, marks the egress complete (or failed), and sends `egress_ended`.
pub(super) async fn finish(lk: &LiveKit, egress_id: &str) {
    let Some(egress) = lk.lock().egresses.get(egress_id).cloned() else {
        return;
    };
    let ended_at = now_ns();
    let duration = lk
        .lock()
        .recording_duration
        .map_or(ended_at - egress.started_at, |d| d.as_nanos() as i64);
    let result = upload(lk, &egress, &mp4(duration)).await;
    let finished = {
        let mut state = lk.lock();
        let stored = state.egresses.get_mut(egress_id).unwrap();
        stored.ended_at = ended_at;
        match result {
            Ok(written) => {
                stored.status = "EGRESS_COMPLETE".into();
                stored.file = Some(WrittenFile {
                    duration,
                    ..written
                });
            }
            Err(e) => {
                stored.status = "EGRESS_FAILED".into();
                stored.error = e;
            }
        }
        stored.clone()
    };
    lk.notify(super::webhooks::egress_event("egress_ended", &finished));
}

/// PUT the file to S3 as Egress's uploader does, signed with the request's credentials.
async fn upload(lk: &LiveKit, egress: &FakeEgress, bytes: &[u8]) -> Result<WrittenFile, String> {
    let s3 = &egress.s3;
    let endpoint = s3
        .endpoint
        .parse()
        .map_err(|e| format!("s3 endpoint {:?}: {e}", s3.endpoint))?;
    let style = if s3.force_path_style {
        UrlStyle::Path
    } else {
        UrlStyle::VirtualHost
    };
    let bucket = Bucket::new(endpoint, style, s3.bucket.clone(), s3.region.clone())
        .map_err(|e| format!("s3 bucket: {e}"))?;
    let credentials = Credentials::new(s3.access_key.clone(), s3.secret.clone());
    let url = bucket
        .put_object(Some(&credentials), &egress.filepath)
        .sign(Duration::from_secs(300));
    let response = lk
        .http
        .put(url)
        .header("Content-Type", "video/mp4")
        .body(bytes.to_vec())
        .send()
        .await
        .map_err(|e| format!("uploading to S3: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("S3 answered {}", response.status()));
    }
    Ok(WrittenFile {
        filename: egress.filepath.clone(),
        location: bucket
            .object_url(&egress.filepath)
            .map_err(|e| e.to_string())?
            .to_string(),
        duration: 0,
        size: bytes.len() as i64,
    })
}

/// A small file that starts as an MP4 does: an `ftyp` box (ISO/IEC 14496-12 §4.3), then an
/// `mdat` box whose payload says how long the recording was.
pub fn mp4(duration_ns: i64) -> Vec<u8> {
    let mut file = Vec::new();
    file.extend_from_slice(&24u32.to_be_bytes());
    file.extend_from_slice(b"ftypisom");
    file.extend_from_slice(&0x200u32.to_be_bytes());
    file.extend_from_slice(b"isommp41");
    let payload = format!("fake LiveKit recording, {duration_ns} ns").repeat(16);
    file.extend_from_slice(&(8 + payload.len() as u32).to_be_bytes());
    file.extend_from_slice(b"mdat");
    file.extend_from_slice(payload.as_bytes());
    file
}

fn list(lk: &LiveKit, request: &Value) -> Response {
    let room_name = string_field(request, "room_name");
    let egress_id = string_field(request, "egress_id");
    let active = field(request, "active")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let items: Vec<Value> = lk
        .lock()
        .egresses
        .values()
        .filter(|e| room_name.is_empty() || e.room_name == room_name)
        .filter(|e| egress_id.is_empty() || e.egress_id == egress_id)
        .filter(|e| !active || matches!(e.status.as_str(), "EGRESS_ACTIVE" | "EGRESS_ENDING"))
        .map(egress_json)
        .collect();
    Json(json!({ "items": items })).into_response()
}

/// `livekit.EgressInfo` as the server API answers it (proto names, defaults left out). The
/// request's S3 secret is never echoed, as LiveKit redacts it.
pub(super) fn egress_json(egress: &FakeEgress) -> Value {
    let mut json = Map::new();
    json.insert("egress_id".into(), egress.egress_id.clone().into());
    json.insert("room_id".into(), egress.room_sid.clone().into());
    json.insert("room_name".into(), egress.room_name.clone().into());
    json.insert("status".into(), egress.status.clone().into());
    json.insert("started_at".into(), egress.started_at.to_string().into());
    if egress.ended_at != 0 {
        json.insert("ended_at".into(), egress.ended_at.to_string().into());
    }
    if !egress.error.is_empty() {
        json.insert("error".into(), egress.error.clone().into());
    }
    if let Some(file) = &egress.file {
        json.insert(
            "file_results".into(),
            json!([{
                "filename": file.filename,
                "location": file.location,
                "started_at": egress.started_at.to_string(),
                "ended_at": egress.ended_at.to_string(),
                "duration": file.duration.to_string(),
                "size": file.size.to_string(),
            }]),
        );
    }
    Value::Object(json)
}
