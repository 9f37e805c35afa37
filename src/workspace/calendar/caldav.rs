//! Nextcloud's CalDAV (RFC 4791) under `/remote.php/dav/calendars/{uid}/`, as the user: the
//! calendars of their home (PROPFIND), the objects of one calendar in a time range (REPORT
//! `calendar-query`), and one object's GET, conditional PUT and DELETE. The HTTP session, its
//! deadlines and metrics, and the multistatus reader are Docs' ([`Session`]).

use axum::http::{Method, StatusCode};
use percent_encoding::percent_decode_str;

use super::ids::EventId;
use crate::workspace::docs::nextcloud::dav::{extension, multistatus_body};
use crate::workspace::docs::nextcloud::multistatus::Resource;
use crate::workspace::docs::nextcloud::{failure, read_limited, NcError, Session};
use crate::workspace::docs::paths::encode_name;

/// A calendar object is a few kilobytes; a large series with many exceptions, a few hundred.
const MAX_OBJECT_BYTES: usize = 4 * 1024 * 1024;

/// The properties of a calendar (RFC 4791 §5.2, RFC 3744 §5.4, Apple's colour, Nextcloud's
/// read-only share), asked of the home with `Depth: 1`.
const CALENDARS_BODY: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:" xmlns:cal="urn:ietf:params:xml:ns:caldav" xmlns:x1="http://apple.com/ns/ical/" xmlns:oc="http://owncloud.org/ns">
  <d:prop>
    <d:resourcetype/>
    <d:displayname/>
    <x1:calendar-color/>
    <d:current-user-privilege-set/>
    <cal:supported-calendar-component-set/>
    <oc:read-only/>
  </d:prop>
</d:propfind>
"#;

/// A calendar of the user's home.
#[derive(Debug)]
pub struct CalendarInfo {
    pub id: String,
    pub display_name: Option<String>,
    pub color: Option<String>,
    pub read_only: bool,
}

/// A calendar object as stored: its place, entity tag and text.
#[derive(Debug)]
pub struct StoredObject {
    pub id: EventId,
    pub etag: Option<String>,
    pub data: String,
}

/// What a conditional PUT asks (RFC 9110 §13.1).
pub enum Precondition<'a> {
    /// `If-None-Match: *`: only if nothing is there.
    Create,
    /// `If-Match`: only if it is still this version.
    Matches(&'a str),
}

/// The CalDAV calls of one user's session.
pub struct CalDav<'a, 's> {
    pub session: &'a Session<'s>,
}

impl CalDav<'_, '_> {
    fn home(&self) -> String {
        self.session
            .dav_url(&format!("calendars/{}/", encode_name(self.session.uid())))
    }

    fn calendar_url(&self, calendar: &str) -> String {
        format!("{}{}/", self.home(), encode_name(calendar))
    }

    fn object_url(&self, id: &EventId) -> String {
        format!(
            "{}{}",
            self.calendar_url(&id.calendar),
            encode_name(&id.resource)
        )
    }

    /// The calendars of the user's home that hold events.
    pub async fn calendars(&self) -> Result<Vec<CalendarInfo>, NcError> {
        let request = self
            .session
            .request(extension("PROPFIND"), &self.home())
            .header("Depth", "1")
            .header("Content-Type", "application/xml; charset=utf-8")
            .body(CALENDARS_BODY);
        let resources = multistatus_body(self.session.call(request).await?).await?;
        let mut calendars = Vec::new();
        for r in resources {
            let holds_events =
                r.components.is_empty() || r.components.iter().any(|c| c == "VEVENT");
            if !r.calendar || !holds_events {
                continue;
            }
            let Some((calendar, resource)) = self.place(&r.href) else {
                continue;
            };
            if !resource.is_empty() {
                continue;
            }
            calendars.push(CalendarInfo {
                read_only: r.may_write() == Some(false),
                id: calendar,
                display_name: r.display_name,
                color: r.calendar_color,
            });
        }
        Ok(calendars)
    }

    /// The objects of `calendar` with an event (or an occurrence of one) in `[start, end)`,
    /// given as UTC `DATE-TIME` values (RFC 4791 §9.9); `None` when there is no such calendar.
    pub async fn query(
        &self,
        calendar: &str,
        start: &str,
        end: &str,
    ) -> Result<Option<Vec<StoredObject>>, NcError> {
        let body = query_body(start, end)
            .map_err(|e| NcError::Unusable(format!("writing the REPORT body: {e}")))?;
        let request = self
            .session
            .request(extension("REPORT"), &self.calendar_url(calendar))
            .header("Depth", "1")
            .header("Content-Type", "application/xml; charset=utf-8")
            .body(body);
        let response = self.session.call(request).await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let resources = multistatus_body(response).await?;
        Ok(Some(
            resources
                .into_iter()
                .filter_map(|r| self.stored(r))
                .collect(),
        ))
    }

