//! The fake LiveKit held to LiveKit's wire format, with tokens and requests made by hand here (not
//! by the meet library): Twirp routes and errors, the server-API token and its grants, protojson
//! in and out, Egress writing to S3, and signed webhooks.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::fakes::livekit::FakeLiveKit;
use crate::support::moto_keys::{S3_ACCESS_KEY, S3_REGION, S3_SECRET_KEY};
use crate::support::Moto;

const KEY: &str = "APIfakeWire";
const SECRET: &str = "fake-wire-secret-0123456789abcdef";

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A server token as LiveKit's SDKs make one: HS256, `iss` the key, `nbf`/`exp`, `video`.
fn token(secret: &str, video: Value, exp: i64) -> String {
    crate::support::remember_secret(secret);
    let claims = json!({ "iss": KEY, "nbf": now() - 5, "exp": exp, "video": video });
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

async fn call(
    fake: &FakeLiveKit,
    method: &str,
    token: Option<String>,
    body: Value,
) -> (StatusCode, String) {
    let mut request = super::client()
        .post(format!("{}/twirp/livekit.{method}", fake.url()))
        .json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

fn twirp(body: &str) -> (String, String) {
    let json: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("Twirp JSON: {body}"));
    (
        json["code"].as_str().unwrap().to_owned(),
        json["msg"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn create_room_needs_room_create_and_answers_with_proto_names() {
    let fake = FakeLiveKit::start(KEY, SECRET).await;
    let create = json!({ "name": "bhm-wire", "emptyTimeout": 120 });

    let (status, body) = call(&fake, "RoomService/CreateRoom", None, create.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(twirp(&body).0, "unauthenticated");

    let list_only = token(SECRET, json!({ "roomList": true }), now() + 60);
    let (status, body) = call(
        &fake,
        "RoomService/CreateRoom",
        Some(list_only),
        create.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(twirp(&body).0, "unauthenticated");
    assert!(fake.rooms().is_empty());

    let creator = token(SECRET, json!({ "roomCreate": true }), now() + 60);
    let (status, body) = call(&fake, "RoomService/CreateRoom", Some(creator), create).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let room: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(room["name"], "bhm-wire");
    assert_eq!(room["empty_timeout"], 120, "camelCase in, proto names out");
    assert!(
        room["creation_time"].is_string(),
        "int64 as a string: {room}"
    );
    assert!(room.get("metadata").is_none(), "defaults left out");
    assert!(room["sid"].as_str().unwrap().starts_with("RM_"));
}

#[tokio::test]
async fn a_token_that_does_not_verify_is_refused_before_twirp() {
    let fake = FakeLiveKit::start(KEY, SECRET).await;
    let video = json!({ "roomList": true });
    for bad in [
        token("another-secret-0123456789abcdef", video.clone(), now() + 60),
        // Expired two minutes ago: past the minute of leeway.
        token(SECRET, video.clone(), now() - 120),
    ] {
        let (status, body) = call(&fake, "RoomService/ListRooms", Some(bad), json!({})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(
            serde_json::from_str::<Value>(&body).is_err(),
            "plain text: {body}"
        );
    }
    // Within the leeway it passes.
    let late = token(SECRET, video, now() - 30);
    let (status, body) = call(&fake, "RoomService/ListRooms", Some(late), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"rooms": []})
    );
}

#[tokio::test]
async fn list_participants_needs_room_admin_for_that_very_room() {
    let fake = FakeLiveKit::start(KEY, SECRET).await;
    let creator = token(SECRET, json!({ "roomCreate": true }), now() + 60);
    call(
        &fake,
        "RoomService/CreateRoom",
        Some(creator),
        json!({ "name": "bhm-a" }),
    )
    .await;
    fake.add_participant("bhm-a", "u1", "Una");

    let other_room = token(
        SECRET,
        json!({ "roomAdmin": true, "room": "bhm-b" }),
        now() + 60,
    );
    let (status, body) = call(
        &fake,
        "RoomService/ListParticipants",
        Some(other_room),
        json!({ "room": "bhm-a" }),
    )
    .await;
    assert_eq!(
        (status, twirp(&body).0.as_str()),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );

    let admin = token(
        SECRET,
        json!({ "roomAdmin": true, "room": "bhm-a" }),
        now() + 60,
    );
    let (status, body) = call(
        &fake,
        "RoomService/ListParticipants",
        Some(admin),
        json!({ "room": "bhm-a" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let list: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(list["participants"][0]["identity"], "u1");
}

#[tokio::test]
async fn twirp_routing_errors_are_twirps() {
    let fake = FakeLiveKit::start(KEY, SECRET).await;
    let all = token(
        SECRET,
        json!({ "roomCreate": true, "roomList": true, "roomRecord": true }),
        now() + 60,
    );
    let (status, body) = call(
        &fake,
        "RoomService/NoSuchMethod",
        Some(all.clone()),
        json!({}),
    )
    .await;
    assert_eq!(
        (status, twirp(&body).0.as_str()),
        (StatusCode::NOT_FOUND, "bad_route")
    );

    let response = super::client()
        .post(format!(
            "{}/twirp/livekit.RoomService/ListRooms",
            fake.url()
        ))
        .bearer_auth(&all)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(twirp(&response.text().await.unwrap()).0, "malformed");

    let response = super::client()
        .post(format!(
            "{}/twirp/livekit.RoomService/ListRooms",
            fake.url()
        ))
        .bearer_auth(&all)
        .header("Content-Type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(twirp(&response.text().await.unwrap()).0, "bad_route");

    let (status, body) = call(
        &fake,
        "RoomService/DeleteRoom",
        Some(all.clone()),
        json!({ "room": "nope" }),
    )
    .await;
    assert_eq!(
        (status, twirp(&body).0.as_str()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let (status, body) = call(
        &fake,
        "Egress/StartRoomCompositeEgress",
        Some(all),
        json!({ "room_name": "nope", "file_outputs": [{ "filepath": "x.mp4", "s3": { "bucket": "b" } }] }),
    )
    .await;
    assert_eq!(
        (status, twirp(&body).0.as_str()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    assert_eq!(
        fake.requests().len(),
        5,
        "every request reached the fake: {:?}",
        fake.requests()
    );
}

/// A webhook receiver keeping the `Authorization` header and the raw body.
type Got = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

async fn sink() -> (String, Got) {
    let got: Got = Arc::default();
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(
                |State(got): State<Got>, headers: HeaderMap, body: Bytes| async move {
                    got.lock().unwrap().push((headers, body));
                },
            ),
        )
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

/// Checks a webhook as LiveKit's SDKs' `WebhookReceiver` does, written out here.
fn verify_webhook(headers: &HeaderMap, body: &[u8]) -> Value {
    use base64::Engine;
    use sha2::Digest;
    let auth = headers["authorization"].to_str().unwrap();
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&[KEY]);
    validation.validate_aud = false;
    let claims = jsonwebtoken::decode::<Value>(
        auth,
        &DecodingKey::from_secret(SECRET.as_bytes()),
        &validation,
    )
    .expect("signed with the API secret by the API key")
    .claims;
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(body));
    assert_eq!(claims["sha256"], hash, "the body's hash is signed");
    assert!(claims["exp"].as_i64().unwrap() - claims["nbf"].as_i64().unwrap() == 300);
    serde_json::from_slice(body).unwrap()
}

#[tokio::test]
async fn egress_uploads_an_mp4_to_s3_and_webhooks_are_signed_over_the_body() {
    let Some(moto) = Moto::start().await else {
        return;
    };
    moto.create_bucket("wire-recordings").await;
    let fake = FakeLiveKit::start(KEY, SECRET).await;
    let (url, got) = sink().await;
    fake.set_webhook_url(&url);
    let creator = token(SECRET, json!({ "roomCreate": true }), now() + 60);
    call(
        &fake,
        "RoomService/CreateRoom",
        Some(creator.clone()),
        json!({ "name": "bhm-rec" }),
    )
    .await;

    let recorder = token(SECRET, json!({ "roomRecord": true }), now() + 60);
    let start = json!({
        "room_name": "bhm-rec",
        "layout": "grid",
        "file_outputs": [{
            "file_type": "MP4",
            "filepath": "meet/bhm-rec/1.mp4",
            "s3": {
                "access_key": S3_ACCESS_KEY, "secret": S3_SECRET_KEY, "region": S3_REGION,
                "endpoint": moto.url(), "bucket": "wire-recordings", "force_path_style": true,
            },
        }],
    });
    let (status, body) = call(
        &fake,
        "Egress/StartRoomCompositeEgress",
        Some(creator),
        start.clone(),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "roomCreate is not roomRecord: {body}"
    );
    let (status, body) = call(
        &fake,
        "Egress/StartRoomCompositeEgress",
        Some(recorder.clone()),
        start,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let info: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(info["status"], "EGRESS_STARTING");
    assert!(!body.contains(S3_SECRET_KEY), "the S3 secret is not echoed");
    let egress_id = info["egress_id"].as_str().unwrap().to_owned();
    assert!(moto
        .object("wire-recordings", "meet/bhm-rec/1.mp4")
        .await
        .is_none());

    let (status, body) = call(
        &fake,
        "Egress/StopEgress",
        Some(recorder.clone()),
        json!({ "egressId": egress_id }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["status"],
        "EGRESS_ENDING"
    );
    let file = moto
        .object("wire-recordings", "meet/bhm-rec/1.mp4")
        .await
        .expect("written to S3");
    assert_eq!(&file[4..12], b"ftypisom");

    let (_, body) = call(
        &fake,
        "Egress/ListEgress",
        Some(recorder),
        json!({ "room_name": "bhm-rec" }),
    )
    .await;
    let list: Value = serde_json::from_str(&body).unwrap();
    let result = &list["items"][0]["file_results"][0];
    assert_eq!(result["filename"], "meet/bhm-rec/1.mp4");
    assert_eq!(result["size"], file.len().to_string(), "int64 as a string");
    assert!(result["duration"].is_string());

    let deliveries = fake.wait_for_deliveries(2).await;
    assert_eq!(
        deliveries
            .iter()
            .map(|d| d.event.as_str())
            .collect::<Vec<_>>(),
        ["room_started", "egress_ended"]
    );
    let got = got.lock().unwrap().clone();
    for ((headers, body), delivery) in got.iter().zip(&deliveries) {
        assert_eq!(headers["content-type"], "application/webhook+json");
        assert_eq!(body.to_vec(), delivery.body);
        verify_webhook(headers, body);
    }
    let ended = verify_webhook(&got[1].0, &got[1].1);
    assert_eq!(ended["egressInfo"]["status"], "EGRESS_COMPLETE");
    assert_eq!(
        ended["egressInfo"]["fileResults"][0]["size"],
        file.len().to_string()
    );
    assert!(ended["createdAt"].is_string());
}
