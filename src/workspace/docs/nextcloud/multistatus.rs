//! WebDAV's `207 Multi-Status` (RFC 4918 §13) as Nextcloud answers PROPFIND, SEARCH and
//! CalDAV's REPORT (RFC 4791 §7.8), read with quick-xml's namespace-aware reader: elements are
//! matched by namespace URI and local name, whatever prefixes the server chose (`d:`, `oc:`,
//! `nc:`, `cal:`, or none). The files (Docs) and the calendars (Calendar) share it: a property
//! one of them does not ask for is simply not there.

use quick_xml::events::Event;
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::NsReader;

const DAV: &[u8] = b"DAV:";
const OWNCLOUD: &[u8] = b"http://owncloud.org/ns";
const CALDAV: &[u8] = b"urn:ietf:params:xml:ns:caldav";
/// Apple's calendar properties, which Nextcloud uses for a calendar's colour.
const APPLE_ICAL: &[u8] = b"http://apple.com/ns/ical/";

/// One `d:response`: its href and the properties reported with status 200.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Resource {
    /// As sent: percent-encoded, usually an absolute path (`/remote.php/dav/files/alice/a.txt`).
    pub href: String,
    pub folder: bool,
    pub content_length: Option<u64>,
    pub content_type: Option<String>,
    /// RFC 1123, as `getlastmodified` carries it.
    pub last_modified: Option<String>,
    pub etag: Option<String>,
    pub file_id: Option<String>,
    /// `oc:size`: a folder's size is the sum of what it holds.
    pub size: Option<u64>,
    pub permissions: Option<String>,
    /// `d:displayname`.
    pub display_name: Option<String>,
    /// A CalDAV calendar (`cal:calendar` in its resource type).
    pub calendar: bool,
    /// `x1:calendar-color` (`#0082c9`).
    pub calendar_color: Option<String>,
    /// The component kinds a calendar holds (`VEVENT`, `VTODO`), when the server said.
    pub components: Vec<String>,
    /// Whether the user may change what it holds, from `d:current-user-privilege-set` (RFC 3744
    /// §5.4); `None` when the server did not say. See [`Resource::may_write`].
    pub writable: Option<bool>,
    /// Nextcloud's `oc:read-only` of a calendar shared with the user read-only.
    pub read_only_share: bool,
    /// `cal:calendar-data`: the iCalendar object, from a REPORT.
    pub calendar_data: Option<String>,
}

/// The properties a listing asks for (RFC 4918 §9.1 PROPFIND with a `prop` list): those of
/// [`Resource`].
pub const PROPFIND_BODY: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns" xmlns:nc="http://nextcloud.org/ns">
  <d:prop>
    <d:resourcetype/>
    <d:getcontentlength/>
    <d:getcontenttype/>
    <d:getlastmodified/>
    <d:getetag/>
    <oc:fileid/>
    <oc:size/>
    <oc:permissions/>
  </d:prop>
</d:propfind>
"#;

/// A SEARCH body (RFC 5323 basicsearch, as Nextcloud's clients send it) for the resource of
/// Nextcloud file id `file_id` under `scope` (`/files/{uid}`), asking for [`Resource`]'s
/// properties. Written with quick-xml's writer, so whatever the values hold is escaped.
pub fn search_by_file_id(scope: &str, file_id: &str) -> std::io::Result<Vec<u8>> {
    use quick_xml::events::{BytesDecl, BytesText};
    let mut writer = quick_xml::Writer::new(Vec::new());
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    writer
        .create_element("d:searchrequest")
        .with_attributes([("xmlns:d", "DAV:"), ("xmlns:oc", "http://owncloud.org/ns")])
        .write_inner_content(|w| {
            w.create_element("d:basicsearch").write_inner_content(|w| {
                w.create_element("d:select").write_inner_content(|w| {
                    w.create_element("d:prop").write_inner_content(|w| {
                        for prop in [
                            "d:resourcetype",
                            "d:getcontentlength",
                            "d:getcontenttype",
                            "d:getlastmodified",
                            "d:getetag",
                            "oc:fileid",
                            "oc:size",
                            "oc:permissions",
                        ] {
                            w.create_element(prop).write_empty()?;
                        }
                        Ok(())
                    })?;
                    Ok(())
                })?;
                w.create_element("d:from").write_inner_content(|w| {
                    w.create_element("d:scope").write_inner_content(|w| {
                        w.create_element("d:href")
                            .write_text_content(BytesText::new(scope))?;
                        w.create_element("d:depth")
                            .write_text_content(BytesText::new("infinity"))?;
                        Ok(())
                    })?;
                    Ok(())
                })?;
                w.create_element("d:where").write_inner_content(|w| {
                    w.create_element("d:eq").write_inner_content(|w| {
                        w.create_element("d:prop").write_inner_content(|w| {
                            w.create_element("oc:fileid").write_empty()?;
                            Ok(())
                        })?;
                        w.create_element("d:literal")
                            .write_text_content(BytesText::new(file_id))?;
                        Ok(())
                    })?;
                    Ok(())
                })?;
                w.create_element("d:orderby").write_empty()?;
                Ok(())
            })?;
            Ok(())
        })?;
    Ok(writer.into_inner())
}

