//! Calendar invitations (iMIP, RFC 6047): an event's `REQUEST` or `CANCEL` mailed from its
//! organizer's mailbox to its attendees, submitted over SMTP as the organizer with `[mail]`'s
//! master-user login.
//!
//! The message is what Google Calendar and Outlook send and what mail clients show as an
//! invitation with its buttons: a multipart/alternative of the text and the event as
//! `text/calendar; method=…` (RFC 6047 §2.4), and the same event once more as an `invite.ics`
//! attachment for the clients that only offer attachments. The job carries the iCalendar
//! whole, written by the calendar area; here it is only checked to carry the job's METHOD, as
//! RFC 6047 §2.4 asks of the part's `method` parameter.
//!
//! The organizer is read from the directory when the job runs: one gone or disabled since
//! cannot send. Neither the master password nor the message is logged.

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::{Address, Message};

use super::{Outcome, Provisioning};
use crate::smtp::{SubmitError, Submitter};
use crate::store::outbox::CalendarInvitation;

/// The iTIP methods (RFC 5546 §1.4) the calendar sends.
const METHODS: [&str; 2] = ["REQUEST", "CANCEL"];

/// Mails `invitation`: done once the submission server took it.
pub async fn deliver(provisioning: &Provisioning, invitation: &CalendarInvitation) -> Outcome {
    let Some(mail) = &provisioning.config.mail else {
        return Outcome::Fail(
            "[mail] is not configured: calendar invitations cannot be sent".to_owned(),
        );
    };
    let organizer = match provisioning
        .directory
        .find_by_id(&invitation.organizer_user_id)
        .await
    {
        Ok(Some(user)) => user,
        Ok(None) => {
            return Outcome::Fail(format!(
                "the organizer {} is not in the directory",
                invitation.organizer_user_id
            ))
        }
        Err(e) => return Outcome::Retry(format!("reading the organizer: {e:#}")),
    };
    if !organizer.active {
        return Outcome::Fail(format!(
            "the organizer {} is disabled",
            invitation.organizer_user_id
        ));
    }
    if organizer.company_id.to_string() != invitation.company_id {
        return Outcome::Fail(format!(
            "the organizer {} is not of company {}",
            invitation.organizer_user_id, invitation.company_id
        ));
    }
    let address = match provisioning
        .db
        .own_mailbox(&organizer.id, &organizer.email)
        .await
    {
        Ok(address) => address,
        Err(e) => return Outcome::Retry(format!("reading the organizer's mailbox: {e:#}")),
    };
    let from = match address.parse::<Address>() {
        Ok(email) => Mailbox::new(Some(one_line(&organizer.name)), email),
        Err(e) => {
            return Outcome::Fail(format!(
                "the organizer's address {address:?} is not an address: {e}"
            ))
        }
    };
    let message = match compose(from, invitation) {
        Ok(message) => message,
        Err(problem) => return Outcome::Fail(problem),
    };
    match Submitter::new(mail).submit(&address, &message).await {
        Ok(()) => Outcome::Done,
        Err(
            e @ (SubmitError::Unreachable(_)
            | SubmitError::Timeout
            | SubmitError::Transient(_)
            | SubmitError::Broken(_)),
        ) => Outcome::Retry(e.to_string()),
        Err(e @ SubmitError::LoginRefused(_)) => Outcome::Fail(format!(
            "{e} (is [mail] master_user Dovecot's master user with this password, and does the \
             organizer's mailbox {address} exist?)"
        )),
        Err(e @ SubmitError::Permanent(_)) => Outcome::Fail(e.to_string()),
    }
}

/// The iMIP message from `from` to the invitation's recipients, or why it cannot be written
/// (a payload no retry will mend).
pub fn compose(from: Mailbox, invitation: &CalendarInvitation) -> Result<Message, String> {
    let method = invitation.method.as_str();
    if !METHODS.contains(&method) {
        return Err(format!(
            "{method:?} is not an iTIP method the calendar sends"
        ));
    }
    if !carries_method(&invitation.ics, method) {
        return Err(format!("the iCalendar does not carry METHOD:{method}"));
    }
    if invitation.recipients.is_empty() {
        return Err("the invitation has no recipients".to_owned());
    }
    let calendar_type =
        ContentType::parse(&format!("text/calendar; method={method}; charset=UTF-8"))
            .expect("a valid content type");
    let attachment_type =
        ContentType::parse("application/ics; name=\"invite.ics\"").expect("a valid content type");
    let domain = from.email.domain().to_owned();
    let mut builder = Message::builder()
        .from(from)
        .subject(one_line(&invitation.subject))
        .message_id(Some(format!("<{}@{domain}>", uuid::Uuid::new_v4())))
        .date_now();
    for recipient in &invitation.recipients {
        let address = recipient
            .parse::<Address>()
            .map_err(|e| format!("the recipient {recipient:?} is not an address: {e}"))?;
        builder = builder.to(Mailbox::new(None, address));
    }
    let alternative = MultiPart::alternative()
        .singlepart(SinglePart::plain(invitation.text.clone()))
        .singlepart(
            SinglePart::builder()
                .header(calendar_type)
                .body(invitation.ics.clone()),
        );
    let body = MultiPart::mixed().multipart(alternative).singlepart(
        Attachment::new("invite.ics".to_owned()).body(invitation.ics.clone(), attachment_type),
    );
    builder
        .multipart(body)
        .map_err(|e| format!("writing the invitation: {e}"))
}

