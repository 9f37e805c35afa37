//! The IMAP commands the API is made of, on a logged-in connection. Folder names here are
//! IMAP's (modified UTF-7); the callers translate.
//!
//! Reads use EXAMINE and `BODY.PEEK`, so reading a message through the API marks nothing:
//! `POST /messages/{id}/flags` does.

use async_imap::imap_proto::types::{Response, ResponseCode, SectionPath, Status, UidSetMember};
use async_imap::types::{Fetch, Flag, NameAttribute, UnsolicitedResponse};
use futures_util::TryStreamExt as _;

use super::{ImapSession, MailError};
use crate::workspace::mail::parts::{self, Part};

/// How much of each message a listing reads: the header and the start of the body, for the
/// preview (whole messages are read only one at a time).
pub const PREVIEW_BYTES: usize = 16 * 1024;

/// What a folder is for (RFC 6154), as clients are told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpecialUse {
    Inbox,
    Sent,
    Drafts,
    Trash,
    Junk,
    Archive,
}

impl SpecialUse {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inbox => "Inbox",
            Self::Sent => "Sent",
            Self::Drafts => "Drafts",
            Self::Trash => "Trash",
            Self::Junk => "Junk",
            Self::Archive => "Archive",
        }
    }
}

/// A folder of LIST.
#[derive(Clone, Debug)]
pub struct Listed {
    /// As IMAP names it.
    pub name: String,
    pub special_use: Option<SpecialUse>,
    pub selectable: bool,
}

/// A message as FETCH gave it.
#[derive(Debug)]
pub struct Fetched {
    pub uid: u32,
    pub flags: Vec<String>,
    pub size: u32,
    /// When the server stored it, RFC 3339.
    pub internal_date: Option<String>,
    /// The message, or its start.
    pub raw: Vec<u8>,
    /// Its attachments, when BODYSTRUCTURE was asked for.
    pub attachments: Vec<Part>,
}

/// A folder opened, and what it holds.
#[derive(Clone, Copy, Debug)]
pub struct Opened {
    pub uid_validity: u32,
    pub exists: u32,
}

/// Every folder of the mailbox (LIST "" "*"), with what it is for: Dovecot marks the special
/// ones in LIST itself, as Mailcow sets it up.
pub async fn list(session: &mut ImapSession) -> Result<Vec<Listed>, MailError> {
    let names: Vec<_> = session
        .list(Some(""), Some("*"))
        .await?
        .try_collect()
        .await?;
    Ok(names
        .iter()
        .map(|n| {
            let special_use = if n.name().eq_ignore_ascii_case("INBOX") {
                Some(SpecialUse::Inbox)
            } else {
                n.attributes().iter().find_map(|a| match a {
                    NameAttribute::Sent => Some(SpecialUse::Sent),
                    NameAttribute::Drafts => Some(SpecialUse::Drafts),
                    NameAttribute::Trash => Some(SpecialUse::Trash),
                    NameAttribute::Junk => Some(SpecialUse::Junk),
                    NameAttribute::Archive => Some(SpecialUse::Archive),
                    _ => None,
                })
            };
            Listed {
                name: n.name().to_owned(),
                special_use,
                selectable: !n.attributes().iter().any(|a| match a {
                    NameAttribute::NoSelect => true,
                    // RFC 5258's \NonExistent, which imap-proto keeps as an extension.
                    NameAttribute::Extension(other) => other.eq_ignore_ascii_case("\\NonExistent"),
                    _ => false,
                }),
            }
        })
        .collect())
}

/// How many messages a folder holds, and how many of them are unread (STATUS).
pub async fn counts(session: &mut ImapSession, folder: &str) -> Result<(u32, u32), MailError> {
    let status = session.status(folder, "(MESSAGES UNSEEN)").await?;
    Ok((status.exists, status.unseen.unwrap_or(0)))
}

/// The folder for `use_`: the one marked so, else the one of its usual name.
pub async fn special(
    session: &mut ImapSession,
    use_: SpecialUse,
) -> Result<Option<String>, MailError> {
    let folders = list(session).await?;
    if let Some(marked) = folders.iter().find(|f| f.special_use == Some(use_)) {
        return Ok(Some(marked.name.clone()));
    }
    Ok(folders
        .into_iter()
        .find(|f| f.selectable && f.name.eq_ignore_ascii_case(use_.as_str()))
        .map(|f| f.name))
}

