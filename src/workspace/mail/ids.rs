//! Message ids as clients see them: opaque, and naming one message of one mailbox for as long as
//! its folder keeps its UIDVALIDITY (RFC 3501 §2.3.1.1).
//!
//! An id is base64url of a version byte, a tag of the mailbox it came from, the folder's
//! UIDVALIDITY and the message's UID, and the folder's name. The tag is no secret and guards
//! nothing by itself (every IMAP call logs in as the caller's own mailbox): it makes an id of
//! another person's message a 404 instead of a look-up of the same UID in the caller's own folder,
//! which Dovecot may well number alike (UIDVALIDITY is the folder's creation time).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

const VERSION: u8 = 1;
const TAG_LEN: usize = 6;
const HEAD_LEN: usize = 1 + TAG_LEN + 4 + 4;

/// One message of one of the caller's folders.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageId {
    /// The folder as the client names it (not IMAP's modified UTF-7).
    pub folder: String,
    pub uid_validity: u32,
    pub uid: u32,
}

fn tag(address: &str) -> [u8; TAG_LEN] {
    let digest = Sha256::digest(address.to_lowercase().as_bytes());
    let mut tag = [0; TAG_LEN];
    tag.copy_from_slice(&digest[..TAG_LEN]);
    tag
}

impl MessageId {
    /// The id of this message of `address`'s mailbox.
    pub fn encode(&self, address: &str) -> String {
        let mut bytes = Vec::with_capacity(HEAD_LEN + self.folder.len());
        bytes.push(VERSION);
        bytes.extend_from_slice(&tag(address));
        bytes.extend_from_slice(&self.uid_validity.to_be_bytes());
        bytes.extend_from_slice(&self.uid.to_be_bytes());
        bytes.extend_from_slice(self.folder.as_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The message `id` names in `address`'s mailbox; `None` for anything else (not an id, or
    /// one of another mailbox), which the caller answers as a missing message.
    pub fn decode(id: &str, address: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(id).ok()?;
        if bytes.len() <= HEAD_LEN || bytes[0] != VERSION || bytes[1..=TAG_LEN] != tag(address) {
            return None;
        }
        let number = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
        let uid = number(1 + TAG_LEN + 4);
        let folder = String::from_utf8(bytes[HEAD_LEN..].to_vec()).ok()?;
        if uid == 0 || folder.chars().any(char::is_control) {
            return None;
        }
        Some(Self {
            folder,
            uid_validity: number(1 + TAG_LEN),
            uid,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_names_its_message_in_its_own_mailbox_only() {
        let id = MessageId {
            folder: "Projekte/Straße".into(),
            uid_validity: 1_700_000_000,
            uid: 42,
        };
        let text = id.encode("alice@acme.example");
        assert!(text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(MessageId::decode(&text, "Alice@Acme.example"), Some(id));
        assert_eq!(MessageId::decode(&text, "eve@globex.example"), None);
        for bad in ["", "AAAA", "not an id!", &text[..text.len() - 1]] {
            let decoded = MessageId::decode(bad, "alice@acme.example");
            assert!(
                decoded.is_none_or(|d| d.folder != "Projekte/Straße"),
                "{bad}"
            );
        }
    }
}
