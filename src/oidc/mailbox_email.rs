//! `email_claim = "mailbox"`: the `email` a client such as Mailcow is given is the address of the
//! user's own mailbox, since Mailcow opens whatever mailbox `email` names.

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::client::Client;
use crate::config::EmailClaim;
use crate::directory::User;

/// Where the user's mailbox address comes from: the provisioning layer, which records the
/// mailboxes it makes and can make one on demand. A trait here so that token issuance does not
/// depend on provisioning, which depends on it.
#[async_trait]
pub trait MailboxAddresses: Send + Sync {
    /// The address of the user's own mailbox, `None` when the hub has none for them.
    async fn address_of(&self, user: &User) -> anyhow::Result<Option<String>>;
}

/// For a client with `email_claim = "mailbox"`: `email` becomes the user's mailbox address, or
/// goes (with `email_verified`) when there is none. Other clients' claims are left alone, and
/// so are claims without an `email` (the scope did not ask for it).
pub async fn apply(
    mailboxes: &dyn MailboxAddresses,
    client: &Client,
    user: &User,
    claims: &mut Map<String, Value>,
) -> anyhow::Result<()> {
    if client.email_claim != EmailClaim::Mailbox || !claims.contains_key("email") {
        return Ok(());
    }
    match mailboxes.address_of(user).await? {
        Some(address) => {
            claims.insert("email".into(), Value::from(address));
        }
        None => {
            claims.remove("email");
            claims.remove("email_verified");
        }
    }
    Ok(())
}
