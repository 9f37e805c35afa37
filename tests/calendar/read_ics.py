"""Reads a calendar object with Python's `icalendar` (PyPI), as another program would, and
prints what the calendar tests check as JSON: each VEVENT's UID, SUMMARY, METHOD of the
calendar, DTSTART in UTC, its TZID, the ATTENDEEs with their parameters, the ORGANIZER, and the
UTC offsets each VTIMEZONE (turned into a tzinfo by icalendar itself) gives at the local times
named on the command line.

Usage: read_ics.py FILE [LOCAL_TIME...]   (LOCAL_TIME as 2026-07-15T09:00:00)
"""

import datetime
import json
import sys

import icalendar


def main():
    with open(sys.argv[1], "rb") as f:
        calendar = icalendar.Calendar.from_ical(f.read())
    moments = [datetime.datetime.fromisoformat(t) for t in sys.argv[2:]]
    out = {"method": str(calendar.get("METHOD", "")), "events": [], "zones": {}}
    for zone in calendar.walk("VTIMEZONE"):
        tz = zone.to_tz()
        out["zones"][str(zone["TZID"])] = [
            int(tz.utcoffset(m).total_seconds()) for m in moments
        ]
    for event in calendar.walk("VEVENT"):
        start = event["DTSTART"]
        dt = start.dt
        attendees = event.get("ATTENDEE", [])
        if not isinstance(attendees, list):
            attendees = [attendees]
        out["events"].append(
            {
                "uid": str(event["UID"]),
                "summary": str(event.get("SUMMARY", "")),
                "sequence": int(event.get("SEQUENCE", 0)),
                "status": str(event.get("STATUS", "")),
                "start_utc": dt.astimezone(datetime.timezone.utc).isoformat()
                if isinstance(dt, datetime.datetime)
                else dt.isoformat(),
                "tzid": start.params.get("TZID"),
                "organizer": str(event.get("ORGANIZER", "")),
                "attendees": [
                    {"address": str(a), "params": {k: str(v) for k, v in a.params.items()}}
                    for a in attendees
                ],
                "conference": str(event.get("CONFERENCE", "")),
                "location": str(event.get("LOCATION", "")),
                "description": str(event.get("DESCRIPTION", "")),
            }
        )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
