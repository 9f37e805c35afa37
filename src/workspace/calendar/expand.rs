//! Recurring events expanded into their occurrences in a range, here rather than by the CalDAV
//! server (whose `c:expand` Nextcloud and Radicale each do their own way): the master's RRULE,
//! RDATEs and EXDATEs (RFC 5545 §3.8.5) with the `rrule` crate, and the occurrences that other
//! events of the object override by their RECURRENCE-ID (§3.8.4.4).
//!
//! The rule is expanded in the master's wall-clock time (UTC standing in for its zone in
//! `rrule`), and each occurrence then placed in its zone: a meeting at 09:00 Europe/Berlin
//! stays at 09:00 there when the clocks change, as RFC 5545 §3.3.10 asks.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};

use super::ical::{EventData, Moment, ObjectEvents, Zone};

/// `[start, end)`, in UTC.
#[derive(Clone, Copy, Debug)]
pub struct Range {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// One occurrence to list: the event that has it (the master, or an override), and its times.
#[derive(Debug)]
pub struct Occurrence<'a> {
    pub event: &'a EventData,
    pub start: Moment,
    pub end: Moment,
    /// The start it has in the series, for an occurrence of a recurring event.
    pub recurrence_id: Option<Moment>,
}

/// The occurrences of `object` that overlap `range`, at most `limit` of them (then `true`:
/// there may be more).
pub fn occurrences(
    object: &ObjectEvents,
    range: Range,
    limit: usize,
) -> (Vec<Occurrence<'_>>, bool) {
    let mut found = Vec::new();
    let mut truncated = false;
    for e in &object.overrides {
        if !e.cancelled && overlaps(&e.start, &e.end, range) {
            found.push(Occurrence {
                event: e,
                start: e.start.clone(),
                end: e.end.clone(),
                recurrence_id: e.recurrence_id.clone(),
            });
        }
    }
    if let Some(master) = &object.master {
        if master.recurrence.is_none() && master.rdates.is_empty() {
            if !master.cancelled && overlaps(&master.start, &master.end, range) {
                found.push(Occurrence {
                    event: master,
                    start: master.start.clone(),
                    end: master.end.clone(),
                    recurrence_id: None,
                });
            }
        } else if !master.cancelled {
            let overridden: Vec<DateTime<Utc>> = object
                .overrides
                .iter()
                .filter_map(|o| o.recurrence_id.as_ref().map(Moment::utc))
                .collect();
            let (series, more) = series(master, range, limit + 1);
            truncated |= more;
            for (start, end) in series {
                if overridden.contains(&start.utc()) || !overlaps(&start, &end, range) {
                    continue;
                }
                found.push(Occurrence {
                    event: master,
                    recurrence_id: Some(start.clone()),
                    start,
                    end,
                });
            }
        }
    }
    if found.len() > limit {
        found.sort_by_key(|o| o.start.utc());
        found.truncate(limit);
        truncated = true;
    }
    (found, truncated)
}

/// Whether `[start, end)` meets the range; an event without duration is in the range its
/// instant is in.
fn overlaps(start: &Moment, end: &Moment, range: Range) -> bool {
    let (start, end) = (start.utc(), end.utc());
    start < range.end && (end > range.start || (start == end && start >= range.start))
}

