//! Invitations that arrive: what the attendee's mail client reads, and an outage that delays
//! them without losing them.

use serde_json::{json, Value};

use super::{
    ended, enqueue, inbox, invitation, job_when, read_invitation, GateMode, InviteApp, ALICE, BOB,
    CAROL,
};
use crate::on_both_backends;
use crate::support::{Backend, ACME};

on_both_backends!(
    a_request_then_a_cancel_reach_the_attendees_as_icalendar_reads_them,
    the_mail_server_down_delays_the_invitation_and_it_arrives_once_it_is_back,
);

/// The attendees as the invitation's iCalendar names them.
fn attendees() -> Value {
    json!([
        {"address": BOB, "cn": "Bob", "partstat": "NEEDS-ACTION", "rsvp": "TRUE"},
        {"address": CAROL, "cn": null, "partstat": "NEEDS-ACTION", "rsvp": "TRUE"},
    ])
}

async fn a_request_then_a_cancel_reach_the_attendees_as_icalendar_reads_them(backend: Backend) {
    let Some(app) = InviteApp::start(backend).await else {
        return;
    };
    let uid = "0f7c1e2a-planning@bheem.cloud";
    let request = enqueue(
        &app.sso,
        invitation(ACME, &app.alice_id(), uid, 0, "REQUEST"),
    )
    .await;
    let job = ended(&app.sso, &request).await;
    assert_eq!(job.state, "done", "{job:?}\n{}", app.mail.postfix_log());
    assert_eq!(job.attempts, 1);

    let messages = inbox(&app.mail, BOB, 1).await;
    assert_eq!(messages.len(), 1);
    let Some(read) = read_invitation(&messages[0]) else {
        return;
    };
    assert!(
        read["from"]
            .as_str()
            .unwrap()
            .ends_with(&format!("<{ALICE}>")),
        "{read}"
    );
    assert_eq!(read["to"], json!([BOB, CAROL]));
    assert_eq!(read["subject"], "Invitation: Planning");
    assert!(read["text"]
        .as_str()
        .unwrap()
        .starts_with("Invitation: Planning, Monday"));
    // RFC 6047 §2.4: the calendar beside the text, its `method` the same as the METHOD inside.
    assert_eq!(read["alternative"], json!(["text/plain", "text/calendar"]));
    assert_eq!(read["part_method"], "REQUEST");
    assert!(
        read["part_charset"]
            .as_str()
            .unwrap()
            .eq_ignore_ascii_case("utf-8"),
        "{read}"
    );
    assert_eq!(read["method"], "REQUEST");
    let event = &read["events"][0];
    assert_eq!(read["events"].as_array().unwrap().len(), 1);
    assert_eq!(event["uid"], uid);
    assert_eq!(event["sequence"], 0);
    assert_eq!(event["status"], "CONFIRMED");
    assert_eq!(
        event["organizer"],
        json!({"address": ALICE, "cn": "Alice Example", "partstat": null, "rsvp": null})
    );
    assert_eq!(event["attendees"], attendees());
    assert_eq!(
        read["attachment"],
        json!({"content_type": "application/ics", "same_calendar": true})
    );
    // The attendee outside the mail domains was sent the same message: Postfix holds it.
    assert_eq!(app.mail.queued_outside(), [CAROL]);

    // The same revision queued again is the same job: nothing more is sent.
    let again = enqueue(
        &app.sso,
        invitation(ACME, &app.alice_id(), uid, 0, "REQUEST"),
    )
    .await;
    assert_eq!(again, request);
    let jobs = app.sso.h.app.state.db.job_statuses().await.unwrap();
    assert_eq!(jobs.iter().filter(|j| j.dedupe_key == request).count(), 1);

    // The event is cancelled: SEQUENCE goes up, METHOD:CANCEL.
    let cancel = enqueue(
        &app.sso,
        invitation(ACME, &app.alice_id(), uid, 1, "CANCEL"),
    )
    .await;
    assert_ne!(cancel, request);
    assert_eq!(ended(&app.sso, &cancel).await.state, "done");
    let messages = inbox(&app.mail, BOB, 2).await;
    assert_eq!(messages.len(), 2, "the request again, or the cancel twice");
    let read = read_invitation(&messages[1]).unwrap();
    assert_eq!(read["subject"], "Cancelled: Planning");
    assert_eq!(read["part_method"], "CANCEL");
    assert_eq!(read["method"], "CANCEL");
    assert_eq!(read["events"][0]["uid"], uid);
    assert_eq!(read["events"][0]["sequence"], 1);
    assert_eq!(read["events"][0]["status"], "CANCELLED");
    assert_eq!(read["events"][0]["attendees"], attendees());
}

async fn the_mail_server_down_delays_the_invitation_and_it_arrives_once_it_is_back(
    backend: Backend,
) {
    let Some(app) = InviteApp::start(backend).await else {
        return;
    };
    let uid = "outage@bheem.cloud";

    // Down: each connection is closed at once. The job waits to be tried again, with why.
    app.gate.set(GateMode::Drop);
    let key = enqueue(
        &app.sso,
        invitation(ACME, &app.alice_id(), uid, 0, "REQUEST"),
    )
    .await;
    let waiting = job_when(&app.sso, &key, "waited after a try", |j| {
        j.state == "pending" && j.last_error.is_some()
    })
    .await;
    assert!(waiting.attempts >= 1, "{waiting:?}");

    // Hanging: the attempt times out (the mail timeout) and is tried again.
    app.gate.set(GateMode::Silent);
    let attempts = waiting.attempts;
    let hung = job_when(&app.sso, &key, "timed out", |j| {
        j.state == "pending"
            && j.attempts > attempts
            && j.last_error.as_deref() == Some("smtp did not answer in time")
    })
    .await;

    // Shutting down: 421, a reply worth waiting out (RFC 5321 §4.2.1), not a refusal.
    app.gate.set(GateMode::Busy);
    let attempts = hung.attempts;
    let busy = job_when(&app.sso, &key, "met the 421", |j| {
        j.state == "pending"
            && j.attempts > attempts
            && j.last_error.as_deref().is_some_and(|e| e.contains("421"))
    })
    .await;
    assert!(app.mail.messages(BOB, "INBOX").is_empty());

    // Back: the next attempt delivers it, once.
    app.gate.set(GateMode::Open);
    let done = ended(&app.sso, &key).await;
    assert_eq!(done.state, "done", "{done:?}");
    assert!(done.attempts > busy.attempts);
    let messages = inbox(&app.mail, BOB, 1).await;
    assert_eq!(messages.len(), 1);
    if let Some(read) = read_invitation(&messages[0]) {
        assert_eq!(read["events"][0]["uid"], uid);
        assert_eq!(read["method"], "REQUEST");
    }
}
