//! Recurring events expanded into their occurrences in a range, here rather than by the CalDAV
//! server (whose `c:expand` Nextcloud and Radicale each do their own way): the master's RRULE,
//! RDATEs and EXDATEs (RFC 5545 §3.8.5) with the `rrule` crate, and the occurrences that other
//! events of the object override by their RECURRENCE-ID (§3.8.4.4).
//!
//! The rule is expanded in the master's wall-clock time (UTC standing in for its zone in
//! `rrule`), and each occurrence then placed in its zone: a meeting at 09:00 Europe/Berlin
//! stays at 09:00 there when the clocks change, as RFC 5545 §3.3.10 asks.

use chrono::{DateTime, Datelike, Duration, NaiveDateTime, Utc};

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

/// What one listing may spend expanding series: the dates `rrule` generates for all its objects
/// together. A series is expanded from a start moved near the range (see [`start_near`]), so
/// even one that repeats every second since 1900 costs about what it lists; what is left (a
/// `COUNT` in the millions, a dense rule by the month since year 1) is cut off here, never left
/// to run.
#[derive(Debug)]
pub struct Budget {
    left: usize,
}

impl Budget {
    /// A listing's: some 50 to 250 ms of one core at `rrule`'s pace.
    pub const LISTING: usize = 250_000;

    pub fn new(dates: usize) -> Self {
        Self { left: dates }
    }

    fn spend(&mut self) -> bool {
        if self.left == 0 {
            return false;
        }
        self.left -= 1;
        true
    }
}

/// The occurrences of one object listed in a range.
#[derive(Debug)]
pub struct Listed<'a> {
    /// By start, the first `limit` at most.
    pub occurrences: Vec<Occurrence<'a>>,
    /// Set when occurrences were left out for the limit: the start of the first of them (all
    /// listed start at or before it).
    pub cut: Option<DateTime<Utc>>,
    /// The budget ran out before the series was expanded through the range: occurrences of it
    /// after those listed may be missing.
    pub exhausted: bool,
}

impl Listed<'_> {
    /// Whether occurrences in the range are left out.
    pub fn truncated(&self) -> bool {
        self.cut.is_some() || self.exhausted
    }
}

/// The occurrences of `object` that overlap `range`: the first `limit` of them by start, a
/// series expanded with what is left of `budget`.
pub fn occurrences<'a>(
    object: &'a ObjectEvents,
    range: Range,
    limit: usize,
    budget: &mut Budget,
) -> Listed<'a> {
    let mut found = Vec::new();
    let mut cut = None;
    let mut exhausted = false;
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
            let series = series(master, &overridden, range, limit, budget);
            cut = series.cut;
            exhausted = series.exhausted;
            found.extend(
                series
                    .occurrences
                    .into_iter()
                    .map(|(start, end)| Occurrence {
                        event: master,
                        recurrence_id: Some(start.clone()),
                        start,
                        end,
                    }),
            );
        }
    }
    found.sort_by_key(|o| o.start.utc());
    if let Some(at) = cut {
        found.retain(|o| o.start.utc() <= at);
    }
    if found.len() > limit {
        let first_left_out = found[limit].start.utc();
        cut = Some(cut.map_or(first_left_out, |at| at.min(first_left_out)));
        found.truncate(limit);
    }
    Listed {
        occurrences: found,
        cut,
        exhausted,
    }
}

/// Whether `[start, end)` meets the range; an event without duration is in the range its
/// instant is in.
fn overlaps(start: &Moment, end: &Moment, range: Range) -> bool {
    let (start, end) = (start.utc(), end.utc());
    start < range.end && (end > range.start || (start == end && start >= range.start))
}

/// A master's occurrences in the range, as [`Listed`] has them.
struct Series {
    occurrences: Vec<(Moment, Moment)>,
    cut: Option<DateTime<Utc>>,
    exhausted: bool,
}

