//! Events with a meeting and attendees: a Meet room as the Meet API makes one, its link in the
//! event, invitations (iMIP REQUEST/CANCEL) queued in the outbox, the room changed and
//! cancelled with the event, and a LiveKit that is down retried through the outbox without
//! losing the event.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sqlx::Row;

use super::zones::read_with_python;
use super::{CalendarApp, EVENTS};
use crate::fakes::livekit::FakeLiveKit;
use crate::on_both_backends;
use crate::support::{remember_secret, Backend, TestConfig, ACME};

const API_KEY: &str = "APIbheemCalendarTest";
const API_SECRET: &str = "calendar-livekit-secret-0123456789abcdef";
const JOIN: &str = "https://meet.acme.example/join/";

on_both_backends!(a_meeting_is_a_room_with_the_link_in_the_event_and_invitations_queued);
on_both_backends!(changing_and_deleting_the_event_changes_and_cancels_room_and_invitations);
on_both_backends!(a_livekit_that_is_down_leaves_the_cancellation_to_the_outbox);
on_both_backends!(without_meet_a_meeting_is_refused_and_nothing_is_written);
on_both_backends!(an_event_naming_another_hosts_room_can_neither_change_nor_end_it);
on_both_backends!(the_organizer_is_the_mailbox_the_invitations_are_sent_from);

/// The calendar with `[meet]` on a fake LiveKit, and an outbox that retries quickly.
pub(super) async fn start(backend: Backend) -> Option<(CalendarApp, FakeLiveKit)> {
    remember_secret(API_SECRET);
    let livekit = FakeLiveKit::start(API_KEY, API_SECRET).await;
    let url = livekit.url();
    let app = CalendarApp::start_with(backend, move |c: &mut TestConfig| {
        c.set("meet.livekit_url", url.as_str())
            .set("meet.ws_url", "wss://livekit.acme.example")
            .set("meet.api_key", API_KEY)
            .set("meet.api_secret", API_SECRET)
            .set("meet.join_url_base", JOIN)
            .set("meet.request_timeout_seconds", 2)
            .set("outbox.poll_interval_ms", 50)
            .set("outbox.retry_base_seconds", 1)
            .set("outbox.retry_max_seconds", 1)
            .set("outbox.max_attempts", 1000)
            .set("outbox.request_timeout_seconds", 2);
    })
    .await?;
    Some((app, livekit))
}

/// A queued job of `kind`, as its row holds it.
struct Queued {
    dedupe_key: String,
    payload: Value,
}

async fn queued(c: &CalendarApp, kind: &str) -> Vec<Queued> {
    let rows =
        sqlx::query("SELECT dedupe_key, payload FROM outbox WHERE kind = $1 ORDER BY dedupe_key")
            .bind(kind.to_owned())
            .fetch_all(c.api.state.db.pool())
            .await
            .unwrap();
    rows.iter()
        .map(|row| Queued {
            dedupe_key: row.try_get("dedupe_key").unwrap(),
            payload: serde_json::from_str(&row.try_get::<String, _>("payload").unwrap()).unwrap(),
        })
        .collect()
}

async fn invitation(c: &CalendarApp, method: &str, sequence: i64) -> Value {
    let all = queued(c, "calendar_invitation").await;
    let found = all
        .iter()
        .find(|q| q.payload["method"] == method && q.payload["sequence"] == sequence)
        .unwrap_or_else(|| {
            panic!(
                "no {method} {sequence}: {:?}",
                all.iter().map(|q| &q.dedupe_key).collect::<Vec<_>>()
            )
        });
    found.payload.clone()
}

pub(super) async fn room(c: &CalendarApp, token: &str, id: &str) -> (u16, Value) {
    c.call(token, "GET", &format!("/api/v1/meet/rooms/{id}"), None)
        .await
}

