//! The caller's calendars, as Nextcloud's calendar home lists them.

use super::CalendarApp;
use crate::on_both_backends;
use crate::support::Backend;

on_both_backends!(the_personal_calendar_and_a_new_one_are_listed);

async fn the_personal_calendar_and_a_new_one_are_listed(backend: Backend) {
    let Some(c) = CalendarApp::start(backend).await else {
        return;
    };
    let (status, list) = c
        .call(&c.alice, "GET", "/api/v1/calendar/calendars", None)
        .await;
    assert_eq!(status, 200, "{list:#}\n{}", c.dav.log());
    let calendars = list["calendars"].as_array().unwrap();
    assert_eq!(calendars.len(), 1, "{list:#}");
    assert_eq!(calendars[0]["id"], "personal");
    assert_eq!(calendars[0]["name"], "Personal");
    assert!(calendars[0]["color"].as_str().unwrap().starts_with('#'));
    assert_eq!(calendars[0]["read_only"], false);
    assert_eq!(calendars[0]["default"], true);

    // A calendar made by another client (MKCALENDAR, RFC 4791 §5.3.1) shows up with its name.
    let body = r#"<?xml version="1.0" encoding="utf-8"?>
<c:mkcalendar xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
  <d:set><d:prop><d:displayname>Work &amp; travel</d:displayname></d:prop></d:set>
</c:mkcalendar>"#;
    let made = reqwest::Client::new()
        .request(
            reqwest::Method::from_bytes(b"MKCALENDAR").unwrap(),
            c.dav.calendar_url("alice", "work"),
        )
        .bearer_auth(&c.alice)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(made.status().as_u16(), 201, "{}", c.dav.log());
    let (_, list) = c
        .call(&c.alice, "GET", "/api/v1/calendar/calendars", None)
        .await;
    let names: Vec<(String, String, bool)> = list["calendars"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_owned(),
                c["name"].as_str().unwrap().to_owned(),
                c["default"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(
        names.contains(&("work".into(), "Work & travel".into(), false)),
        "{names:?}"
    );
    // Bob sees his own calendars, not alice's.
    let (status, bobs) = c
        .call(&c.bob, "GET", "/api/v1/calendar/calendars", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(bobs["calendars"].as_array().unwrap().len(), 1, "{bobs:#}");
}
