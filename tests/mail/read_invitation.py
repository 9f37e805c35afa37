"""Reads a calendar invitation (iMIP, RFC 6047) as a mail client does: the raw message on
standard input is parsed with the standard library's `email`, its text/calendar part with PyPI's
`icalendar`, and what was found is printed as one JSON object for the test to check:

    from, to, subject, text            the headers and the text/plain part
    alternative                        the content types inside multipart/alternative
    part_method, part_charset          the text/calendar part's `method` and `charset`
    method                             the VCALENDAR's METHOD
    events                             each VEVENT: uid, sequence, summary, status, organizer
                                       (address, cn) and attendees (address, cn, partstat, rsvp)
    attachment                         the `invite.ics` attachment: content type, and whether it
                                       is the same calendar as the inline part

A message without a text/calendar part, or one icalendar cannot read, exits non-zero with why.
"""

import email
import email.policy
import json
import sys

import icalendar


def address(value):
    """`mailto:bob@acme.example` → `bob@acme.example`."""
    text = str(value)
    return text[len("mailto:") :] if text.lower().startswith("mailto:") else text


def param(prop, name):
    value = prop.params.get(name)
    return None if value is None else str(value)


def person(prop):
    return {
        "address": address(prop),
        "cn": param(prop, "CN"),
        "partstat": param(prop, "PARTSTAT"),
        "rsvp": param(prop, "RSVP"),
    }


def event_facts(event):
    attendees = event.get("ATTENDEE", [])
    if not isinstance(attendees, list):
        attendees = [attendees]
    organizer = event.get("ORGANIZER")
    return {
        "uid": str(event.get("UID")),
        "sequence": int(event.get("SEQUENCE", 0)),
        "summary": str(event.get("SUMMARY", "")),
        "status": str(event["STATUS"]) if "STATUS" in event else None,
        "organizer": person(organizer) if organizer is not None else None,
        "attendees": [person(a) for a in attendees],
    }


def main():
    message = email.message_from_binary_file(sys.stdin.buffer, policy=email.policy.default)
    calendar_part = None
    alternative = []
    attachment = None
    text = None
    for part in message.walk():
        if part.get_content_type() == "multipart/alternative":
            alternative = [p.get_content_type() for p in part.iter_parts()]
        elif part.get_filename() == "invite.ics":
            attachment = part
        elif part.get_content_type() == "text/calendar" and calendar_part is None:
            calendar_part = part
        elif part.get_content_type() == "text/plain" and text is None:
            text = part.get_content()
    if calendar_part is None:
        sys.exit("no text/calendar part in the message")
    inline = calendar_part.get_payload(decode=True)
    calendar = icalendar.Calendar.from_ical(inline)
    facts = {
        "from": str(message["From"]),
        "to": [str(a.addr_spec) for a in message["To"].addresses],
        "subject": str(message["Subject"]),
        "text": text,
        "alternative": alternative,
        "part_method": calendar_part.get_param("method"),
        "part_charset": calendar_part.get_param("charset"),
        "method": str(calendar.get("METHOD")) if "METHOD" in calendar else None,
        "events": [event_facts(e) for e in calendar.walk("VEVENT")],
        "attachment": None,
    }
    if attachment is not None:
        attached = icalendar.Calendar.from_ical(attachment.get_payload(decode=True))
        facts["attachment"] = {
            "content_type": attachment.get_content_type(),
            "same_calendar": attached.to_ical() == calendar.to_ical(),
        }
    json.dump(facts, sys.stdout)


if __name__ == "__main__":
    main()