async fn a_meeting_is_a_room_with_the_link_in_the_event_and_invitations_queued(backend: Backend) {
    let Some((c, _livekit)) = start(backend).await else {
        return;
    };
    let event = c
        .create(
            &c.alice,
            json!({"title": "Kick-off", "start": "2025-12-02T09:00", "end": "2025-12-02T10:30",
                   "timezone": "Asia/Kolkata", "location": "Room 4", "description": "Bring ideas.",
                   "attendees": ["bob@acme.example", "eve@globex.example", "carol@outside.example"],
                   "create_meeting": true}),
        )
        .await;
    let meeting = &event["meeting"];
    let room_id = meeting["room_id"].as_str().expect("a room").to_owned();
    assert_eq!(meeting["join_url"], format!("{JOIN}{room_id}"));
    // The API shows what the organizer wrote; the stored event carries the link three ways.
    assert_eq!(event["location"], "Room 4");
    assert_eq!(event["description"], "Bring ideas.");
    assert!(event.get("pending").is_none(), "{event:#}");
    let stored = &c.stored("alice")[0].1;
    let unfolded = stored.replace("\r\n ", "");
    assert!(
        unfolded.contains(&format!("LOCATION:Room 4 ({JOIN}{room_id})")),
        "{stored}"
    );
    assert!(
        unfolded.contains(&format!("Join the meeting: {JOIN}{room_id}")),
        "{stored}"
    );
    assert!(
        unfolded.contains(&format!(":{JOIN}{room_id}")) && unfolded.contains("CONFERENCE;"),
        "{stored}"
    );
    assert!(unfolded.contains("SCHEDULE-AGENT=CLIENT"), "{stored}");

    // The room, as the Meet API shows it: alice hosts, at the event's time, for its length,
    // with the attendees of her company only.
    let (status, the_room) = room(&c, &c.alice, &room_id).await;
    assert_eq!(status, 200, "{the_room:#}");
    assert_eq!(the_room["name"], "Kick-off");
    assert_eq!(the_room["scheduled_time"], "2025-12-02T03:30:00Z");
    assert_eq!(the_room["duration_minutes"], 90);
    assert_eq!(the_room["participants"], json!(["bob@acme.example"]));
    let (_, listed) = c.call(&c.bob, "GET", "/api/v1/meet/rooms", None).await;
    assert!(
        listed["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["room_id"] == room_id.as_str()),
        "{listed:#}"
    );
    let (status, _) = room(&c, &c.eve, &room_id).await;
    assert_eq!(status, 404, "another company's attendee is no participant");

    // One REQUEST to every attendee, external ones included, as alice.
    let request = invitation(&c, "REQUEST", 0).await;
    assert_eq!(
        request["recipients"],
        json!([
            "bob@acme.example",
            "eve@globex.example",
            "carol@outside.example"
        ])
    );
    assert_eq!(request["event_uid"], event["uid"]);
    assert!(request["subject"].as_str().unwrap().contains("Kick-off"));
    let ics = request["ics"].as_str().unwrap();
    assert!(!ics.contains("SCHEDULE-AGENT"), "{ics}");
    if let Some(read) = read_with_python(ics, &["2025-12-02T09:00:00"]) {
        assert_eq!(read["method"], "REQUEST");
        let e = &read["events"][0];
        assert_eq!(e["uid"], event["uid"]);
        assert_eq!(e["sequence"], 0);
        assert_eq!(e["start_utc"], "2025-12-02T03:30:00+00:00");
        assert_eq!(e["organizer"], "mailto:alice@acme.example");
        assert_eq!(e["conference"], format!("{JOIN}{room_id}"));
        let attendees = e["attendees"].as_array().unwrap();
        assert_eq!(attendees.len(), 3);
        for a in attendees {
            assert_eq!(a["params"]["PARTSTAT"], "NEEDS-ACTION", "{a}");
            assert_eq!(a["params"]["RSVP"], "TRUE", "{a}");
        }
        assert_eq!(read["zones"]["Asia/Kolkata"], json!([19800]));
    }

    // `create_meeting: false` takes the meeting off: the room is over, the link gone.
    let (status, off) = c
        .call_on(
            &c.api.base,
            &c.alice,
            "PUT",
            &format!("{EVENTS}/{}", event["event_id"].as_str().unwrap()),
            Some(
                &json!({"title": "Kick-off", "start": "2025-12-02T09:00", "end": "2025-12-02T10:30",
                         "timezone": "Asia/Kolkata", "location": "Room 4",
                         "attendees": ["bob@acme.example"], "create_meeting": false}),
            ),
            &[("if-match", event["etag"].as_str().unwrap())],
        )
        .await;
    assert_eq!(status, 200, "{off:#}");
    assert_eq!(off["meeting"], Value::Null);
    assert_eq!(off["location"], "Room 4");
    let (_, ended) = room(&c, &c.alice, &room_id).await;
    assert_eq!(ended["status"], "completed");
    assert!(!c.stored("alice")[0].1.contains("CONFERENCE"));
    // Those taken off get a CANCEL, bob the REQUEST of the change.
    assert_eq!(
        invitation(&c, "CANCEL", 1).await["recipients"],
        json!(["carol@outside.example", "eve@globex.example"])
    );
    assert_eq!(
        invitation(&c, "REQUEST", 1).await["recipients"],
        json!(["bob@acme.example"])
    );
}

async fn changing_and_deleting_the_event_changes_and_cancels_room_and_invitations(
    backend: Backend,
) {
    let Some((c, livekit)) = start(backend).await else {
        return;
    };
    let event = c
        .create(
            &c.alice,
            json!({"title": "Review", "start": "2025-12-02T10:00:00Z", "end": "2025-12-02T11:00:00Z",
                   "attendees": ["bob@acme.example", "carol@outside.example"], "create_meeting": true}),
        )
        .await;
    let id = event["event_id"].as_str().unwrap();
    let room_id = event["meeting"]["room_id"].as_str().unwrap().to_owned();
    // Moved an hour on, carol taken off, the meeting kept (create_meeting left out).
    let (status, changed) = c
        .call_on(
            &c.api.base,
            &c.alice,
            "PUT",
            &format!("{EVENTS}/{id}"),
            Some(
                &json!({"title": "Review (moved)", "start": "2025-12-02T11:00:00Z",
                         "end": "2025-12-02T12:30:00Z", "attendees": ["bob@acme.example"]}),
            ),
            &[("if-match", event["etag"].as_str().unwrap())],
        )
        .await;
    assert_eq!(status, 200, "{changed:#}");
    assert_eq!(changed["meeting"]["room_id"], room_id.as_str());
    let (_, room_now) = room(&c, &c.alice, &room_id).await;
    assert_eq!(room_now["name"], "Review (moved)");
    assert_eq!(room_now["scheduled_time"], "2025-12-02T11:00:00Z");
    assert_eq!(room_now["duration_minutes"], 90);
    let update = invitation(&c, "REQUEST", 1).await;
    assert_eq!(update["recipients"], json!(["bob@acme.example"]));
    assert!(update["ics"].as_str().unwrap().contains("SEQUENCE:1"));
    let removed = invitation(&c, "CANCEL", 1).await;
    assert_eq!(removed["recipients"], json!(["carol@outside.example"]));
    if let Some(read) = read_with_python(removed["ics"].as_str().unwrap(), &[]) {
        assert_eq!(read["method"], "CANCEL");
        assert_eq!(read["events"][0]["status"], "CANCELLED");
        assert_eq!(read["events"][0]["organizer"], "mailto:alice@acme.example");
    }

    // Deleted: everyone left gets a CANCEL with the next SEQUENCE; the room is over.
    let (status, _) = c
        .call(&c.alice, "DELETE", &format!("{EVENTS}/{id}"), None)
        .await;
    assert_eq!(status, 204);
    let cancel = invitation(&c, "CANCEL", 2).await;
    assert_eq!(cancel["recipients"], json!(["bob@acme.example"]));
    let (_, ended) = room(&c, &c.alice, &room_id).await;
    assert_eq!(ended["status"], "completed");
    assert!(livekit.deleted_rooms().contains(&room_id));
    assert!(c.stored("alice").is_empty());
}

async fn a_livekit_that_is_down_leaves_the_cancellation_to_the_outbox(backend: Backend) {
    let Some((c, livekit)) = start(backend).await else {
        return;
    };
    let event = c
        .create(
            &c.alice,
            json!({"title": "Sync", "start": "2025-12-02T10:00:00Z", "end": "2025-12-02T11:00:00Z",
                   "create_meeting": true}),
        )
        .await;
    let id = event["event_id"].as_str().unwrap();
    let room_id = event["meeting"]["room_id"].as_str().unwrap().to_owned();
    livekit.stop().await;
    let (status, answer) = c
        .call(&c.alice, "DELETE", &format!("{EVENTS}/{id}"), None)
        .await;
    assert_eq!(status, 202, "{answer:#}");
    assert_eq!(answer["pending"], json!(["meeting"]));
    // The event is gone all the same, and nobody can join its room any more.
    assert!(c.stored("alice").is_empty());
    let (_, ended) = room(&c, &c.alice, &room_id).await;
    assert_eq!(ended["status"], "completed");
    assert_eq!(queued(&c, "calendar_meeting").await.len(), 1);
    // Once LiveKit is back, the outbox closes the room there.
    livekit.restart().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !livekit.deleted_rooms().contains(&room_id) {
        assert!(
            Instant::now() < deadline,
            "the room was never closed in LiveKit"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let jobs = c.api.state.db.job_statuses().await.unwrap();
        let job = jobs.iter().find(|j| j.kind == "calendar_meeting").unwrap();
        if job.state == "done" {
            break;
        }
        assert!(Instant::now() < deadline, "{:?}", job);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn without_meet_a_meeting_is_refused_and_nothing_is_written(backend: Backend) {
    let Some(c) = CalendarApp::start(backend).await else {
        return;
    };
    let (status, error) = c
        .call(
            &c.alice,
            "POST",
            EVENTS,
            Some(&json!({"title": "x", "start": "2025-12-02T10:00:00Z",
                         "end": "2025-12-02T11:00:00Z", "create_meeting": true})),
        )
        .await;
    assert_eq!(status, 422, "{error:#}");
    assert_eq!(error["field"], "create_meeting");
    assert!(c.stored("alice").is_empty());
    // Attendees without a meeting: invitations only.
    let event = c
        .create(
            &c.alice,
            json!({"title": "Lunch", "start": "2025-12-02T12:00:00Z", "end": "2025-12-02T13:00:00Z",
                   "attendees": ["Bob@Acme.example"]}),
        )
        .await;
    assert_eq!(event["meeting"], Value::Null);
    assert_eq!(event["organizer"], "alice@acme.example");
    assert_eq!(event["attendees"][0]["email"], "bob@acme.example");
    assert_eq!(event["attendees"][0]["status"], "NEEDS-ACTION");
    let request = invitation(&c, "REQUEST", 0).await;
    assert_eq!(request["recipients"], json!(["bob@acme.example"]));
}

/// Bob's own event, as another client writes it straight to his calendar: naming `room_id`
/// (anyone who had a join link has it), with no ORGANIZER and no attendees.
fn naming_room(uid: &str, title: &str, room_id: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Example//Phone//EN\r\nBEGIN:VEVENT\r\n\
         UID:{uid}\r\nDTSTAMP:20251101T000000Z\r\nDTSTART:20251202T100000Z\r\n\
         DTEND:20251202T110000Z\r\nSUMMARY:{title}\r\nX-BHEEM-ROOM-ID:{room_id}\r\n\
         CONFERENCE;VALUE=URI:{JOIN}{room_id}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

async fn an_event_naming_another_hosts_room_can_neither_change_nor_end_it(backend: Backend) {
    let Some((c, livekit)) = start(backend).await else {
        return;
    };
    let alices = c
        .create(
            &c.alice,
            json!({"title": "Board", "start": "2025-12-02T10:00:00Z", "end": "2025-12-02T11:00:00Z",
                   "create_meeting": true}),
        )
        .await;
    let room_id = alices["meeting"]["room_id"].as_str().unwrap().to_owned();
    for (uid, title) in [("kept", "Kept"), ("off", "Off"), ("gone", "Gone")] {
        let ics = naming_room(uid, title, &room_id);
        let status = c
            .put_directly(&c.bob, "bob", &format!("{uid}.ics"), &ics)
            .await;
        assert_eq!(status, 201);
    }
    let bobs = c.list(&c.bob, "2025-12-02", "2025-12-03").await;
    let of = |title: &str| {
        let e = bobs.iter().find(|e| e["title"] == title).unwrap();
        let id = format!("{EVENTS}/{}", e["event_id"].as_str().unwrap());
        (id, e["etag"].as_str().unwrap().to_owned())
    };
    let change = |title: &str, meeting: Option<bool>| {
        let mut body = json!({"title": title, "start": "2025-12-02T10:00:00Z",
                              "end": "2025-12-02T11:00:00Z"});
        if let Some(meeting) = meeting {
            body["create_meeting"] = json!(meeting);
        }
        body
    };
    // A change keeping "its" meeting: the room is not renamed, nor shown as bob's.
    let (id, etag) = of("Kept");
    let (status, kept) = c
        .call_on(
            &c.api.base,
            &c.bob,
            "PUT",
            &id,
            Some(&change("Renamed by bob", None)),
            &[("if-match", &etag)],
        )
        .await;
    assert_eq!(status, 200, "{kept:#}");
    assert_eq!(kept["meeting"], Value::Null, "{kept:#}");
    assert!(kept.get("pending").is_none(), "{kept:#}");
    // Taking the meeting off, and deleting the event: the room goes on.
    let (id, etag) = of("Off");
    let (status, off) = c
        .call_on(
            &c.api.base,
            &c.bob,
            "PUT",
            &id,
            Some(&change("Off", Some(false))),
            &[("if-match", &etag)],
        )
        .await;
    assert_eq!(status, 200, "{off:#}");
    let (id, _) = of("Gone");
    let (status, gone) = c.call(&c.bob, "DELETE", &id, None).await;
    assert_eq!(status, 204, "{gone:#}");

    let (_, the_room) = room(&c, &c.alice, &room_id).await;
    assert_eq!(the_room["status"], "scheduled", "{the_room:#}");
    assert_eq!(the_room["name"], "Board");
    assert!(!livekit.deleted_rooms().contains(&room_id));
    assert!(queued(&c, "calendar_meeting").await.is_empty());
    // Alice's own deletion still ends it.
    let alices_id = format!("{EVENTS}/{}", alices["event_id"].as_str().unwrap());
    let (status, _) = c.call(&c.alice, "DELETE", &alices_id, None).await;
    assert_eq!(status, 204);
    let (_, the_room) = room(&c, &c.alice, &room_id).await;
    assert_eq!(the_room["status"], "completed");
}

async fn the_organizer_is_the_mailbox_the_invitations_are_sent_from(backend: Backend) {
    let Some(c) = CalendarApp::start(backend).await else {
        return;
    };
    // Alice's mailbox, as Mailcow made it, is not her login: invitations are sent from it.
    let (state, alice) = (&c.api.state, c.sso.alice.id.to_string());
    let now = state.clock.now();
    let mailbox = "a.smith@acme.example";
    state
        .db
        .claim_mailbox(mailbox, &alice, ACME, now)
        .await
        .unwrap();
    state
        .db
        .confirm_mailbox(mailbox, &alice, now)
        .await
        .unwrap();
    let event = c
        .create(
            &c.alice,
            json!({"title": "Lunch", "start": "2025-12-02T12:00:00Z", "end": "2025-12-02T13:00:00Z",
                   "attendees": ["bob@acme.example"]}),
        )
        .await;
    assert_eq!(event["organizer"], mailbox);
    let request = invitation(&c, "REQUEST", 0).await;
    let ics = request["ics"].as_str().unwrap().replace("\r\n ", "");
    assert!(ics.contains(&format!(":mailto:{mailbox}")), "{ics}");
    assert!(!ics.contains("mailto:alice@acme.example"), "{ics}");
    // She organizes it all the same: she may change and delete it, and the CANCEL is hers.
    let id = format!("{EVENTS}/{}", event["event_id"].as_str().unwrap());
    let (status, changed) = c
        .call_on(
            &c.api.base,
            &c.alice,
            "PUT",
            &id,
            Some(&json!({"title": "Lunch", "start": "2025-12-02T12:30:00Z",
                         "end": "2025-12-02T13:30:00Z", "attendees": ["bob@acme.example"]})),
            &[("if-match", event["etag"].as_str().unwrap())],
        )
        .await;
    assert_eq!(status, 200, "{changed:#}");
    let (status, _) = c.call(&c.alice, "DELETE", &id, None).await;
    assert_eq!(status, 204);
    let cancel = invitation(&c, "CANCEL", 2).await;
    let ics = cancel["ics"].as_str().unwrap().replace("\r\n ", "");
    assert!(ics.contains(&format!(":mailto:{mailbox}")), "{ics}");
}
