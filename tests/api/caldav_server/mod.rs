//! The test CalDAV server itself (tests/caldav, [`CalDavServer`]): that it is the Nextcloud the
//! calendar tests believe it is. Tokens come from this provider's first-party login and are
//! checked at its userinfo endpoint; the user id is `preferred_username`.

mod multistatus;

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};

use crate::support::{add_user, CalDavOptions, CalDavServer, Sso, TestApp, GLOBEX, PASSWORD};
use multistatus::{APPLE_ICAL, CALDAV, CALENDARSERVER, DAV};

const USERINFO: &str = "/api/v1/sso/userinfo";

/// The provider with alice (Acme) and eve (Globex), their tokens, and the CalDAV server.
struct Setup {
    _sso: Sso,
    dav: CalDavServer,
    alice: String,
    eve: String,
    http: reqwest::Client,
}

async fn setup() -> Option<Setup> {
    let sso = TestApp::builder().start_sso().await?;
    let dav = CalDavServer::start(CalDavOptions {
        userinfo_url: sso.url(USERINFO),
        uid_claim: "preferred_username".into(),
    })
    .await?;
    add_user(
        &sso.h.app,
        "eve@globex.example",
        Some("eve"),
        GLOBEX,
        PASSWORD,
    )
    .await;
    let token = |login: serde_json::Value| login["access_token"].as_str().unwrap().to_owned();
    let alice = token(sso.api_login("alice@acme.example", PASSWORD).await);
    let eve = token(sso.api_login("eve@globex.example", PASSWORD).await);
    Some(Setup {
        _sso: sso,
        dav,
        alice,
        eve,
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
    })
}

/// What a CalDAV request got back.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn etag(&self) -> Option<&str> {
        self.headers.get("etag").map(|v| v.to_str().unwrap())
    }
}

