//! What a request says, parsed at the edge: times in their zones, the recurrence rule (checked
//! by `rrule`), addresses, and the limits of each text. A value that does not parse is an
//! [`Invalid`] naming its field, and nothing is written.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::expand::until_in_wall_clock;
use super::ical::{When, WriteZone, Zone, DATE_FORMAT, LOCAL_FORMAT};
use crate::config::is_calendar_name;
use crate::domain::Email;
use crate::workspace::meet::rooms::Invalid;

pub const MAX_TITLE_CHARS: usize = 500;
pub const MAX_LOCATION_CHARS: usize = 1000;
pub const MAX_DESCRIPTION_CHARS: usize = 20_000;
pub const MAX_ATTENDEES: usize = 200;
const MAX_RULE_CHARS: usize = 500;
/// chrono and the time zone tables are good far beyond; a calendar is not.
const YEARS: std::ops::RangeInclusive<i32> = 1900..=2200;

fn invalid(field: &str, message: impl Into<String>) -> Invalid {
    Invalid {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// A title: trimmed, 1 to [`MAX_TITLE_CHARS`] characters, on one line.
pub fn title(raw: &str) -> Result<String, Invalid> {
    let title = raw.trim();
    if title.is_empty() {
        return Err(invalid("title", "must not be empty"));
    }
    one_line("title", title, MAX_TITLE_CHARS).map(str::to_owned)
}

/// An optional one-line text; empty is none.
pub fn location(raw: Option<&str>) -> Result<Option<String>, Invalid> {
    match raw.map(str::trim).filter(|l| !l.is_empty()) {
        None => Ok(None),
        Some(l) => one_line("location", l, MAX_LOCATION_CHARS).map(|l| Some(l.to_owned())),
    }
}

fn one_line<'a>(field: &str, text: &'a str, max: usize) -> Result<&'a str, Invalid> {
    if text.chars().count() > max {
        return Err(invalid(field, format!("must be at most {max} characters")));
    }
    if text.chars().any(char::is_control) {
        return Err(invalid(
            field,
            "must be one line without control characters",
        ));
    }
    Ok(text)
}

