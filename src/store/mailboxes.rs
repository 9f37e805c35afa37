//! Which user each Mailcow mailbox was made for. Mailcow itself cannot say (its mailboxes have
//! no owner but the address), and it opens the mailbox named by the `email` it receives, so the
//! hub keeps the owner and never hands one user's address to another.

use anyhow::Context;

use super::Db;
use crate::clock::UnixTime;

/// What claiming an address for a user found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxClaim {
    /// This user's: claimed now, or by an earlier attempt for them.
    Ours,
    /// Another user's.
    Taken { user_id: String },
}

impl Db {
    /// Claims `address` for `user_id` unless it is someone's already.
    pub async fn claim_mailbox(
        &self,
        address: &str,
        user_id: &str,
        company_id: &str,
        now: UnixTime,
    ) -> anyhow::Result<MailboxClaim> {
        let inserted = sqlx::query(
            "INSERT INTO mailboxes (address, user_id, company_id, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (address) DO NOTHING",
        )
        .bind(address.to_owned())
        .bind(user_id.to_owned())
        .bind(company_id.to_owned())
        .bind(now)
        .execute(self.pool())
        .await
        .with_context(|| format!("claiming mailbox {address}"))?
        .rows_affected();
        if inserted == 1 {
            return Ok(MailboxClaim::Ours);
        }
        let owner: String = sqlx::query_scalar("SELECT user_id FROM mailboxes WHERE address = $1")
            .bind(address.to_owned())
            .fetch_one(self.pool())
            .await
            .with_context(|| format!("reading the owner of mailbox {address}"))?;
        Ok(if owner == user_id {
            MailboxClaim::Ours
        } else {
            MailboxClaim::Taken { user_id: owner }
        })
    }

    /// Mailcow has the mailbox: from now on it is released as the user's `email`.
    pub async fn confirm_mailbox(
        &self,
        address: &str,
        user_id: &str,
        now: UnixTime,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE mailboxes SET confirmed_at = $1 \
             WHERE address = $2 AND user_id = $3 AND confirmed_at IS NULL",
        )
        .bind(now)
        .bind(address.to_owned())
        .bind(user_id.to_owned())
        .execute(self.pool())
        .await
        .with_context(|| format!("confirming mailbox {address}"))?;
        Ok(())
    }

    /// Gives up this user's claim on an address Mailcow did not make for them. A confirmed
    /// mailbox stays theirs.
    pub async fn release_mailbox(&self, address: &str, user_id: &str) -> anyhow::Result<()> {
        sqlx::query(
            "DELETE FROM mailboxes WHERE address = $1 AND user_id = $2 AND confirmed_at IS NULL",
        )
        .bind(address.to_owned())
        .bind(user_id.to_owned())
        .execute(self.pool())
        .await
        .with_context(|| format!("releasing mailbox {address}"))?;
        Ok(())
    }

    /// The mailboxes Mailcow has for this user, oldest first.
    pub async fn confirmed_mailboxes(&self, user_id: &str) -> anyhow::Result<Vec<String>> {
        sqlx::query_scalar(
            "SELECT address FROM mailboxes WHERE user_id = $1 AND confirmed_at IS NOT NULL \
             ORDER BY confirmed_at, address",
        )
        .bind(user_id.to_owned())
        .fetch_all(self.pool())
        .await
        .with_context(|| format!("listing the mailboxes of user {user_id}"))
    }

    /// The address of the user's own mailbox: the first one Mailcow confirmed for them, else
    /// `email`, the directory's, lowercased (a mailbox made outside the hub).
    pub async fn own_mailbox(&self, user_id: &str, email: &str) -> anyhow::Result<String> {
        let made = self.confirmed_mailboxes(user_id).await?;
        Ok(made
            .into_iter()
            .next()
            .unwrap_or_else(|| email.to_lowercase()))
    }

    /// The addresses the hub recorded for users of a company, made or being made: on a mail
    /// domain several companies share, these are the company's mailboxes.
    pub async fn company_mailboxes(&self, company_id: &str) -> anyhow::Result<Vec<String>> {
        sqlx::query_scalar("SELECT address FROM mailboxes WHERE company_id = $1 ORDER BY address")
            .bind(company_id.to_owned())
            .fetch_all(self.pool())
            .await
            .with_context(|| format!("listing the mailboxes of company {company_id}"))
    }
}