    /// The object at `id`; `None` when there is none.
    pub async fn get(&self, id: &EventId) -> Result<Option<StoredObject>, NcError> {
        let request = self.session.request(Method::GET, &self.object_url(id));
        let response = self.session.call(request).await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !response.status().is_success() {
            return Err(failure(response).await);
        }
        let etag = etag_of(&response);
        let body = read_limited(response, MAX_OBJECT_BYTES).await?;
        let data = String::from_utf8(body)
            .map_err(|_| NcError::Unusable("a calendar object that is not UTF-8".into()))?;
        Ok(Some(StoredObject {
            id: id.clone(),
            etag,
            data,
        }))
    }

    /// PUT `data` at `id` on `condition`; the new entity tag, when the server gave one.
    pub async fn put(
        &self,
        id: &EventId,
        data: String,
        condition: Precondition<'_>,
    ) -> Result<Option<String>, NcError> {
        let mut request = self
            .session
            .request(Method::PUT, &self.object_url(id))
            .header("Content-Type", "text/calendar; charset=utf-8")
            .body(data);
        request = match condition {
            Precondition::Create => request.header("If-None-Match", "*"),
            Precondition::Matches(etag) => request.header("If-Match", etag),
        };
        let response = self.session.call(request).await?;
        if !response.status().is_success() {
            return Err(failure(response).await);
        }
        Ok(etag_of(&response))
    }

    /// DELETE of the object at `id`, on `If-Match` when given.
    pub async fn delete(&self, id: &EventId, if_match: Option<&str>) -> Result<(), NcError> {
        let mut request = self.session.request(Method::DELETE, &self.object_url(id));
        if let Some(etag) = if_match {
            request = request.header("If-Match", etag);
        }
        let response = self.session.call(request).await?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(failure(response).await)
        }
    }

    fn stored(&self, r: Resource) -> Option<StoredObject> {
        let (calendar, resource) = self.place(&r.href)?;
        let Some(id) = EventId::new(&calendar, &resource) else {
            tracing::info!("a calendar object whose name no event id can carry is left out");
            return None;
        };
        Some(StoredObject {
            id,
            etag: r.etag,
            data: r.calendar_data?,
        })
    }

    /// The calendar and resource an href of this user's home names (`("personal", "")` for
    /// the calendar itself); `None` for anything else.
    fn place(&self, href: &str) -> Option<(String, String)> {
        let path = match href.find("://") {
            Some(i) => &href[href[i + 3..].find('/').map(|j| i + 3 + j)?..],
            None => href,
        };
        let rest = path
            .strip_prefix(&self.session.dav_href_prefix())?
            .strip_prefix("calendars/")?;
        let mut segments = rest.split('/');
        let uid = decode(segments.next()?)?;
        if uid != self.session.uid() {
            return None;
        }
        let calendar = decode(segments.next()?)?;
        let resource = decode(segments.next().unwrap_or(""))?;
        if calendar.is_empty() || segments.any(|s| !s.is_empty()) {
            return None;
        }
        Some((calendar, resource))
    }
}

fn decode(segment: &str) -> Option<String> {
    percent_decode_str(segment)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

fn etag_of(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get(axum::http::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// RFC 4791 §7.8 `calendar-query`: the VEVENTs (a series, if one of its occurrences is) in
/// `[start, end)`, with their data and entity tags. Written with quick-xml's writer.
fn query_body(start: &str, end: &str) -> std::io::Result<Vec<u8>> {
    use quick_xml::events::{BytesDecl, Event};
    let mut writer = quick_xml::Writer::new(Vec::new());
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    writer
        .create_element("c:calendar-query")
        .with_attributes([
            ("xmlns:d", "DAV:"),
            ("xmlns:c", "urn:ietf:params:xml:ns:caldav"),
        ])
        .write_inner_content(|w| {
            w.create_element("d:prop").write_inner_content(|w| {
                w.create_element("d:getetag").write_empty()?;
                w.create_element("c:calendar-data").write_empty()?;
                Ok(())
            })?;
            w.create_element("c:filter").write_inner_content(|w| {
                w.create_element("c:comp-filter")
                    .with_attribute(("name", "VCALENDAR"))
                    .write_inner_content(|w| {
                        w.create_element("c:comp-filter")
                            .with_attribute(("name", "VEVENT"))
                            .write_inner_content(|w| {
                                w.create_element("c:time-range")
                                    .with_attributes([("start", start), ("end", end)])
                                    .write_empty()?;
                                Ok(())
                            })?;
                        Ok(())
                    })?;
                Ok(())
            })?;
            Ok(())
        })?;
    Ok(writer.into_inner())
}

/// Whether Nextcloud's refusal of a conditional PUT or DELETE says the object changed.
pub fn is_stale(e: &NcError) -> bool {
    e.status() == Some(StatusCode::PRECONDITION_FAILED)
}
