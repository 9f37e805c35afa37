//! The time zones of iCalendar times (RFC 5545 §3.2.19, §3.6.5).
//!
//! A `TZID` is read as the IANA zone it names when chrono-tz knows the name (what Nextcloud,
//! Thunderbird and Apple's clients write), else from the object's own `VTIMEZONE` of that id (an
//! Outlook-style `India Standard Time`, a custom zone), else as an IANA name behind a vendor
//! prefix (`/mozilla.org/20050126_1/Europe/Berlin`); a zone none of these describes is taken as
//! UTC, and logged. Times this API writes carry the IANA name as `TZID` and a `VTIMEZONE` made
//! from chrono-tz's transitions over the years the event spans ([`vtimezone`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::{OffsetComponents, OffsetName, Tz};
use icalendar::parser;
use icalendar::{CalendarComponent, Component};

use super::LOCAL_FORMAT;

/// A zone a time can be in.
#[derive(Clone, Debug)]
pub enum Zone {
    Utc,
    Iana(Tz),
    /// An object's own `VTIMEZONE`, under its `TZID`.
    Defined(String, Definition),
    /// No zone (RFC 5545 §3.3.5 form #1), or one nobody described: read as UTC.
    Floating,
}

/// A `VTIMEZONE`'s observances: each onset is a local time in the offset before it.
#[derive(Clone, Debug, Default)]
pub struct Definition {
    observances: Arc<Vec<Observance>>,
    /// The onsets the observances' rules give in a year, expanded once per year asked about
    /// (shared by the clones: every time of an object in the zone).
    onsets: Arc<Mutex<HashMap<i32, Onsets>>>,
}

/// Onsets (wall-clock times) with the offset each brings in.
type Onsets = Vec<(NaiveDateTime, i32)>;

/// The most onsets one observance's rule gives in a year (a rule is yearly where zones are
/// concerned; a daily one is someone's mistake).
const MAX_ONSETS_A_YEAR: usize = 400;

#[derive(Clone, Debug)]
struct Observance {
    start: NaiveDateTime,
    offset_from: i32,
    offset_to: i32,
    rule: Option<String>,
    dates: Vec<NaiveDateTime>,
}

/// The zones one calendar object defines, by `TZID`.
#[derive(Default)]
pub struct Zones {
    defined: HashMap<String, Definition>,
}

impl Zones {
    /// The `VTIMEZONE`s of `components` (a parsed object's).
    pub fn of(components: &[CalendarComponent]) -> Self {
        let mut defined = HashMap::new();
        for component in components {
            let CalendarComponent::Other(zone) = component else {
                continue;
            };
            if zone.component_kind() != "VTIMEZONE" {
                continue;
            }
            let Some(tzid) = zone.property_value("TZID") else {
                continue;
            };
            let observances = zone
                .components()
                .iter()
                .filter(|o| matches!(o.component_kind().as_str(), "STANDARD" | "DAYLIGHT"))
                .filter_map(|o| {
                    Some(Observance {
                        start: local_time(o.property_value("DTSTART")?)?,
                        offset_from: parse_offset(o.property_value("TZOFFSETFROM")?)?,
                        offset_to: parse_offset(o.property_value("TZOFFSETTO")?)?,
                        rule: o.property_value("RRULE").map(str::to_owned),
                        dates: o
                            .multi_properties()
                            .get("RDATE")
                            .into_iter()
                            .flatten()
                            .flat_map(|p| p.value().split(','))
                            .filter_map(local_time)
                            .collect(),
                    })
                })
                .collect::<Vec<_>>();
            if !observances.is_empty() {
                defined.insert(
                    tzid.to_owned(),
                    Definition {
                        observances: Arc::new(observances),
                        onsets: Arc::default(),
                    },
                );
            }
        }
        Self { defined }
    }

    /// What `tzid` names in this object.
    pub fn resolve(&self, tzid: &str) -> Zone {
        if let Ok(tz) = tzid.parse::<Tz>() {
            return Zone::Iana(tz);
        }
        if let Some(definition) = self.defined.get(tzid) {
            return Zone::Defined(tzid.to_owned(), definition.clone());
        }
        // `/vendor/version/Area/City`: the longest tail that is an IANA name.
        let tail = tzid
            .match_indices('/')
            .find_map(|(i, _)| tzid[i + 1..].parse::<Tz>().ok());
        match tail {
            Some(tz) => Zone::Iana(tz),
            None => {
                tracing::info!(tzid, "an event in a time zone nobody defined: read as UTC");
                Zone::Floating
            }
        }
    }
}

impl Zone {
    /// The zone's name for the API: the IANA name, the object's own `TZID`, `UTC`, or none.
    pub fn name(&self) -> Option<String> {
        match self {
            Self::Utc => Some("UTC".to_owned()),
            Self::Iana(tz) => Some(tz.name().to_owned()),
            Self::Defined(tzid, _) => Some(tzid.clone()),
            Self::Floating => None,
        }
    }