/// Opens `folder`, read-only or to change it; `None` when there is no such folder.
pub async fn open(
    session: &mut ImapSession,
    folder: &str,
    write: bool,
) -> Result<Option<Opened>, MailError> {
    let opened = if write {
        session.select(folder).await
    } else {
        session.examine(folder).await
    };
    match opened.map_err(MailError::from) {
        Ok(mailbox) => Ok(Some(Opened {
            uid_validity: mailbox.uid_validity.unwrap_or(0),
            exists: mailbox.exists,
        })),
        Err(MailError::No { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Opens `folder` if it still has the UIDVALIDITY an id was made under; `None` when it has not
/// (its UIDs mean other messages now) or is gone.
pub async fn open_as_of(
    session: &mut ImapSession,
    folder: &str,
    uid_validity: u32,
    write: bool,
) -> Result<Option<Opened>, MailError> {
    Ok(open(session, folder, write)
        .await?
        .filter(|o| o.uid_validity == uid_validity))
}

fn flag_name(flag: &Flag<'_>) -> Option<String> {
    Some(match flag {
        Flag::Seen => "seen".into(),
        Flag::Answered => "answered".into(),
        Flag::Flagged => "flagged".into(),
        Flag::Deleted => "deleted".into(),
        Flag::Draft => "draft".into(),
        Flag::Recent => return None,
        Flag::MayCreate => return None,
        Flag::Custom(keyword) => keyword.to_string(),
    })
}

fn fetched(fetch: &Fetch) -> Option<Fetched> {
    Some(Fetched {
        uid: fetch.uid?,
        flags: fetch.flags().filter_map(|f| flag_name(&f)).collect(),
        size: fetch.size.unwrap_or(0),
        internal_date: fetch.internal_date().map(|d| d.to_rfc3339()),
        raw: fetch.body().map(<[u8]>::to_vec).unwrap_or_default(),
        attachments: fetch
            .bodystructure()
            .map(parts::attachments)
            .unwrap_or_default(),
    })
}

fn listing_query() -> String {
    format!("(UID FLAGS RFC822.SIZE INTERNALDATE BODY.PEEK[]<0.{PREVIEW_BYTES}>)")
}

/// Page `page` (from 1) of `limit` messages of the open folder, newest first: by arrival,
/// which is IMAP's order of sequence numbers.
pub async fn page(
    session: &mut ImapSession,
    opened: Opened,
    page: u32,
    limit: u32,
) -> Result<Vec<Fetched>, MailError> {
    let skip = u64::from(page - 1) * u64::from(limit);
    let Some(newest) = u64::from(opened.exists)
        .checked_sub(skip)
        .filter(|n| *n > 0)
    else {
        return Ok(Vec::new());
    };
    let oldest = newest.saturating_sub(u64::from(limit) - 1).max(1);
    let fetches: Vec<Fetch> = session
        .fetch(format!("{oldest}:{newest}"), listing_query())
        .await?
        .try_collect()
        .await?;
    let mut messages: Vec<Fetched> = fetches.iter().filter_map(fetched).collect();
    messages.sort_by_key(|m| std::cmp::Reverse(m.uid));
    Ok(messages)
}

/// The UIDs of the open folder's messages that hold `text` anywhere (header or body), newest
/// first. The text goes as a LITERAL+ literal (RFC 7888, which Dovecot has), so no character of
/// it can end the command or be taken for syntax.
pub async fn search(session: &mut ImapSession, text: &str) -> Result<Vec<u32>, MailError> {
    let query = format!("CHARSET UTF-8 TEXT {{{}+}}\r\n{text}", text.len());
    let mut uids: Vec<u32> = session.uid_search(query).await?.into_iter().collect();
    uids.sort_unstable_by(|a, b| b.cmp(a));
    Ok(uids)
}

/// Listings of these UIDs of the open folder, newest first.
pub async fn listing(session: &mut ImapSession, uids: &[u32]) -> Result<Vec<Fetched>, MailError> {
    if uids.is_empty() {
        return Ok(Vec::new());
    }
    let set = uid_set(uids);
    let fetches: Vec<Fetch> = session
        .uid_fetch(set, listing_query())
        .await?
        .try_collect()
        .await?;
    let mut messages: Vec<Fetched> = fetches.iter().filter_map(fetched).collect();
    messages.sort_by_key(|m| std::cmp::Reverse(m.uid));
    Ok(messages)
}

fn uid_set(uids: &[u32]) -> String {
    uids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// One message of the open folder, its first `max_bytes` at most, and its attachments (of the
/// whole message); `None` when there is no such UID.
pub async fn message(
    session: &mut ImapSession,
    uid: u32,
    max_bytes: u64,
) -> Result<Option<Fetched>, MailError> {
    let fetches: Vec<Fetch> = session
        .uid_fetch(
            uid.to_string(),
            format!(
                "(UID FLAGS RFC822.SIZE INTERNALDATE BODYSTRUCTURE BODY.PEEK[]<0.{max_bytes}>)"
            ),
        )
        .await?
        .try_collect()
        .await?;
    Ok(fetches.iter().filter_map(fetched).find(|f| f.uid == uid))
}

/// The attachments of one message of the open folder, from its BODYSTRUCTURE; `None` when
/// there is no such UID.
pub async fn attachments(
    session: &mut ImapSession,
    uid: u32,
) -> Result<Option<Vec<Part>>, MailError> {
    let fetches: Vec<Fetch> = session
        .uid_fetch(uid.to_string(), "(UID BODYSTRUCTURE)")
        .await?
        .try_collect()
        .await?;
    Ok(fetches
        .iter()
        .filter_map(fetched)
        .find(|f| f.uid == uid)
        .map(|f| f.attachments))
}

/// At most `len` bytes of one part of a message of the open folder, from `offset` on, as
/// written in the message (RFC 3501 §6.4.5, a partial `BODY.PEEK[section]<offset.len>`): empty
/// past its end, `None` when there is no such UID.
pub async fn part_bytes(
    session: &mut ImapSession,
    uid: u32,
    section: &str,
    offset: u64,
    len: u32,
) -> Result<Option<Vec<u8>>, MailError> {
    let path = SectionPath::Part(
        section.split('.').filter_map(|n| n.parse().ok()).collect(),
        None,
    );
    let fetches: Vec<Fetch> = session
        .uid_fetch(
            uid.to_string(),
            format!("(UID BODY.PEEK[{section}]<{offset}.{len}>)"),
        )
        .await?
        .try_collect()
        .await?;
    Ok(fetches
        .iter()
        .find(|f| f.uid == Some(uid))
        .map(|f| f.section(&path).map(<[u8]>::to_vec).unwrap_or_default()))
}

/// The flags of one message of the open folder; `None` when there is no such UID.
pub async fn flags(session: &mut ImapSession, uid: u32) -> Result<Option<Vec<String>>, MailError> {
    let fetches: Vec<Fetch> = session
        .uid_fetch(uid.to_string(), "(UID FLAGS)")
        .await?
        .try_collect()
        .await?;
    Ok(fetches
        .iter()
        .filter_map(fetched)
        .find(|f| f.uid == uid)
        .map(|f| f.flags))
}

/// Adds (`add`) or removes a system flag (`\Seen`, `\Flagged`, …) on one message of the folder
/// selected to change it.
pub async fn set_flag(
    session: &mut ImapSession,
    uid: u32,
    flag: &str,
    add: bool,
) -> Result<(), MailError> {
    let sign = if add { '+' } else { '-' };
    let _: Vec<Fetch> = session
        .uid_store(uid.to_string(), format!("{sign}FLAGS.SILENT ({flag})"))
        .await?
        .try_collect()
        .await?;
    Ok(())
}

/// Where a message went: its folder's UIDVALIDITY and its UID there (RFC 4315 COPYUID).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Moved {
    pub uid_validity: u32,
    pub uid: u32,
}

/// Moves one message of the selected folder into `target` (RFC 6851 MOVE); where it went when
/// the server says (UIDPLUS's COPYUID, RFC 6851 §4.3: Dovecot sends it in an untagged OK
/// before the EXPUNGE).
pub async fn move_to(
    session: &mut ImapSession,
    uid: u32,
    target: &str,
) -> Result<Option<Moved>, MailError> {
    // What is left over from before is no answer to this MOVE.
    while session.unsolicited_responses.try_recv().is_ok() {}
    session.uid_mv(uid.to_string(), target).await?;
    let mut moved = None;
    while let Ok(response) = session.unsolicited_responses.try_recv() {
        if let UnsolicitedResponse::Other(data) = response {
            if let Response::Data {
                status: Status::Ok,
                code: Some(ResponseCode::CopyUid(uid_validity, from, to)),
                ..
            } = data.parsed()
            {
                moved = copied_uid(uid, from, to).map(|uid| Moved {
                    uid_validity: *uid_validity,
                    uid,
                });
            }
        }
    }
    Ok(moved)
}

/// The UID `uid` has in COPYUID's target set: the one at its place in the source set.
fn copied_uid(uid: u32, from: &[UidSetMember], to: &[UidSetMember]) -> Option<u32> {
    let expand = |set: &[UidSetMember]| -> Vec<u32> {
        set.iter()
            .flat_map(|m| match m {
                UidSetMember::Uid(u) => *u..=*u,
                UidSetMember::UidRange(r) => r.clone(),
            })
            .take(10_000)
            .collect()
    };
    let at = expand(from).iter().position(|u| *u == uid)?;
    expand(to).get(at).copied()
}

/// Deletes one message of the selected folder for good (RFC 4315 UID EXPUNGE: no other
/// message marked deleted goes with it).
pub async fn expunge(session: &mut ImapSession, uid: u32) -> Result<(), MailError> {
    set_flag(session, uid, "\\Deleted", true).await?;
    let _: Vec<u32> = session
        .uid_expunge(uid.to_string())
        .await?
        .try_collect()
        .await?;
    Ok(())
}

/// Stores `raw` in `folder`, marked as read (the copy of a sent message in Sent).
pub async fn append_seen(
    session: &mut ImapSession,
    folder: &str,
    raw: &[u8],
) -> Result<(), MailError> {
    session.append(folder, Some("(\\Seen)"), None, raw).await?;
    Ok(())
}
