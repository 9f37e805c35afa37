"""Seeds the calendar_events row's month: the bench user's `personal` calendar on the CalDAV
server bench/run starts (tests/caldav/nextcloud_caldav.py), written as a calendar client writes
to Nextcloud, one `.ics` object a PUT with the user's own access token.

What a working month holds: 40 single events on its weekdays (a third of them written in
Asia/Kolkata with its VTIMEZONE, the rest in UTC; some with a place, a description or three
attendees), 4 all-day ones (one of two days), and 3 series begun months before: a weekday
stand-up in Asia/Kolkata, a weekly one-to-one in UTC and a Monday-and-Thursday sync in
Asia/Kolkata with one occurrence moved; each series skips one day of the month (EXDATE). Ten
events in each neighbouring month are left out by the range.

Prints the number of occurrences `GET /api/v1/calendar/events` must list for the month, counted
here from the same rules (a weekday is Monday to Friday, a rule's days are counted in the month,
an EXDATE takes one away, a moved occurrence stays in it), not from bheem-sso's expansion.

usage: calendar_month.py --hub URL --caldav URL --username EMAIL --password-env NAME --month YYYY-MM
"""

import argparse
import datetime as dt
import json
import os
import sys
import urllib.error
import urllib.request

KOLKATA = "Asia/Kolkata"
# India has kept +05:30 without summer time since 1945: one STANDARD part covers every date.
VTIMEZONE_KOLKATA = [
    "BEGIN:VTIMEZONE",
    "TZID:Asia/Kolkata",
    "BEGIN:STANDARD",
    "TZOFFSETFROM:+0530",
    "TZOFFSETTO:+0530",
    "TZNAME:IST",
    "DTSTART:19700101T000000",
    "END:STANDARD",
    "END:VTIMEZONE",
]
TITLES = [
    "Design review",
    "Customer call: Acme",
    "Sprint planning",
    "Hiring interview",
    "Budget review",
    "Architecture sync",
    "Lunch with the partners",
    "Release go/no-go",
    "Security review",
    "Product demo",
    "Quarterly planning",
    "Vendor onboarding",
]
PLACES = ["Room Ganga", "Room Kaveri", "Bengaluru office, 4th floor", None, None]
PEOPLE = [("Asha Rao", "asha"), ("Vikram Iyer", "vikram"), ("Meera Nair", "meera")]
# Nextcloud's calendar app writes this PRODID.
PRODID = "-//IDN nextcloud.com//Calendar app 4.7.6//EN"
STAMP = "20261101T090000Z"


def ical_time(t, zone):
    """A DTSTART/DTEND property's parameters and value: UTC (`Z`) or a local time in `zone`."""
    if zone is None:
        return ":" + t.strftime("%Y%m%dT%H%M%SZ")
    return f";TZID={zone}:" + t.strftime("%Y%m%dT%H%M%S")


def event(uid, title, start, end, zone, extra=()):
    lines = [
        "BEGIN:VEVENT",
        f"UID:{uid}",
        f"DTSTAMP:{STAMP}",
        f"CREATED:{STAMP}",
        f"LAST-MODIFIED:{STAMP}",
        "SEQUENCE:0",
        "STATUS:CONFIRMED",
        f"SUMMARY:{title}",
        "DTSTART" + ical_time(start, zone),
        "DTEND" + ical_time(end, zone),
    ]
    lines.extend(extra)
    lines.append("END:VEVENT")
    return lines


def calendar(events, kolkata):
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{PRODID}", "CALSCALE:GREGORIAN"]
    if kolkata:
        lines.extend(VTIMEZONE_KOLKATA)
    for e in events:
        lines.extend(e)
    lines.append("END:VCALENDAR")
    return "".join(fold(line) for line in lines).encode()


def fold(line):
    """A content line folded at 75 octets as RFC 5545 says (the lines here are ASCII)."""
    parts = [line[:75]] + [" " + line[n : n + 74] for n in range(75, len(line), 74)]
    return "\r\n".join(parts) + "\r\n"


def days(first, last):
    """The dates from `first` up to, not including, `last`."""
    return [first + dt.timedelta(n) for n in range((last - first).days)]


