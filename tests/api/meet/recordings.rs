//! Recording a room: the host starts and stops it, LiveKit's Egress (the fake) writes the MP4
//! into a real S3 server (moto), `egress_ended` completes it, the members download it with a
//! presigned link, and the ERP gets one `pm_room_bookings` row for it.

use std::time::Duration;

use serde_json::{json, Value};
use sqlx::{Connection, Executor, PgConnection, Row};

use super::{MeetApp, ROOMS};
use crate::support::moto_keys::{S3_ACCESS_KEY, S3_REGION, S3_SECRET_KEY};
use crate::support::{remember_secret, Backend, Moto, TestDb};

const BUCKET: &str = "meet-recordings";

async fn erp_with_bookings() -> Option<TestDb> {
    let db = TestDb::postgres().await?;
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    conn.execute(
        "CREATE SCHEMA project_management;
         CREATE TABLE project_management.pm_meeting_rooms (
             id UUID PRIMARY KEY, name TEXT NOT NULL, room_code TEXT NOT NULL,
             created_by UUID NOT NULL, company_id UUID NOT NULL,
             scheduled_start TIMESTAMPTZ, scheduled_end TIMESTAMPTZ, status TEXT NOT NULL);
         CREATE TABLE project_management.pm_room_bookings (
             booking_id SERIAL PRIMARY KEY,
             room_id UUID NOT NULL,
             recording_url TEXT,
             s3_path TEXT,
             duration_seconds INTEGER);",
    )
    .await
    .unwrap();
    Some(db)
}

/// Meet with recordings into a fresh moto, and the ERP's copy when `erp` is given.
async fn recording_app(erp: Option<&str>) -> Option<(MeetApp, Moto)> {
    let moto = Moto::start().await?;
    moto.create_bucket(BUCKET).await;
    remember_secret(S3_SECRET_KEY);
    let endpoint = moto.url().to_owned();
    let m = MeetApp::start_with(Backend::Postgres, |c| {
        c.set("meet.recordings.s3_endpoint", endpoint.as_str())
            .set("meet.recordings.s3_region", S3_REGION)
            .set("meet.recordings.s3_bucket", BUCKET)
            .set("meet.recordings.s3_access_key_env", "MEET_TEST_S3_KEY")
            .set("meet.recordings.s3_secret_key_env", "MEET_TEST_S3_SECRET")
            .set("meet.recordings.url_ttl_seconds", 600)
            .env("MEET_TEST_S3_KEY", S3_ACCESS_KEY)
            .env("MEET_TEST_S3_SECRET", S3_SECRET_KEY);
        if let Some(erp) = erp {
            c.set("erp_sync.url", erp);
        }
    })
    .await?;
    Some((m, moto))
}

