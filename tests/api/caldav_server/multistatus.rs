//! A WebDAV multistatus body (RFC 4918 §13) read into what the tests look at: each response's
//! href, and the properties a `propstat` with status 200 gave, by `{namespace}name`.

use std::collections::BTreeMap;

use quick_xml::events::Event;
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::NsReader;

pub const DAV: &str = "DAV:";
pub const CALDAV: &str = "urn:ietf:params:xml:ns:caldav";
pub const CALENDARSERVER: &str = "http://calendarserver.org/ns/";
pub const APPLE_ICAL: &str = "http://apple.com/ns/ical/";

#[derive(Debug, Default)]
pub struct Response {
    pub href: String,
    /// `{namespace}name` → the property's text (empty for one holding only elements).
    pub props: BTreeMap<String, String>,
    /// The `{namespace}name` of each element inside `resourcetype`.
    pub resourcetype: Vec<String>,
}

impl Response {
    pub fn prop(&self, namespace: &str, name: &str) -> Option<&str> {
        self.props
            .get(&format!("{{{namespace}}}{name}"))
            .map(String::as_str)
    }

    pub fn is_calendar(&self) -> bool {
        self.resourcetype.contains(&format!("{{{CALDAV}}}calendar"))
    }
}

pub fn parse(body: &str) -> Vec<Response> {
    let mut reader = NsReader::from_str(body);
    let mut responses = Vec::new();
    let mut current: Option<Response> = None;
    // Elements open below `prop`, outermost first, and the text of the innermost.
    let mut stack: Vec<String> = Vec::new();
    let mut in_prop = false;
    let mut pending = Response::default();
    let mut status_ok = false;
    let mut text = String::new();
    loop {
        let (ns, event) = reader
            .read_resolved_event()
            .expect("a well-formed multistatus");
        let name = |local: &[u8]| {
            let ns = match ns {
                ResolveResult::Bound(Namespace(ns)) => String::from_utf8_lossy(ns).into_owned(),
                _ => String::new(),
            };
            format!("{{{ns}}}{}", String::from_utf8_lossy(local))
        };
        match event {
            Event::Start(e) => {
                let element = name(e.local_name().as_ref());
                if in_prop {
                    if stack.len() == 2 && stack[1] == format!("{{{DAV}}}resourcetype") {
                        pending.resourcetype.push(element.clone());
                    }
                    stack.push(element);
                    text.clear();
                } else if element == format!("{{{DAV}}}response") {
                    current = Some(Response::default());
                } else if element == format!("{{{DAV}}}propstat") {
                    pending = Response::default();
                    status_ok = false;
                } else if element == format!("{{{DAV}}}prop") {
                    in_prop = true;
                    stack = vec![element];
                }
                text.clear();
            }
            Event::Empty(e) => {
                let element = name(e.local_name().as_ref());
                if in_prop {
                    if stack.len() == 1 {
                        pending.props.insert(element, String::new());
                    } else if stack.len() == 2 && stack[1] == format!("{{{DAV}}}resourcetype") {
                        pending.resourcetype.push(element);
                    }
                }
            }
            Event::Text(t) => text.push_str(&t.decode().unwrap()),
            Event::GeneralRef(r) => {
                let entity = r.decode().unwrap();
                text.push_str(match entity.as_ref() {
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "quot" => "\"",
                    "apos" => "'",
                    _ => "",
                });
            }
            Event::CData(c) => text.push_str(&String::from_utf8_lossy(&c)),
            Event::End(e) => {
                let element = name(e.local_name().as_ref());
                if in_prop {
                    let closed = stack.pop();
                    if element == format!("{{{DAV}}}prop") {
                        in_prop = false;
                    } else if stack.len() == 1 {
                        pending
                            .props
                            .insert(closed.unwrap(), std::mem::take(&mut text));
                    }
                } else if element == format!("{{{DAV}}}href") {
                    if let Some(r) = current.as_mut() {
                        r.href = text.trim().to_owned();
                    }
                } else if element == format!("{{{DAV}}}status") {
                    status_ok = text.split(' ').nth(1) == Some("200");
                } else if element == format!("{{{DAV}}}propstat") {
                    if let (true, Some(r)) = (status_ok, current.as_mut()) {
                        r.props.append(&mut pending.props);
                        r.resourcetype.append(&mut pending.resourcetype);
                    }
                } else if element == format!("{{{DAV}}}response") {
                    responses.extend(current.take());
                }
                text.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    responses
}