impl Resource {
    /// Whether the user may change what it holds: a read-only share is read-only whatever
    /// privileges are listed beside it; `None` when the server said nothing either way.
    pub fn may_write(&self) -> Option<bool> {
        if self.read_only_share {
            Some(false)
        } else {
            self.writable
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    Href,
    ContentLength,
    ContentType,
    LastModified,
    Etag,
    FileId,
    Size,
    Permissions,
    DisplayName,
    CalendarColor,
    CalendarData,
    ReadOnly,
    Status,
}

/// Every resource of a multistatus body. A property counts only from a `propstat` whose
/// status is 200: Nextcloud lists the ones it lacks in another with 404.
pub fn parse(body: &[u8]) -> Result<Vec<Resource>, quick_xml::Error> {
    let mut reader = NsReader::from_reader(body);
    // Not trimmed per text event: an entity splits a value into several (`Work &amp; travel`),
    // and the spaces beside it belong to it. A value is trimmed as a whole once read.
    reader.config_mut().trim_text(false);
    let mut resources = Vec::new();
    let mut current: Option<Resource> = None;
    // The propstat being read: its properties wait for its status.
    let mut pending = Resource::default();
    let mut status_ok = false;
    // An href inside a property (a lock's owner, say) is not the response's.
    let mut in_propstat = false;
    let mut field: Option<Field> = None;
    // Inside `d:current-user-privilege-set`, and inside `cal:supported-calendar-component-set`.
    let mut in_privileges = false;
    let mut in_components = false;
    let mut text = String::new();
    let mut buf = Vec::new();
    loop {
        let (ns, event) = reader.read_resolved_event_into(&mut buf)?;
        match event {
            Event::Start(e) => {
                let local = e.local_name();
                match (namespace(&ns), local.as_ref()) {
                    (Some(DAV), b"response") => current = Some(Resource::default()),
                    (Some(DAV), b"propstat") => {
                        pending = Resource::default();
                        status_ok = false;
                        in_propstat = true;
                    }
                    (Some(DAV), b"collection") => pending.folder = true,
                    (Some(CALDAV), b"calendar") => pending.calendar = true,
                    (Some(DAV), b"current-user-privilege-set") => {
                        in_privileges = true;
                        pending.writable = pending.writable.or(Some(false));
                    }
                    (Some(CALDAV), b"supported-calendar-component-set") => in_components = true,
                    (Some(DAV), privilege) if in_privileges => writes(&mut pending, privilege),
                    (Some(CALDAV), b"comp") if in_components => component(&mut pending, &e)?,
                    (ns, name) => {
                        field = field_of(ns, name).filter(|f| !(in_propstat && *f == Field::Href));
                        text.clear();
                    }
                }
            }
            Event::Empty(e) => match (namespace(&ns), e.local_name().as_ref()) {
                (Some(DAV), b"collection") => pending.folder = true,
                (Some(CALDAV), b"calendar") => pending.calendar = true,
                (Some(DAV), privilege) if in_privileges => writes(&mut pending, privilege),
                (Some(CALDAV), b"comp") if in_components => component(&mut pending, &e)?,
                _ => {}
            },
            Event::Text(t) if field.is_some() => {
                text.push_str(&t.decode()?);
            }
            Event::GeneralRef(r) if field.is_some() => {
                // `&amp;` and friends inside a value, resolved by hand: quick-xml leaves
                // entity references to the reader.
                let name = r.decode()?;
                text.push_str(match name.as_ref() {
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "quot" => "\"",
                    "apos" => "'",
                    _ => "",
                });
                if let Some(c) = r.resolve_char_ref()? {
                    text.push(c);
                }
            }
            Event::CData(c) if field.is_some() => {
                text.push_str(&String::from_utf8_lossy(&c));
            }
            Event::End(e) => {
                let local = e.local_name();
                match (namespace(&ns), local.as_ref()) {
                    (Some(DAV), b"response") => {
                        if let Some(resource) = current.take() {
                            resources.push(resource);
                        }
                    }
                    (Some(DAV), b"current-user-privilege-set") => in_privileges = false,
                    (Some(CALDAV), b"supported-calendar-component-set") => in_components = false,
                    (Some(DAV), b"propstat") => {
                        in_propstat = false;
                        if let (true, Some(resource)) = (status_ok, current.as_mut()) {
                            merge(resource, std::mem::take(&mut pending));
                        }
                    }
                    _ => {
                        if let Some(f) = field.take() {
                            let value = text.trim().to_owned();
                            match f {
                                Field::Href => {
                                    if let Some(r) = current.as_mut() {
                                        r.href = value;
                                    }
                                }
                                Field::Status => status_ok = value.split(' ').nth(1) == Some("200"),
                                f => set(&mut pending, f, value),
                            }
                        }
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(resources)
}

/// A privilege that lets the user change a collection's members (RFC 3744 §3).
fn writes(r: &mut Resource, privilege: &[u8]) {
    if matches!(privilege, b"write" | b"write-content" | b"bind" | b"all") {
        r.writable = Some(true);
    }
}

/// `<cal:comp name="VEVENT"/>` (RFC 4791 §5.2.3).
fn component(
    r: &mut Resource,
    e: &quick_xml::events::BytesStart<'_>,
) -> Result<(), quick_xml::Error> {
    if let Some(name) = e
        .try_get_attribute("name")
        .map_err(quick_xml::Error::from)?
    {
        let name = name.unescape_value()?.to_ascii_uppercase();
        r.components.push(name);
    }
    Ok(())
}

fn namespace<'a>(resolved: &'a ResolveResult<'a>) -> Option<&'a [u8]> {
    match resolved {
        ResolveResult::Bound(Namespace(ns)) => Some(ns),
        _ => None,
    }
}

fn field_of(ns: Option<&[u8]>, local: &[u8]) -> Option<Field> {
    Some(match (ns?, local) {
        (DAV, b"href") => Field::Href,
        (DAV, b"status") => Field::Status,
        (DAV, b"getcontentlength") => Field::ContentLength,
        (DAV, b"getcontenttype") => Field::ContentType,
        (DAV, b"getlastmodified") => Field::LastModified,
        (DAV, b"getetag") => Field::Etag,
        (OWNCLOUD, b"fileid") => Field::FileId,
        (OWNCLOUD, b"size") => Field::Size,
        (OWNCLOUD, b"permissions") => Field::Permissions,
        (OWNCLOUD, b"read-only") => Field::ReadOnly,
        (DAV, b"displayname") => Field::DisplayName,
        (APPLE_ICAL, b"calendar-color") => Field::CalendarColor,
        (CALDAV, b"calendar-data") => Field::CalendarData,
        _ => return None,
    })
}

fn set(r: &mut Resource, field: Field, value: String) {
    let value = Some(value).filter(|v| !v.is_empty());
    match field {
        Field::ContentLength => r.content_length = value.and_then(|v| v.parse().ok()),
        Field::ContentType => r.content_type = value,
        Field::LastModified => r.last_modified = value,
        Field::Etag => r.etag = value,
        Field::FileId => r.file_id = value,
        Field::Size => r.size = value.and_then(|v| v.parse().ok()),
        Field::Permissions => r.permissions = value,
        Field::DisplayName => r.display_name = value,
        Field::CalendarColor => r.calendar_color = value,
        Field::CalendarData => r.calendar_data = value,
        Field::ReadOnly => r.read_only_share = matches!(value.as_deref(), Some("1" | "true")),
        Field::Href | Field::Status => {}
    }
}

fn merge(into: &mut Resource, from: Resource) {
    into.folder |= from.folder;
    into.content_length = into.content_length.or(from.content_length);
    into.content_type = into.content_type.take().or(from.content_type);
    into.last_modified = into.last_modified.take().or(from.last_modified);
    into.etag = into.etag.take().or(from.etag);
    into.file_id = into.file_id.take().or(from.file_id);
    into.size = into.size.or(from.size);
    into.permissions = into.permissions.take().or(from.permissions);
    into.display_name = into.display_name.take().or(from.display_name);
    into.calendar |= from.calendar;
    into.calendar_color = into.calendar_color.take().or(from.calendar_color);
    into.components.extend(from.components);
    into.writable = into.writable.or(from.writable);
    into.read_only_share |= from.read_only_share;
    into.calendar_data = into.calendar_data.take().or(from.calendar_data);
}

#[cfg(test)]
mod tests;
