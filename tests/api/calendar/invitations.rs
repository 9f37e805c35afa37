//! Invitations made by the calendar API arriving on the real mail servers (Dovecot and
//! Postfix of support/mail.rs, delivered by the outbox as the organizer), read from the
//! attendees' INBOX by Python's `icalendar` as a mail client would.

use rand::distributions::{Alphanumeric, DistString};
use serde_json::json;

use super::{CalendarApp, EVENTS};
use crate::calendar_invitations::{fast_outbox, inbox, read_invitation, BOB, EVE, MASTER};
use crate::on_both_backends;
use crate::support::{remember_secret, Backend, MailOptions, MailServers, TestConfig};

const MASTER_ENV: &str = "BHEEM_TEST_CALENDAR_MASTER_PASSWORD";

on_both_backends!(an_event_with_attendees_invites_them_by_mail_and_its_deletion_cancels);

async fn an_event_with_attendees_invites_them_by_mail_and_its_deletion_cancels(backend: Backend) {
    let master_password = Alphanumeric.sample_string(&mut rand::thread_rng(), 32);
    remember_secret(&master_password);
    let Some(mail) = MailServers::start(MailOptions {
        domains: vec!["acme.example".into(), "globex.example".into()],
        master_user: MASTER.into(),
        master_password: master_password.clone(),
    })
    .await
    else {
        return;
    };
    let (imap, submission) = (mail.imap_port(), mail.submission_port());
    let Some(c) = CalendarApp::start_with_env(
        backend,
        Some((MASTER_ENV, &master_password)),
        move |c: &mut TestConfig| {
            c.set("mail.imap_host", "127.0.0.1")
                .set("mail.imap_port", i64::from(imap))
                .set("mail.smtp_port", i64::from(submission))
                .set("mail.tls", "none")
                .set("mail.master_user", MASTER)
                .set("mail.master_password_env", MASTER_ENV)
                .set("mail.request_timeout_seconds", 5);
            fast_outbox(c);
        },
    )
    .await
    else {
        return;
    };
    for address in ["alice@acme.example", BOB, EVE] {
        mail.add_mailbox(address);
    }
    let event = c
        .create(
            &c.alice,
            json!({"title": "Quarterly planning", "start": "2025-12-08T09:00",
                   "end": "2025-12-08T10:00", "timezone": "Asia/Kolkata",
                   "attendees": [BOB, EVE]}),
        )
        .await;
    let uid = event["uid"].as_str().unwrap();
    // Bob of Acme and eve of Globex alike: an attendee of another company gets the same mail.
    for attendee in [BOB, EVE] {
        let messages = inbox(&mail, attendee, 1).await;
        let Some(read) = read_invitation(&messages[0]) else {
            return;
        };
        assert_eq!(read["method"], "REQUEST", "{read:#}");
        assert_eq!(read["part_method"], "REQUEST");
        assert!(read["subject"]
            .as_str()
            .unwrap()
            .contains("Quarterly planning"));
        assert!(read["from"]
            .as_str()
            .unwrap()
            .ends_with("<alice@acme.example>"));
        let e = &read["events"][0];
        assert_eq!(e["uid"], uid);
        assert_eq!(e["sequence"], 0);
        assert_eq!(e["summary"], "Quarterly planning");
        assert_eq!(e["organizer"]["address"], "alice@acme.example");
        let attendees = e["attendees"].as_array().unwrap();
        assert_eq!(attendees.len(), 2);
        for a in attendees {
            assert_eq!(a["partstat"], "NEEDS-ACTION", "{a}");
            assert_eq!(a["rsvp"], "TRUE", "{a}");
        }
    }
    let id = event["event_id"].as_str().unwrap();
    let (status, _) = c
        .call(&c.alice, "DELETE", &format!("{EVENTS}/{id}"), None)
        .await;
    assert_eq!(status, 204);
    let messages = inbox(&mail, BOB, 2).await;
    let Some(read) = read_invitation(&messages[1]) else {
        return;
    };
    assert_eq!(read["method"], "CANCEL", "{read:#}");
    assert_eq!(read["events"][0]["uid"], uid);
    assert_eq!(read["events"][0]["sequence"], 1);
    assert_eq!(read["events"][0]["status"], "CANCELLED");
}