/// A description: lines (`\r\n` read as `\n`) and tabs allowed, no other control characters.
pub fn description(raw: Option<&str>) -> Result<Option<String>, Invalid> {
    let Some(text) = raw.map(|d| d.replace("\r\n", "\n")) else {
        return Ok(None);
    };
    let text = text.trim_end();
    if text.trim().is_empty() {
        return Ok(None);
    }
    if text.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(invalid(
            "description",
            format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(invalid(
            "description",
            "must not contain control characters",
        ));
    }
    Ok(Some(text.to_owned()))
}

/// Attendees' addresses: each valid, in lower case, without repeats.
pub fn attendees(raw: &[String]) -> Result<Vec<String>, Invalid> {
    if raw.len() > MAX_ATTENDEES {
        return Err(invalid(
            "attendees",
            format!("must list at most {MAX_ATTENDEES} addresses"),
        ));
    }
    let mut emails = Vec::with_capacity(raw.len());
    for (i, address) in raw.iter().enumerate() {
        let email = Email::parse(address)
            .map_err(|message| invalid(&format!("attendees[{i}]"), message))?;
        let email = email.normalized();
        if !emails.contains(&email) {
            emails.push(email);
        }
    }
    Ok(emails)
}

/// A calendar's id as the client names it.
pub fn calendar(raw: &str) -> Result<String, Invalid> {
    if is_calendar_name(raw) {
        Ok(raw.to_owned())
    } else {
        Err(invalid("calendar", "is not a calendar's id"))
    }
}

/// An IANA time zone (`Asia/Kolkata`).
pub fn timezone(raw: &str) -> Result<Tz, Invalid> {
    raw.trim().parse::<Tz>().map_err(|_| {
        invalid(
            "timezone",
            "is not a known IANA time zone such as Europe/Berlin",
        )
    })
}

/// When an event is: whole days (`2025-12-24`, `end` the day after the last) or times, each
/// either RFC 3339 with an offset, or a local time (`2025-12-02T09:00`) in `zone`. With a
/// zone the times are written in it (an RFC 3339 time moved into it), without one in UTC.
pub fn when(
    start: &str,
    end: &str,
    all_day: Option<bool>,
    zone: Option<Tz>,
) -> Result<When, Invalid> {
    let (start, end) = (start.trim(), end.trim());
    let dates = (date(start), date(end));
    if all_day.unwrap_or(dates.0.is_some() && dates.1.is_some()) {
        let start = dates.0.ok_or_else(|| {
            invalid(
                "start",
                "must be a date such as 2025-12-24 for an all-day event",
            )
        })?;
        let end = dates.1.ok_or_else(|| {
            invalid(
                "end",
                "must be a date such as 2025-12-25 for an all-day event",
            )
        })?;
        in_years("start", start.and_hms_opt(0, 0, 0).unwrap_or_default())?;
        in_years("end", end.and_hms_opt(0, 0, 0).unwrap_or_default())?;
        if end <= start {
            return Err(invalid(
                "end",
                "must be after start (the day after the last day of the event)",
            ));
        }
        return Ok(When::AllDay { start, end });
    }
    let write_zone = zone.map_or(WriteZone::Utc, WriteZone::Iana);
    let start_local = local("start", start, zone)?;
    let end_local = local("end", end, zone)?;
    let instant = |t: NaiveDateTime| match zone {
        Some(tz) => tz
            .from_local_datetime(&t)
            .earliest()
            .map(|t| t.with_timezone(&Utc)),
        None => Some(t.and_utc()),
    };
    if instant(end_local) <= instant(start_local) {
        return Err(invalid("end", "must be after start"));
    }
    Ok(When::Timed {
        start: start_local,
        end: end_local,
        zone: write_zone,
    })
}

fn date(raw: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()
}

/// `raw` as a wall-clock time in `zone` (UTC without one).
fn local(field: &str, raw: &str, zone: Option<Tz>) -> Result<NaiveDateTime, Invalid> {
    let local = if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        let utc = t.with_timezone(&Utc);
        match zone {
            Some(tz) => utc.with_timezone(&tz).naive_local(),
            None => utc.naive_utc(),
        }
    } else {
        let naive = NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S")
            .or_else(|_| NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M"))
            .map_err(|_| {
                invalid(
                    field,
                    "must be a time such as 2025-12-02T09:00:00Z, 2025-12-02T09:00:00+05:30, \
                     or 2025-12-02T09:00 with timezone",
                )
            })?;
        let Some(tz) = zone else {
            return Err(invalid(
                field,
                "a time without an offset needs timezone (or give it as 2025-12-02T09:00:00Z)",
            ));
        };
        if tz.from_local_datetime(&naive).earliest().is_none() {
            return Err(invalid(
                field,
                format!("does not happen in {} (the clocks skip it)", tz.name()),
            ));
        }
        naive
    };
    in_years(field, local)?;
    Ok(local)
}

fn in_years(field: &str, t: NaiveDateTime) -> Result<(), Invalid> {
    use chrono::Datelike;
    if YEARS.contains(&t.year()) {
        Ok(())
    } else {
        Err(invalid(field, "must be between the years 1900 and 2200"))
    }
}

/// An RRULE value (RFC 5545 §3.3.10, with or without `RRULE:`), checked by `rrule` against
/// the event's start, repeating at most hourly. Written back as given, upper-cased, with a local UNTIL of a zoned event
/// turned into UTC as §3.3.10 asks.
pub fn recurrence(raw: &str, when: &When) -> Result<String, Invalid> {
    let field = "recurrence";
    let rule = raw.trim();
    let rule = rule
        .strip_prefix("RRULE:")
        .or_else(|| rule.strip_prefix("rrule:"))
        .unwrap_or(rule)
        .to_ascii_uppercase();
    if rule.is_empty() || rule.len() > MAX_RULE_CHARS {
        return Err(invalid(
            field,
            format!("must be an RRULE of at most {MAX_RULE_CHARS} characters"),
        ));
    }
    if !rule
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b';' | b',' | b'-' | b'+'))
    {
        return Err(invalid(
            field,
            "must be an RRULE such as FREQ=WEEKLY;BYDAY=MO;COUNT=10",
        ));
    }
    let mut parts = Vec::new();
    for part in rule.split(';') {
        let Some(until) = part.strip_prefix("UNTIL=") else {
            parts.push(part.to_owned());
            continue;
        };
        parts.push(format!("UNTIL={}", until_value(until, when)?));
    }
    let rule = parts.join(";");
    let (base, zone) = match when {
        When::AllDay { start, .. } => (
            start.and_hms_opt(0, 0, 0).unwrap_or_default(),
            Zone::Floating,
        ),
        When::Timed { start, zone, .. } => (
            *start,
            match zone {
                WriteZone::Utc => Zone::Utc,
                WriteZone::Iana(tz) => Zone::Iana(*tz),
            },
        ),
    };
    // Checked as it is expanded: in wall-clock time.
    let wall_clock = until_in_wall_clock(&rule, &zone);
    let start = base.and_utc().with_timezone(&rrule::Tz::UTC);
    let checked = wall_clock
        .parse::<rrule::RRule<rrule::Unvalidated>>()
        .and_then(|r| r.validate(start))
        .map_err(|e| invalid(field, format!("is not a valid RRULE: {e}")))?;
    // A meeting every minute is no calendar's; a series of them is only work for the server.
    if checked.get_freq() > rrule::Frequency::Hourly {
        return Err(invalid(
            field,
            "must repeat at most hourly (FREQ=SECONDLY and FREQ=MINUTELY are not taken)",
        ));
    }
    Ok(rule)
}