/// Whether the iCalendar object's METHOD property (RFC 5545 §3.7.2) is `method`.
fn carries_method(ics: &str, method: &str) -> bool {
    ics.lines().any(|line| {
        line.trim_end_matches('\r')
            .split_once(':')
            .is_some_and(|(name, value)| name.eq_ignore_ascii_case("METHOD") && value == method)
    })
}

/// `text` as one header line: control characters (a CR or LF most of all) become spaces.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invitation(method: &str, ics_method: &str) -> CalendarInvitation {
        CalendarInvitation {
            company_id: "c1".into(),
            organizer_user_id: "u1".into(),
            event_uid: "e1@bheem".into(),
            sequence: 0,
            method: method.into(),
            recipients: vec!["bob@acme.example".into(), "carol@elsewhere.example".into()],
            subject: "Invitation: Standup\r\nBcc: mallory@evil.example".into(),
            text: "Standup, every Monday".into(),
            ics: format!(
                "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Bheem//EN\r\nMETHOD:{ics_method}\r\n\
                 BEGIN:VEVENT\r\nUID:e1@bheem\r\nDTSTAMP:20251201T000000Z\r\n\
                 DTSTART:20251201T033000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
            ),
        }
    }

    use mail_parser::MimeHeaders as _;

    fn alice() -> Mailbox {
        "Alice Example <alice@acme.example>".parse().unwrap()
    }

    #[test]
    fn the_message_is_text_beside_the_calendar_with_the_event_attached() {
        let message = compose(alice(), &invitation("REQUEST", "REQUEST")).unwrap();
        let raw = String::from_utf8(message.formatted()).unwrap();
        let parsed = mail_parser::MessageParser::default()
            .parse(raw.as_bytes())
            .unwrap();
        assert_eq!(
            parsed.from().unwrap().first().unwrap().address(),
            Some("alice@acme.example")
        );
        let to: Vec<_> = parsed
            .to()
            .unwrap()
            .iter()
            .filter_map(|a| a.address())
            .collect();
        assert_eq!(to, ["bob@acme.example", "carol@elsewhere.example"]);
        // The subject's line break stayed in the subject: no Bcc header was added.
        assert!(parsed.bcc().is_none(), "{raw}");
        assert!(parsed.subject().unwrap().starts_with("Invitation: Standup"));
        let calendar = parsed
            .parts
            .iter()
            .find(|p| {
                p.content_type()
                    .is_some_and(|c| c.ctype() == "text" && c.subtype() == Some("calendar"))
            })
            .expect("a text/calendar part");
        let content_type = calendar.content_type().unwrap();
        assert_eq!(content_type.attribute("method"), Some("REQUEST"));
        assert!(calendar.text_contents().unwrap().contains("UID:e1@bheem"));
        let attachment = parsed
            .attachments()
            .find(|a| a.attachment_name() == Some("invite.ics"))
            .expect("invite.ics attached");
        assert!(attachment
            .text_contents()
            .unwrap()
            .contains("METHOD:REQUEST"));
        assert_eq!(parsed.body_text(0).unwrap(), "Standup, every Monday");
    }

    #[test]
    fn an_unknown_method_or_one_the_ics_does_not_carry_is_refused() {
        let unknown = compose(alice(), &invitation("PUBLISH", "PUBLISH")).unwrap_err();
        assert!(unknown.contains("PUBLISH"), "{unknown}");
        let mismatch = compose(alice(), &invitation("CANCEL", "REQUEST")).unwrap_err();
        assert_eq!(mismatch, "the iCalendar does not carry METHOD:CANCEL");
        let mut none = invitation("REQUEST", "REQUEST");
        none.recipients.clear();
        assert!(compose(alice(), &none).is_err());
        let mut bad = invitation("REQUEST", "REQUEST");
        bad.recipients.push("not an address".into());
        assert!(compose(alice(), &bad)
            .unwrap_err()
            .contains("not an address"));
    }
}