/// The recordings of room `id` as `token`'s holder lists them.
async fn recordings(m: &MeetApp, token: &str, id: &str) -> Vec<Value> {
    let (status, list) = m
        .call(token, "GET", &format!("{ROOMS}/{id}/recordings"), None)
        .await;
    assert_eq!(status, 200, "{list:#}");
    list["recordings"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_host_records_a_meeting_that_members_download_and_the_erp_books() {
    let Some(erp) = erp_with_bookings().await else {
        return;
    };
    let Some((m, moto)) = recording_app(Some(&erp.url)).await else {
        return;
    };
    let endpoint = moto.url().to_owned();
    m.livekit
        .set_recording_duration(Duration::from_millis(90_400));
    let id = m.room(&m.alice, json!({"name": "Recorded"})).await;
    let start = format!("{ROOMS}/{id}/recording/start");
    let stop = format!("{ROOMS}/{id}/recording/stop");

    // Nobody in it yet: LiveKit has no room to record.
    let (status, body) = m.call(&m.alice, "POST", &start, None).await;
    assert_eq!(status, 409, "{body:#}");
    m.livekit
        .participant_joins(&id, m.bob_id(), "Bob")
        .await
        .expect("the first join makes the room");
    // Only the host records.
    let (status, _) = m.call(&m.bob, "POST", &start, None).await;
    assert_eq!(status, 403);
    let (status, _) = m.call(&m.bob, "POST", &stop, None).await;
    assert_eq!(status, 403);
    let (status, _) = m.call(&m.alice, "POST", &stop, None).await;
    assert_eq!(status, 409, "nothing to stop yet");

    let (status, started) = m.call(&m.alice, "POST", &start, None).await;
    assert_eq!(status, 201, "{started:#}");
    assert_eq!(started["status"], "recording");
    assert_eq!(started["room_id"], id.as_str());
    let (status, again) = m.call(&m.alice, "POST", &start, None).await;
    assert_eq!(status, 409, "{again:#}");
    let listed = recordings(&m, &m.bob, &id).await;
    assert_eq!(listed.len(), 1);
    assert!(listed[0].get("download_url").is_none());

    let (status, stopped) = m.call(&m.alice, "POST", &stop, None).await;
    assert_eq!(status, 200, "{stopped:#}");
    // LiveKit's `egress_ended` completes it.
    let mut listed = Vec::new();
    for _ in 0..400 {
        listed = recordings(&m, &m.bob, &id).await;
        if listed[0]["status"] != "recording" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let recording = &listed[0];
    assert_eq!(recording["status"], "complete", "{recording:#}");
    assert_eq!(recording["duration_seconds"], 90);
    let url = recording["download_url"].as_str().expect("a download link");
    assert!(recording["download_expires_at"].is_string());
    let key = format!("meet/{id}/");
    let stored_key = url::Url::parse(url).unwrap().path()[1 + BUCKET.len() + 1..].to_owned();
    assert!(stored_key.starts_with(&key), "{stored_key}");
    let stored = moto
        .object(BUCKET, &stored_key)
        .await
        .expect("the file is in S3");
    assert_eq!(recording["size_bytes"], stored.len());
    // The link alone downloads it.
    let downloaded = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(url)
        .send()
        .await
        .unwrap();
    assert!(downloaded.status().is_success(), "{}", downloaded.status());
    assert_eq!(downloaded.bytes().await.unwrap().to_vec(), stored);
    assert_eq!(&stored[4..8], b"ftyp", "an MP4");

    // A repeated `egress_ended` changes nothing; the ERP has one booking with the file.
    let egress_id = m.livekit_egress_of(&id).await;
    let delivery = m.livekit.send_egress_ended(&egress_id).await;
    assert_eq!(delivery.status, Some(200));
    let bookings = eventually_bookings(&erp.url, 1).await;
    let erp_room = bheem_sso::provisioning::erp_sync::erp_room_id(&id).to_string();
    assert_eq!(bookings[0].0, erp_room);
    assert_eq!(bookings[0].1, format!("{endpoint}/{BUCKET}/{stored_key}"));
    assert_eq!(bookings[0].2, stored_key);
    assert_eq!(bookings[0].3, Some(90));
    assert_eq!(recordings(&m, &m.alice, &id).await.len(), 1);
    // Starting and stopping a recording are in the audit trail, as the host's.
    let events = crate::audit::trail(
        &m.sso.h,
        &[
            "--kind",
            "meet_recording_started",
            "--kind",
            "meet_recording_stopped",
        ],
    )
    .await;
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["meet_recording_stopped", "meet_recording_started"]);
    for event in &events {
        assert_eq!(event["user_id"], m.alice_id());
        assert_eq!(event["detail"]["room"], id.as_str());
        assert_eq!(event["detail"]["recording"], started["recording_id"]);
    }
    // The other company sees none of it.
    let (status, _) = m
        .call(&m.eve, "GET", &format!("{ROOMS}/{id}/recordings"), None)
        .await;
    assert_eq!(status, 404);
}

/// Polls until the ERP has `n` bookings; (room id, URL, key, duration) each.
async fn eventually_bookings(url: &str, n: usize) -> Vec<(String, String, String, Option<i32>)> {
    let mut conn = PgConnection::connect(url).await.unwrap();
    let mut rows = Vec::new();
    for _ in 0..400 {
        rows = sqlx::query(
            "SELECT room_id::text AS room, recording_url, s3_path, duration_seconds \
             FROM project_management.pm_room_bookings ORDER BY booking_id",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r.get("room"),
                r.get("recording_url"),
                r.get("s3_path"),
                r.get("duration_seconds"),
            )
        })
        .collect::<Vec<_>>();
        if rows.len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(rows.len(), n, "{rows:?}");
    rows
}

#[tokio::test]
async fn without_recordings_configured_starting_one_says_so() {
    let Some(m) = MeetApp::start(Backend::Sqlite).await else {
        return;
    };
    let id = m.room(&m.alice, json!({"name": "Unrecorded"})).await;
    m.livekit
        .participant_joins(&id, m.bob_id(), "Bob")
        .await
        .unwrap();
    let (status, body) = m
        .call(
            &m.alice,
            "POST",
            &format!("{ROOMS}/{id}/recording/start"),
            None,
        )
        .await;
    assert_eq!(status, 409, "{body:#}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("[meet.recordings]"),
        "{body:#}"
    );
    assert_eq!(recordings(&m, &m.alice, &id).await, Vec::<Value>::new());
}

#[tokio::test]
async fn a_failed_egress_is_a_failed_recording_and_an_ended_room_records_nothing() {
    let Some((m, _moto)) = recording_app(None).await else {
        return;
    };
    let id = m.room(&m.alice, json!({"name": "Fragile"})).await;
    m.livekit
        .participant_joins(&id, m.bob_id(), "Bob")
        .await
        .unwrap();
    let start = format!("{ROOMS}/{id}/recording/start");
    let (status, started) = m.call(&m.alice, "POST", &start, None).await;
    assert_eq!(status, 201, "{started:#}");
    let egress = m.livekit_egress_of(&id).await;
    // LiveKit says the egress failed, signed as it signs.
    let body = json!({
        "event": "egress_ended",
        "id": "EV_failed",
        "createdAt": "1796634000",
        "egressInfo": {"egressId": egress, "roomName": id, "status": "EGRESS_FAILED",
                       "error": "upload refused by the bucket"},
    })
    .to_string();
    let signed = m.sign_webhook(super::API_KEY, super::API_SECRET, &body);
    let (status, answer) = m.post_webhook(&body, Some(&signed)).await;
    assert_eq!(status, 200, "{answer}");
    let listed = recordings(&m, &m.alice, &id).await;
    assert_eq!(listed[0]["status"], "failed", "{listed:#?}");
    assert_eq!(listed[0]["error"], "upload refused by the bucket");
    assert!(listed[0].get("download_url").is_none());

    // Ended, the room records nothing more.
    let (status, _) = m
        .call(&m.alice, "DELETE", &format!("{ROOMS}/{id}"), None)
        .await;
    assert_eq!(status, 200);
    let (status, body) = m.call(&m.alice, "POST", &start, None).await;
    assert_eq!(status, 409, "{body:#}");
    assert_eq!(recordings(&m, &m.alice, &id).await.len(), 1);
}