/// UNTIL as RFC 5545 §3.3.10 wants it: a date for an all-day event, a UTC time otherwise.
fn until_value(raw: &str, when: &When) -> Result<String, Invalid> {
    let field = "recurrence";
    match when {
        When::AllDay { .. } => NaiveDate::parse_from_str(raw, DATE_FORMAT)
            .map(|d| d.format(DATE_FORMAT).to_string())
            .map_err(|_| {
                invalid(
                    field,
                    "UNTIL of an all-day event must be a date such as 20261231",
                )
            }),
        When::Timed { zone, .. } => {
            if let Some(utc) = raw.strip_suffix('Z') {
                return NaiveDateTime::parse_from_str(utc, LOCAL_FORMAT)
                    .map(|t| format!("{}Z", t.format(LOCAL_FORMAT)))
                    .map_err(|_| invalid(field, "UNTIL must be a time such as 20261231T235959Z"));
            }
            let local = NaiveDateTime::parse_from_str(raw, LOCAL_FORMAT)
                .or_else(|_| {
                    NaiveDate::parse_from_str(raw, DATE_FORMAT)
                        .map(|d| d.and_hms_opt(23, 59, 59).unwrap_or_default())
                })
                .map_err(|_| invalid(field, "UNTIL must be a time such as 20261231T235959Z"))?;
            let utc = match zone {
                WriteZone::Utc => local.and_utc(),
                WriteZone::Iana(tz) => tz
                    .from_local_datetime(&local)
                    .earliest()
                    .map(|t| t.with_timezone(&Utc))
                    .unwrap_or_else(|| local.and_utc() + Duration::hours(1)),
            };
            Ok(format!("{}Z", utc.naive_utc().format(LOCAL_FORMAT)))
        }
    }
}

/// A listing's start: a date (its midnight, UTC) or an RFC 3339 time.
pub fn range_start(raw: &str) -> Result<DateTime<Utc>, Invalid> {
    bound("start", raw, 0)
}

/// A listing's end, not included: a date is included (the range ends at the next midnight,
/// UTC: `start=2025-12-01&end=2025-12-31` is all of December), an RFC 3339 time is not.
pub fn range_end(raw: &str) -> Result<DateTime<Utc>, Invalid> {
    bound("end", raw, 1)
}

/// A date (the midnight `days_on` days after it, UTC) or an RFC 3339 time.
fn bound(field: &str, raw: &str, days_on: i64) -> Result<DateTime<Utc>, Invalid> {
    let raw = raw.trim();
    if let Some(d) = date(raw) {
        let t = d.and_hms_opt(0, 0, 0).unwrap_or_default();
        in_years(field, t)?;
        return Ok(t.and_utc() + Duration::days(days_on));
    }
    let t = DateTime::parse_from_rfc3339(raw)
        .map_err(|_| invalid(field, "must be a date (2025-12-01) or an RFC 3339 time"))?
        .with_timezone(&Utc);
    in_years(field, t.naive_utc())?;
    Ok(t)
}

#[cfg(test)]
mod tests;