/// The master's occurrences (starts and ends) that meet the range and are not `overridden`,
/// expanded in its wall-clock time: the first `limit`, and the start of the next if there is
/// one. Each date `rrule` generates is paid for from `budget`.
fn series(
    master: &EventData,
    overridden: &[DateTime<Utc>],
    range: Range,
    limit: usize,
    budget: &mut Budget,
) -> Series {
    let (base, zone) = wall_clock(&master.start);
    let length = master.end.utc() - master.start.utc();
    // Wall-clock time and UTC differ by a fixed offset in UTC or no zone; elsewhere by less
    // than a day of slack each side.
    let slack = match zone {
        Zone::Utc | Zone::Floating => Duration::zero(),
        Zone::Iana(_) | Zone::Defined(..) => Duration::days(1),
    };
    let from = zone.to_local(range.start) - length - slack;
    let to = zone.to_local(range.end) + slack;
    let as_rrule = |t: NaiveDateTime| t.and_utc().with_timezone(&rrule::Tz::UTC);
    let mut set = rrule::RRuleSet::new(as_rrule(base));
    if let Some(rule) = &master.recurrence {
        let rule = until_in_wall_clock(rule, &zone);
        // Checked against the series' own start, which fills in what the rule leaves to it
        // (the day, the weekday, the time): the rule then means the same from a later start.
        match rule
            .parse::<rrule::RRule<rrule::Unvalidated>>()
            .and_then(|r| r.validate(as_rrule(base)))
        {
            Ok(rule) => {
                set = rrule::RRuleSet::new(as_rrule(start_near(&rule, base, from))).rrule(rule);
            }
            Err(e) => {
                tracing::info!(error = %e, "an event's RRULE does not parse: only its first occurrence is listed");
                set = set.rdate(as_rrule(base));
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
    let place = |local: NaiveDateTime| match &master.start {
        Moment::Date(_) => {
            let days = length.num_days().max(1);
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
    };
    // `limit()`: `rrule` gives up on a rule that stops matching rather than search forever.
    let set = set.limit();
    let mut dates = set.into_iter();
    let mut found: Vec<(Moment, Moment)> = Vec::new();
    let mut exhausted = false;
    loop {
        if !budget.spend() {
            exhausted = true;
            break;
        }
        let Some(t) = dates.next() else { break };
        let local = t.naive_utc();
        if local > to {
            break;
        }
        if local < from {
            continue;
        }
        let (start, end) = place(local);
        if overridden.contains(&start.utc()) || !overlaps(&start, &end, range) {
            continue;
        }
        found.push((start, end));
        if found.len() > limit {
            break;
        }
    }
    if exhausted {
        tracing::info!(
            listed = found.len(),
            "a series too costly to expand through the range is cut short"
        );
    }
    found.sort_by_key(|(start, _)| start.utc());
    let cut = (found.len() > limit).then(|| found[limit].0.utc());
    found.truncate(limit);
    Series {
        occurrences: found,
        cut,
        exhausted,
    }
}

/// Where to expand `rule` from so that its first dates are near `from`, rather than every one
/// since `base` (the series' start): the latest start at or before `from` a whole number of the
/// rule's periods (`INTERVAL` × `FREQ`) after `base`, which the rule, checked against `base`,
/// repeats from exactly as from `base`. A rule with a `COUNT` counts from `base`: kept.
pub(in crate::workspace::calendar) fn start_near(
    rule: &rrule::RRule,
    base: NaiveDateTime,
    from: NaiveDateTime,
) -> NaiveDateTime {
    use rrule::Frequency;
    if rule.get_count().is_some() || from <= base {
        return base;
    }
    let n = i64::from(rule.get_interval().max(1));
    let period = match rule.get_freq() {
        Frequency::Secondly => Duration::seconds(n),
        Frequency::Minutely => Duration::minutes(n),
        Frequency::Hourly => Duration::hours(n),
        Frequency::Daily => Duration::days(n),
        Frequency::Weekly => Duration::weeks(n),
        Frequency::Monthly | Frequency::Yearly => {
            let months = if rule.get_freq() == Frequency::Monthly {
                n
            } else {
                12 * n
            };
            let elapsed = i64::from(from.year() - base.year()) * 12 + i64::from(from.month())
                - i64::from(base.month());
            let mut steps = elapsed / months;
            while steps > 0 {
                // A later month may be shorter: the day is then its last, still in the period.
                let shifted = u32::try_from(steps * months)
                    .ok()
                    .and_then(|m| base.checked_add_months(chrono::Months::new(m)));
                match shifted {
                    Some(start) if start <= from => return start,
                    _ => steps -= 1,
                }
            }
            return base;
        }
    };
    let steps = (from - base).num_seconds() / period.num_seconds();
    base + Duration::seconds(steps * period.num_seconds())
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