def weekday_on_or_after(day, weekday):
    return day + dt.timedelta((weekday - day.weekday()) % 7)


def single_events(month_days, uid_prefix, count):
    """`count` timed events, two on each weekday in turn; every third in Asia/Kolkata."""
    slots = [(d, h) for d in month_days if d.weekday() < 5 for h in (0, 1)]
    objects = []
    for n, (day, second) in enumerate(slots[:count]):
        kolkata = n % 3 == 0
        # 14:00 or 16:30 in Kolkata (08:30Z, 11:00Z); 09:00 or 15:00 UTC otherwise.
        hour, minute = ((14, 0), (16, 30))[second] if kolkata else ((9, 0), (15, 0))[second]
        start = dt.datetime.combine(day, dt.time(hour, minute))
        end = start + dt.timedelta(minutes=(30, 60, 90)[n % 3])
        extra = []
        place = PLACES[n % len(PLACES)]
        if place:
            extra.append(f"LOCATION:{place}")
        if n % 4 == 1:
            extra.append(f"DESCRIPTION:Agenda in the shared notes. Item {n}.")
        if n % 5 == 2:
            extra.append("ORGANIZER;CN=Bench User:mailto:bench@example.com")
            for name, user in PEOPLE:
                extra.append(
                    f"ATTENDEE;CN={name};PARTSTAT=ACCEPTED;ROLE=REQ-PARTICIPANT:"
                    f"mailto:{user}@example.com"
                )
        uid = f"{uid_prefix}-{n:02}@bench.example"
        title = TITLES[n % len(TITLES)]
        zone = KOLKATA if kolkata else None
        if zone is None:
            start = start.replace(tzinfo=dt.timezone.utc)
            end = end.replace(tzinfo=dt.timezone.utc)
        objects.append((uid, calendar([event(uid, title, start, end, zone, extra)], kolkata)))
    return objects


def all_day(uid, title, first, last):
    """An all-day event from `first` up to, not including, `last`."""
    lines = [
        "BEGIN:VEVENT",
        f"UID:{uid}",
        f"DTSTAMP:{STAMP}",
        f"SUMMARY:{title}",
        f"DTSTART;VALUE=DATE:{first:%Y%m%d}",
        f"DTEND;VALUE=DATE:{last:%Y%m%d}",
        "TRANSP:TRANSPARENT",
        "END:VEVENT",
    ]
    return uid, calendar([lines], False)