    /// The instant a wall-clock time in this zone is. A time that a change of offset skips
    /// (02:30 on a spring-forward night) is read in the offset before the change, as RFC 5545
    /// §3.3.5 asks; one that happens twice is the first.
    pub fn to_utc(&self, local: NaiveDateTime) -> DateTime<Utc> {
        match self {
            Self::Utc | Self::Floating => local.and_utc(),
            Self::Iana(tz) => match tz.from_local_datetime(&local) {
                chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
                    t.with_timezone(&Utc)
                }
                chrono::LocalResult::None => {
                    let before = tz.offset_from_utc_datetime(&(local - Duration::days(1)));
                    (local - Duration::seconds(before.fix().local_minus_utc().into())).and_utc()
                }
            },
            Self::Defined(_, definition) => {
                (local - Duration::seconds(definition.offset_at(local).into())).and_utc()
            }
        }
    }

    /// The wall-clock time in this zone at `instant`.
    pub fn to_local(&self, instant: DateTime<Utc>) -> NaiveDateTime {
        match self {
            Self::Utc | Self::Floating => instant.naive_utc(),
            Self::Iana(tz) => instant.with_timezone(tz).naive_local(),
            Self::Defined(_, definition) => {
                let utc = instant.naive_utc();
                let guess = utc + Duration::seconds(definition.offset_at(utc).into());
                utc + Duration::seconds(definition.offset_at(guess).into())
            }
        }
    }
}

impl Definition {
    /// The offset (seconds east of UTC) in force at wall-clock time `local`: the latest onset
    /// at or before it decides; before all of them, the first one's offset before it. A rule's
    /// onsets are looked for in the year of `local` and the two before.
    fn offset_at(&self, local: NaiveDateTime) -> i32 {
        let mut latest: Option<(NaiveDateTime, i32)> = None;
        let mut consider = |onset: NaiveDateTime, offset: i32| {
            if onset <= local && latest.is_none_or(|(at, _)| onset > at) {
                latest = Some((onset, offset));
            }
        };
        for o in self.observances.iter() {
            consider(o.start, o.offset_to);
            for date in &o.dates {
                consider(*date, o.offset_to);
            }
        }
        for year in local.year() - 2..=local.year() {
            for (onset, offset) in self.onsets_in(year) {
                consider(onset, offset);
            }
        }
        match latest {
            Some((_, offset)) => offset,
            None => self
                .observances
                .iter()
                .min_by_key(|o| o.start)
                .map_or(0, |o| o.offset_from),
        }
    }

    /// The onsets the rules give in `year`, expanded the first time it is asked about.
    fn onsets_in(&self, year: i32) -> Onsets {
        let mut cache = self
            .onsets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache
            .entry(year)
            .or_insert_with(|| {
                self.observances
                    .iter()
                    .flat_map(|o| o.rule_onsets(year).into_iter().map(|t| (t, o.offset_to)))
                    .collect()
            })
            .clone()
    }
}

impl Observance {
    /// The onsets its rule gives in `year`, expanded as wall-clock times (UTC standing in for
    /// the zone itself) from near the year rather than from `DTSTART` (1601 for Outlook).
    fn rule_onsets(&self, year: i32) -> Vec<NaiveDateTime> {
        let Some(rule) = &self.rule else {
            return Vec::new();
        };
        let (Some(first), Some(next)) = (
            NaiveDate::from_ymd_opt(year, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0)),
            NaiveDate::from_ymd_opt(year + 1, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0)),
        ) else {
            return Vec::new();
        };
        let as_rrule = |t: NaiveDateTime| t.and_utc().with_timezone(&rrule::Tz::UTC);
        let Ok(rule) = rule
            .parse::<rrule::RRule<rrule::Unvalidated>>()
            .and_then(|r| r.validate(as_rrule(self.start)))
        else {
            return Vec::new();
        };
        let from = crate::workspace::calendar::expand::start_near(&rule, self.start, first);
        let set = rrule::RRuleSet::new(as_rrule(from)).rrule(rule).limit();
        // Bounded as well where the start could not be moved (a rule with a COUNT).
        set.into_iter()
            .take(20_000)
            .map(|t| t.naive_utc())
            .skip_while(|t| *t < first)
            .take_while(|t| *t < next)
            .take(MAX_ONSETS_A_YEAR)
            .collect()
    }
}

/// `+0530`, `-0500`, `+000000` as seconds east of UTC.
fn parse_offset(raw: &str) -> Option<i32> {
    let (sign, digits) = match raw.as_bytes().first()? {
        b'+' => (1, &raw[1..]),
        b'-' => (-1, &raw[1..]),
        _ => return None,
    };
    if !(digits.len() == 4 || digits.len() == 6) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hours: i32 = digits[0..2].parse().ok()?;
    let minutes: i32 = digits[2..4].parse().ok()?;
    let seconds: i32 = digits.get(4..6).map_or(Some(0), |s| s.parse().ok())?;
    Some(sign * (hours * 3600 + minutes * 60 + seconds))
}

fn format_offset(seconds: i32) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let abs = seconds.unsigned_abs();
    let (h, m, s) = (abs / 3600, abs % 3600 / 60, abs % 60);
    if s == 0 {
        format!("{sign}{h:02}{m:02}")
    } else {
        format!("{sign}{h:02}{m:02}{s:02}")
    }
}