impl Setup {
    async fn request(
        &self,
        token: Option<&str>,
        method: &str,
        url: &str,
        headers: &[(&'static str, &str)],
        body: Option<&str>,
    ) -> Answer {
        let mut request = self
            .http
            .request(Method::from_bytes(method.as_bytes()).unwrap(), url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, HeaderValue::from_str(value).unwrap());
        }
        if let Some(body) = body {
            request = request.body(body.to_owned());
        }
        let response = request.send().await.unwrap();
        Answer {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        }
    }

    /// PROPFIND Depth 1 on `uid`'s calendar home asking what the calendar list shows.
    async fn calendars(&self, token: &str, uid: &str) -> Answer {
        let body = r#"<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/" xmlns:x1="http://apple.com/ns/ical/">
  <d:prop><d:displayname/><x1:calendar-color/><cs:getctag/><d:resourcetype/></d:prop>
</d:propfind>"#;
        let headers = [("depth", "1"), ("content-type", "application/xml")];
        let home = self.dav.home_url(uid);
        self.request(Some(token), "PROPFIND", &home, &headers, Some(body))
            .await
    }

    /// REPORT calendar-query for VEVENTs overlapping `start`..`end` (UTC, `YYYYMMDDTHHMMSSZ`),
    /// with their data expanded into the occurrences in that range.
    async fn events_between(&self, token: &str, calendar: &str, start: &str, end: &str) -> Answer {
        let body = format!(
            r#"<?xml version="1.0" encoding="utf-8"?>
<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
  <d:prop><d:getetag/><c:calendar-data><c:expand start="{start}" end="{end}"/></c:calendar-data></d:prop>
  <c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT">
    <c:time-range start="{start}" end="{end}"/>
  </c:comp-filter></c:comp-filter></c:filter>
</c:calendar-query>"#
        );
        let headers = [("depth", "1"), ("content-type", "application/xml")];
        self.request(Some(token), "REPORT", calendar, &headers, Some(&body))
            .await
    }

    async fn put(
        &self,
        token: &str,
        url: &str,
        ics: &str,
        condition: (&'static str, &str),
    ) -> Answer {
        let headers = [("content-type", "text/calendar; charset=utf-8"), condition];
        self.request(Some(token), "PUT", url, &headers, Some(ics))
            .await
    }
}

/// A one-hour event `uid` on `day` (`YYYYMMDD`) at `hour` in Asia/Kolkata, weekly ten times
/// when `weekly`.
fn event(uid: &str, summary: &str, day: &str, hour: u32, weekly: bool) -> String {
    let rrule = if weekly {
        "RRULE:FREQ=WEEKLY;COUNT=10\r\n"
    } else {
        ""
    };
    let end = hour + 1;
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Bheem//tests//EN\r\nBEGIN:VEVENT\r\n\
         UID:{uid}\r\nDTSTAMP:20251101T000000Z\r\n\
         DTSTART;TZID=Asia/Kolkata:{day}T{hour:02}0000\r\n\
         DTEND;TZID=Asia/Kolkata:{day}T{end:02}0000\r\n\
         {rrule}SUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

#[tokio::test]
async fn a_request_without_a_token_the_provider_accepts_is_refused() {
    let Some(s) = setup().await else { return };
    let home = s.dav.home_url("alice");
    for (token, basic) in [(None, false), (None, true), (Some("not-a-token"), false)] {
        let mut request = s
            .http
            .request(Method::from_bytes(b"PROPFIND").unwrap(), &home);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if basic {
            request = request.basic_auth("alice", Some(PASSWORD));
        }
        let response = request.header("depth", "1").send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{token:?} basic {basic}"
        );
        let challenges: Vec<_> = response
            .headers()
            .get_all("www-authenticate")
            .iter()
            .collect();
        assert!(challenges
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("Bearer")));
        let body = response.text().await.unwrap();
        assert!(
            body.contains("Sabre\\DAV\\Exception\\NotAuthenticated"),
            "{body}"
        );
    }
    // Nothing was made for anyone.
    assert!(!s.dav.storage().join("collection-root/alice").exists());
    let log = std::fs::read_to_string(s.dav.log_path()).unwrap();
    assert!(log.contains("bearer token refused"), "{log}");
    assert!(
        !log.contains("not-a-token"),
        "the log holds a token:\n{log}"
    );
}

#[tokio::test]
async fn the_personal_calendar_is_there_at_the_first_request() {
    let Some(s) = setup().await else { return };
    let answer = s.calendars(&s.alice, "alice").await;
    assert_eq!(answer.status, StatusCode::MULTI_STATUS, "{}", s.dav.log());
    let responses = multistatus::parse(&answer.body);
    let calendars: Vec<_> = responses.iter().filter(|r| r.is_calendar()).collect();
    assert_eq!(calendars.len(), 1, "{}", answer.body);
    let personal = calendars[0];
    assert_eq!(personal.href, "/remote.php/dav/calendars/alice/personal/");
    assert_eq!(personal.prop(DAV, "displayname"), Some("Personal"));
    assert_eq!(personal.prop(APPLE_ICAL, "calendar-color"), Some("#0082c9"));
    let ctag = personal.prop(CALENDARSERVER, "getctag").unwrap().to_owned();
    assert!(!ctag.is_empty());

    // The ctag moves when the calendar changes; a calendar made with MKCALENDAR is listed too.
    let url = s.dav.calendar_url("alice", "personal") + "one.ics";
    let put = s
        .put(
            &s.alice,
            &url,
            &event("one", "One", "20251201", 9, false),
            ("if-none-match", "*"),
        )
        .await;
    assert_eq!(put.status, StatusCode::CREATED, "{}", put.body);
    let work = s.dav.calendar_url("alice", "work");
    let made = s
        .request(Some(&s.alice), "MKCALENDAR", &work, &[], None)
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let responses = multistatus::parse(&s.calendars(&s.alice, "alice").await.body);
    let mut hrefs: Vec<_> = responses
        .iter()
        .filter(|r| r.is_calendar())
        .map(|r| r.href.as_str())
        .collect();
    hrefs.sort();
    assert_eq!(
        hrefs,
        [
            "/remote.php/dav/calendars/alice/personal/",
            "/remote.php/dav/calendars/alice/work/"
        ]
    );
    let personal = responses
        .iter()
        .find(|r| r.href.ends_with("/personal/"))
        .unwrap();
    assert_ne!(
        personal.prop(CALENDARSERVER, "getctag"),
        Some(ctag.as_str())
    );
}

#[tokio::test]
async fn a_user_reaches_only_their_own_calendar_home() {
    let Some(s) = setup().await else { return };
    let alices = s.dav.calendar_url("alice", "personal") + "private.ics";
    let ics = event("private", "Alice's", "20251201", 9, false);
    assert_eq!(
        s.put(&s.alice, &alices, &ics, ("if-none-match", "*"))
            .await
            .status,
        StatusCode::CREATED
    );

    // eve of another company: as Nextcloud's DavAclPlugin, 404 "not found", never 403.
    let listing = s.calendars(&s.eve, "alice").await;
    assert_eq!(listing.status, StatusCode::NOT_FOUND, "{}", listing.body);
    assert!(
        listing.body.contains("Sabre\\DAV\\Exception\\NotFound"),
        "{}",
        listing.body
    );
    let read = s.request(Some(&s.eve), "GET", &alices, &[], None).await;
    assert_eq!(read.status, StatusCode::NOT_FOUND);
    let overwrite = s
        .put(
            &s.eve,
            &alices,
            &event("private", "Eve's", "20251201", 9, false),
            ("if-match", "*"),
        )
        .await;
    assert_eq!(overwrite.status, StatusCode::NOT_FOUND);
    let delete = s.request(Some(&s.eve), "DELETE", &alices, &[], None).await;
    assert_eq!(delete.status, StatusCode::NOT_FOUND);
    let sneaky = format!(
        "{}/remote.php/dav/calendars/eve/../alice/personal/private.ics",
        s.dav.url()
    );
    let dotted = s.request(Some(&s.eve), "GET", &sneaky, &[], None).await;
    assert_eq!(dotted.status, StatusCode::NOT_FOUND);

    // Alice's event is as she left it, and eve has her own personal calendar, empty.
    let mine = s.request(Some(&s.alice), "GET", &alices, &[], None).await;
    assert_eq!(mine.status, StatusCode::OK);
    assert!(mine.body.contains("SUMMARY:Alice's"), "{}", mine.body);
    let eves = s
        .events_between(
            &s.eve,
            &s.dav.calendar_url("eve", "personal"),
            "20250101T000000Z",
            "20270101T000000Z",
        )
        .await;
    assert_eq!(eves.status, StatusCode::MULTI_STATUS);
    assert!(multistatus::parse(&eves.body).is_empty(), "{}", eves.body);
}

#[tokio::test]
async fn a_stale_if_match_is_412_and_overwrites_nothing() {
    let Some(s) = setup().await else { return };
    let url = s.dav.calendar_url("alice", "personal") + "meeting.ics";
    let first = s
        .put(
            &s.alice,
            &url,
            &event("meeting", "First", "20251201", 9, false),
            ("if-none-match", "*"),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let first_etag = first.etag().expect("an ETag for the new event").to_owned();

    // Creating it again is refused.
    let again = s
        .put(
            &s.alice,
            &url,
            &event("meeting", "Again", "20251201", 9, false),
            ("if-none-match", "*"),
        )
        .await;
    assert_eq!(again.status, StatusCode::PRECONDITION_FAILED);
    assert!(
        again
            .body
            .contains("Sabre\\DAV\\Exception\\PreconditionFailed"),
        "{}",
        again.body
    );

    // With the current ETag the event is replaced (204) and gets a new one.
    let second = s
        .put(
            &s.alice,
            &url,
            &event("meeting", "Second", "20251201", 10, false),
            ("if-match", &first_etag),
        )
        .await;
    assert_eq!(second.status, StatusCode::NO_CONTENT, "{}", second.body);
    let second_etag = second
        .etag()
        .expect("an ETag for the replaced event")
        .to_owned();
    assert_ne!(first_etag, second_etag);

    // The first ETag is stale now: neither a write nor a deletion with it goes through.
    let stale = s
        .put(
            &s.alice,
            &url,
            &event("meeting", "Third", "20251201", 11, false),
            ("if-match", &first_etag),
        )
        .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    let delete = s
        .request(
            Some(&s.alice),
            "DELETE",
            &url,
            &[("if-match", &first_etag)],
            None,
        )
        .await;
    assert_eq!(delete.status, StatusCode::PRECONDITION_FAILED);
    let now = s.request(Some(&s.alice), "GET", &url, &[], None).await;
    assert_eq!(now.status, StatusCode::OK);
    assert!(now.body.contains("SUMMARY:Second"), "{}", now.body);
    assert_eq!(now.etag(), Some(second_etag.as_str()));

    // Data that is not iCalendar is Sabre's 415; the current ETag deletes it (204).
    let garbage = s
        .put(&s.alice, &url, "hello", ("if-match", &second_etag))
        .await;
    assert_eq!(garbage.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let delete = s
        .request(
            Some(&s.alice),
            "DELETE",
            &url,
            &[("if-match", &second_etag)],
            None,
        )
        .await;
    assert_eq!(delete.status, StatusCode::NO_CONTENT);
    let gone = s.request(Some(&s.alice), "GET", &url, &[], None).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_time_range_report_finds_a_later_occurrence_of_a_recurring_event() {
    let Some(s) = setup().await else { return };
    let calendar = s.dav.calendar_url("alice", "personal");
    // Weekly from Monday 1 December 2025, 09:00 in Kolkata (03:30Z), ten times.
    let weekly = event("standup", "Standup", "20251201", 9, true);
    let once = event("review", "Review", "20251202", 9, false);
    for (name, ics) in [("standup.ics", &weekly), ("review.ics", &once)] {
        let put = s
            .put(
                &s.alice,
                &format!("{calendar}{name}"),
                ics,
                ("if-none-match", "*"),
            )
            .await;
        assert_eq!(put.status, StatusCode::CREATED, "{}", put.body);
    }

    // The week of 29 December holds the fifth occurrence and nothing of the one-off event.
    let answer = s
        .events_between(&s.alice, &calendar, "20251229T000000Z", "20260105T000000Z")
        .await;
    assert_eq!(answer.status, StatusCode::MULTI_STATUS, "{}", answer.body);
    let found = multistatus::parse(&answer.body);
    assert_eq!(found.len(), 1, "{}", answer.body);
    assert_eq!(
        found[0].href,
        "/remote.php/dav/calendars/alice/personal/standup.ics"
    );
    let data = found[0].prop(CALDAV, "calendar-data").unwrap();
    assert!(
        data.contains("DTSTART:20251229T033000Z"),
        "expanded in UTC: {data}"
    );
    assert!(data.contains("RECURRENCE-ID:20251229T033000Z"), "{data}");
    assert!(!data.contains("RRULE"), "expanded: {data}");

    // After the tenth occurrence (2 February 2026) nothing is found.
    let after = s
        .events_between(&s.alice, &calendar, "20260210T000000Z", "20260301T000000Z")
        .await;
    assert!(multistatus::parse(&after.body).is_empty(), "{}", after.body);
}