/// The master's occurrences (starts and ends) that may meet the range, expanded in its
/// wall-clock time; `true` when `rrule` stopped at `limit` or at its own bounds.
fn series(master: &EventData, range: Range, limit: usize) -> (Vec<(Moment, Moment)>, bool) {
    let (base, zone) = wall_clock(&master.start);
    let length = master.end.utc() - master.start.utc();
    let as_rrule = |t: NaiveDateTime| t.and_utc().with_timezone(&rrule::Tz::UTC);
    let mut set = rrule::RRuleSet::new(as_rrule(base));
    if let Some(rule) = &master.recurrence {
        let rule = until_in_wall_clock(rule, &zone);
        match rule
            .parse::<rrule::RRule<rrule::Unvalidated>>()
            .and_then(|r| r.validate(as_rrule(base)))
        {
            Ok(rule) => set = set.rrule(rule),
            Err(e) => {
                tracing::info!(error = %e, "an event's RRULE does not parse: only its first occurrence is listed");
            }
        }
    } else {
        // RDATEs alone: DTSTART is the first occurrence (RFC 5545 §3.8.5.2).
        set = set.rdate(as_rrule(base));
    }
    for exdate in &master.exdates {
        set = set.exdate(as_rrule(in_zone(exdate, &zone)));
    }
    for rdate in &master.rdates {
        set = set.rdate(as_rrule(in_zone(rdate, &zone)));
    }
    // A day of slack each side: wall-clock and UTC differ by less than that.
    let from = zone.to_local(range.start) - length - Duration::days(1);
    let to = zone.to_local(range.end) + Duration::days(1);
    let result = set
        .after(as_rrule(from))
        .before(as_rrule(to))
        .all(u16::try_from(limit).unwrap_or(u16::MAX));
    let truncated = result.limited && result.dates.len() >= limit;
    let occurrences = result
        .dates
        .into_iter()
        .map(|t| {
            let local = t.naive_utc();
            match &master.start {
                Moment::Date(_) => {
                    let days = (master.end.utc() - master.start.utc()).num_days().max(1);
                    (
                        Moment::Date(local.date()),
                        Moment::Date(local.date() + Duration::days(days)),
                    )
                }
                Moment::Time { .. } => {
                    let start = Moment::Time {
                        local,
                        zone: zone.clone(),
                    };
                    let end = Moment::Time {
                        local: zone.to_local(start.utc() + length),
                        zone: zone.clone(),
                    };
                    (start, end)
                }
            }
        })
        .collect();
    (occurrences, truncated)
}

/// A start's wall-clock time and zone (a day starts at its midnight, in no zone).
fn wall_clock(start: &Moment) -> (NaiveDateTime, Zone) {
    match start {
        Moment::Date(d) => (d.and_hms_opt(0, 0, 0).unwrap_or_default(), Zone::Floating),
        Moment::Time { local, zone } => (*local, zone.clone()),
    }
}

/// `moment` as a wall-clock time in `zone` (an EXDATE may be written in UTC or another zone).
fn in_zone(moment: &Moment, zone: &Zone) -> NaiveDateTime {
    match moment {
        Moment::Date(d) => d.and_hms_opt(0, 0, 0).unwrap_or_default(),
        Moment::Time { .. } => zone.to_local(moment.utc()),
    }
}

/// RFC 5545 §3.3.10: with a zoned DTSTART, UNTIL is in UTC; the rule is expanded in wall-clock
/// time, so UNTIL is turned into the wall-clock time it is in the event's zone (a date, into the
/// last second of that day), written as `rrule` wants it beside a DTSTART in UTC.
pub(super) fn until_in_wall_clock(rule: &str, zone: &Zone) -> String {
    use super::ical::{DATE_FORMAT, LOCAL_FORMAT};
    rule.split(';')
        .map(|part| {
            let Some(value) = part.strip_prefix("UNTIL=") else {
                return part.to_owned();
            };
            let wall = if let Some(utc) = value.strip_suffix('Z') {
                NaiveDateTime::parse_from_str(utc, LOCAL_FORMAT)
                    .ok()
                    .map(|t| zone.to_local(t.and_utc()))
            } else {
                NaiveDateTime::parse_from_str(value, LOCAL_FORMAT)
                    .ok()
                    .or_else(|| {
                        chrono::NaiveDate::parse_from_str(value, DATE_FORMAT)
                            .ok()
                            .and_then(|d| d.and_hms_opt(23, 59, 59))
                    })
            };
            match wall {
                Some(t) => format!("UNTIL={}Z", t.format(LOCAL_FORMAT)),
                None => part.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join(";")
}

#[cfg(test)]
mod tests;