def month_objects(first, nxt):
    """The objects to PUT and the number of occurrences in [first, nxt)."""
    month_days = days(first, nxt)
    objects = single_events(month_days, "single", 40)
    expected = 40
    # Ten events in each neighbouring month, which the month's range leaves out.
    before = days(first - dt.timedelta(days=14), first)
    after = days(nxt, nxt + dt.timedelta(days=14))
    objects += single_events(before, "before", 10) + single_events(after, "after", 10)
    # All-day: a two-day offsite, a holiday, a day out of office, a deadline.
    d = lambda n: first + dt.timedelta(n - 1)  # noqa: E731 (the month's day n)
    objects += [
        all_day("offsite@bench.example", "Team offsite", d(10), d(12)),
        all_day("holiday@bench.example", "Office closed", d(25), d(26)),
        all_day("ooo@bench.example", "Rahul out of office", d(18), d(19)),
        all_day("deadline@bench.example", "Quarter report due", d(28), d(29)),
    ]
    expected += 4

    weekdays = [x for x in month_days if x.weekday() < 5]
    # The stand-up: every weekday at 10:00 in Kolkata since about three months before; not on
    # the first weekday on or after the 25th.
    since = weekday_on_or_after(first - dt.timedelta(days=90), 0)
    skip = next(x for x in weekdays if x.day >= 25)
    at = lambda day, h, m=0: dt.datetime.combine(day, dt.time(h, m))  # noqa: E731
    standup = event(
        "standup@bench.example",
        "Daily stand-up",
        at(since, 10),
        at(since, 10, 15),
        KOLKATA,
        [
            "RRULE:FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR",
            f"EXDATE;TZID={KOLKATA}:{at(skip, 10):%Y%m%dT%H%M%S}",
            "LOCATION:https://meet.example/standup",
        ],
    )
    objects.append(("standup@bench.example", calendar([standup], True)))
    expected += len(weekdays) - 1

    # The one-to-one: Wednesdays at 14:00 UTC since about six months before, to a date well
    # after the month; not on the month's second Wednesday.
    since = weekday_on_or_after(first - dt.timedelta(days=180), 2)
    wednesdays = [x for x in month_days if x.weekday() == 2]
    utc = lambda t: t.replace(tzinfo=dt.timezone.utc)  # noqa: E731
    until = nxt + dt.timedelta(days=120)
    one_to_one = event(
        "one-to-one@bench.example",
        "1:1 with Asha",
        utc(at(since, 14)),
        utc(at(since, 14, 30)),
        None,
        [
            f"RRULE:FREQ=WEEKLY;BYDAY=WE;UNTIL={until:%Y%m%d}T000000Z",
            f"EXDATE:{at(wednesdays[1], 14):%Y%m%dT%H%M%S}Z",
        ],
    )
    objects.append(("one-to-one@bench.example", calendar([one_to_one], False)))
    expected += len(wednesdays) - 1

    # The sync: Mondays and Thursdays at 16:00 in Kolkata since about two months before; not on
    # the month's last Thursday; its second Monday moved to 17:00 the next day.
    since = weekday_on_or_after(first - dt.timedelta(days=60), 0)
    mondays = [x for x in month_days if x.weekday() == 0]
    thursdays = [x for x in month_days if x.weekday() == 3]
    moved = mondays[1]
    sync = event(
        "sync@bench.example",
        "Team sync",
        at(since, 16),
        at(since, 17),
        KOLKATA,
        [
            "RRULE:FREQ=WEEKLY;BYDAY=MO,TH",
            f"EXDATE;TZID={KOLKATA}:{at(thursdays[-1], 16):%Y%m%dT%H%M%S}",
        ],
    )
    moved_sync = event(
        "sync@bench.example",
        "Team sync (moved)",
        at(moved + dt.timedelta(days=1), 17),
        at(moved + dt.timedelta(days=1), 18),
        KOLKATA,
        [f"RECURRENCE-ID;TZID={KOLKATA}:{at(moved, 16):%Y%m%dT%H%M%S}"],
    )
    objects.append(("sync@bench.example", calendar([sync, moved_sync], True)))
    expected += len(mondays) + len(thursdays) - 1
    return objects, expected


def request(url, method, headers, body=None):
    """The status and body of one request (no proxy: everything is on 127.0.0.1)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with opener.open(req, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hub", required=True, help="bheem-sso's base URL")
    parser.add_argument("--caldav", required=True, help="the CalDAV server's base URL")
    parser.add_argument("--username", required=True)
    parser.add_argument("--password-env", required=True, help="the variable holding the password")
    parser.add_argument("--month", required=True, help="YYYY-MM")
    args = parser.parse_args()

    first = dt.datetime.strptime(args.month, "%Y-%m").date()
    nxt = (first + dt.timedelta(days=31)).replace(day=1)
    objects, expected = month_objects(first, nxt)

    login = json.dumps(
        {"username": args.username, "password": os.environ[args.password_env]}
    ).encode()
    status, body = request(
        f"{args.hub}/api/v1/auth/login", "POST", {"Content-Type": "application/json"}, login
    )
    if status != 200:
        sys.exit(f"login: {status} {body[:200]!r}")
    token = json.loads(body)["access_token"]
    home = f"{args.caldav}/remote.php/dav/calendars/{args.username}/personal"
    for uid, data in objects:
        status, body = request(
            f"{home}/{uid.split('@')[0]}.ics",
            "PUT",
            {"Authorization": f"Bearer {token}", "Content-Type": "text/calendar; charset=utf-8"},
            data,
        )
        if status not in (201, 204):
            sys.exit(f"PUT {uid}: {status} {body[:300]!r}")
    print(expected)


if __name__ == "__main__":
    main()
