//! Event ids: opaque to clients, they name a calendar and a resource in it. An id is the
//! base64url (no padding) of `{calendar}/{resource}`, checked strictly when it comes back: the
//! calendar is a Nextcloud calendar name, the resource one path segment that is not `.` or
//! `..` and holds no separator or control character. Anything else names no event (404) and
//! never reaches CalDAV, where both are percent-encoded as single segments anyway.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::config::is_calendar_name;

/// Longer resource names are not ones we or the usual clients make (`{uuid}.ics`).
const MAX_RESOURCE_BYTES: usize = 255;

/// An event's place: its calendar and its resource's name there (`{uid}.ics`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventId {
    pub calendar: String,
    pub resource: String,
}

impl EventId {
    /// The place of `resource` in `calendar`, when both are names an id may carry.
    pub fn new(calendar: &str, resource: &str) -> Option<Self> {
        (is_calendar_name(calendar) && is_resource_name(resource)).then(|| Self {
            calendar: calendar.to_owned(),
            resource: resource.to_owned(),
        })
    }

    /// The id as the API shows it.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}/{}", self.calendar, self.resource))
    }

    /// An id the API gave out; `None` for anything else.
    pub fn decode(raw: &str) -> Option<Self> {
        if raw.is_empty() || raw.len() > 600 {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (calendar, resource) = text.split_once('/')?;
        Self::new(calendar, resource)
    }
}

/// Whether `name` can be a calendar object's resource name: one segment, not `.` or `..`,
/// without separators or control characters.
pub fn is_resource_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_RESOURCE_BYTES
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_are_opaque() {
        let id = EventId::new("personal", "0b6e5a4c-1f.ics").unwrap();
        let encoded = id.encode();
        assert!(!encoded.contains('/'), "{encoded}");
        assert_eq!(EventId::decode(&encoded), Some(id));
        let odd = EventId::new("work", "Team meeting (1).ics").unwrap();
        assert_eq!(EventId::decode(&odd.encode()), Some(odd));
    }

    #[test]
    fn anything_that_could_leave_the_calendar_is_refused() {
        let encode = |s: &str| URL_SAFE_NO_PAD.encode(s);
        for bad in [
            encode("personal/../x.ics"),
            encode("personal/.."),
            encode("personal/."),
            encode("../personal/x.ics"),
            encode("personal/a/b.ics"),
            encode("personal/a\\b.ics"),
            encode("personal/a\u{0}.ics"),
            encode("personal/"),
            encode("/x.ics"),
            encode("personal"),
            encode(".hidden/x.ics"),
            encode("per sonal/x.ics"),
            encode(&format!("personal/{}", "x".repeat(300))),
            "personal/x.ics".to_owned(),
            "%2e%2e".to_owned(),
            "!!!".to_owned(),
            String::new(),
        ] {
            assert_eq!(EventId::decode(&bad), None, "{bad}");
        }
    }
}