/// `19700329T020000` (a `Z` after it is ignored: onsets are local).
fn local_time(raw: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(raw.trim().trim_end_matches('Z'), LOCAL_FORMAT).ok()
}

/// One change of offset: when (UTC), from and to which offset, and what it is called after.
struct Transition {
    at: DateTime<Utc>,
    from: i32,
    to: i32,
    name: Option<String>,
    daylight: bool,
}

fn offset_of(tz: Tz, at: DateTime<Utc>) -> i32 {
    tz.offset_from_utc_datetime(&at.naive_utc())
        .fix()
        .local_minus_utc()
}

/// chrono-tz's changes of offset in `tz` from the start of year `from` to the end of year
/// `to`: found a day at a time, then to the second.
fn transitions(tz: Tz, from: i32, to: i32) -> Vec<Transition> {
    let start = NaiveDate::from_ymd_opt(from, 1, 1).unwrap_or_default();
    let end = NaiveDate::from_ymd_opt(to + 1, 1, 1).unwrap_or_default();
    let mut found = Vec::new();
    let mut day = start.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
    let end = end.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
    while day < end {
        let next = day + Duration::days(1);
        let (before, after) = (offset_of(tz, day), offset_of(tz, next));
        if before != after {
            let (mut lo, mut hi) = (day, next);
            while hi - lo > Duration::seconds(1) {
                let mid = lo + (hi - lo) / 2;
                if offset_of(tz, mid) == before {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            let offset = tz.offset_from_utc_datetime(&hi.naive_utc());
            found.push(Transition {
                at: hi,
                from: before,
                to: after,
                name: offset.abbreviation().map(str::to_owned),
                daylight: !offset.dst_offset().is_zero(),
            });
        }
        day = next;
    }
    found
}

/// A `VTIMEZONE` for `tz` over the years `from` to `to` (RFC 5545 §3.6.5): one `STANDARD` or
/// `DAYLIGHT` observance per kind of change, its first onset as `DTSTART` and the others as
/// `RDATE`s; a zone that does not change in those years gets one `STANDARD` observance.
pub fn vtimezone(tz: Tz, from: i32, to: i32) -> CalendarComponent {
    let found = transitions(tz, from, to);
    let mut observances: Vec<parser::Component<'static>> = Vec::new();
    let mut kinds: Vec<(i32, i32, Option<String>, bool)> = Vec::new();
    let onset = |t: &Transition| {
        (t.at.naive_utc() + Duration::seconds(t.from.into()))
            .format(LOCAL_FORMAT)
            .to_string()
    };
    for t in &found {
        let kind = (t.from, t.to, t.name.clone(), t.daylight);
        if let Some(i) = kinds.iter().position(|k| *k == kind) {
            observances[i].properties.push(property("RDATE", onset(t)));
            continue;
        }
        kinds.push(kind);
        observances.push(observance(
            t.daylight,
            onset(t),
            t.from,
            t.to,
            t.name.clone(),
        ));
    }
    if observances.is_empty() {
        let start = NaiveDate::from_ymd_opt(from, 1, 1).unwrap_or_default();
        let at = start.and_hms_opt(0, 0, 0).unwrap_or_default();
        let offset = tz.offset_from_utc_datetime(&at);
        let seconds = offset.fix().local_minus_utc();
        let name = offset.abbreviation().map(str::to_owned);
        observances.push(observance(
            false,
            at.format(LOCAL_FORMAT).to_string(),
            seconds,
            seconds,
            name,
        ));
    }
    CalendarComponent::from(parser::Component {
        name: "VTIMEZONE".into(),
        properties: vec![property("TZID", tz.name().to_owned())],
        components: observances,
    })
}

fn observance(
    daylight: bool,
    start: String,
    from: i32,
    to: i32,
    name: Option<String>,
) -> parser::Component<'static> {
    let mut properties = vec![
        property("DTSTART", start),
        property("TZOFFSETFROM", format_offset(from)),
        property("TZOFFSETTO", format_offset(to)),
    ];
    // chrono-tz names some offsets by their number (`+0530`): not a name worth writing.
    if let Some(name) = name.filter(|n| n.chars().all(|c| c.is_ascii_alphabetic())) {
        properties.push(property("TZNAME", name));
    }
    parser::Component {
        name: if daylight { "DAYLIGHT" } else { "STANDARD" }.into(),
        properties,
        components: Vec::new(),
    }
}

fn property(name: &'static str, value: String) -> parser::Property<'static> {
    parser::Property {
        name: name.into(),
        val: value.into(),
        params: Vec::new(),
    }
}

/// The years a `VTIMEZONE` for an event starting at `start` should cover: its first year to
/// its last occurrence's, or ten years on for a series without an end.
pub fn years_of(start: NaiveDateTime, last: Option<NaiveDateTime>) -> (i32, i32) {
    let from = start.year();
    let to = last.map_or(from + 10, |l| l.year()).clamp(from, from + 50);
    (from, to)
}

#[cfg(test)]
mod tests;
