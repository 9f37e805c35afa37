//! Where users live. `ErpDirectory` reads the ERP's `auth.users`; `LocalDirectory` keeps users
//! in the provider's own database for the embedded default. Both sit behind one trait; checking
//! a password against them is the login layer's (`crate::login`).

mod erp;
pub mod erp_check;
mod local;

pub use erp::ErpDirectory;
pub use local::LocalDirectory;

use async_trait::async_trait;
use uuid::Uuid;

use crate::store::users::UserLookup;

/// Why a directory's [`Directory::ping`] failed.
#[derive(Debug)]
pub enum PingError {
    /// It does not answer (down, refused, timed out). The cause may name hosts and users: it is
    /// logged, not shown.
    Unavailable(anyhow::Error),
    /// It answers, but its table is not what the configuration says (a column missing, a grant
    /// missing): every login fails until the configuration or the grants are fixed. The reason
    /// names configuration keys, tables and columns only, so `/health` shows it.
    Misconfigured(String),
}

impl From<anyhow::Error> for PingError {
    fn from(e: anyhow::Error) -> Self {
        Self::Unavailable(e)
    }
}

/// A person as the directory knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Stable id, the `sub` claim.
    pub id: String,
    pub email: String,
    pub username: Option<String>,
    pub name: String,
    pub company_id: Uuid,
    pub role: String,
    pub active: bool,
}

/// A user with their stored password hash, as found for a login.
#[derive(Clone)]
pub struct Credentials {
    pub user: User,
    pub password_hash: Option<String>,
}

/// What a look-up by email or username found.
#[derive(Clone)]
pub enum FoundLogin {
    Account(Credentials),
    /// An account the directory holds without a valid company id (an ERP row): tokens are
    /// company-scoped, so it cannot log in; the operator is told which one.
    NoCompany {
        user_id: String,
    },
    Nobody,
}

impl FoundLogin {
    /// The account's credentials, when it is one that can log in.
    pub fn into_credentials(self) -> Option<Credentials> {
        match self {
            Self::Account(credentials) => Some(credentials),
            Self::NoCompany { .. } | Self::Nobody => None,
        }
    }
}

#[async_trait]
pub trait Directory: Send + Sync {
    /// Look-up by email or username, case-insensitively.
    async fn find_by_login(&self, login: &str) -> anyhow::Result<FoundLogin>;
    async fn find_by_id(&self, id: &str) -> anyhow::Result<Option<User>>;
    /// Replaces a legacy hash after a successful login; only called when [`Directory::rehash_enabled`].
    async fn replace_password_hash(&self, id: &str, hash: &str) -> anyhow::Result<()>;
    fn rehash_enabled(&self) -> bool;
    /// For logs and `/health`: `local` or `erp`.
    fn kind(&self) -> &'static str;
    /// Whether the users live in the provider's own database, so that a look-up of a token or
    /// code can bring its user along in the same statement ([`UserLookup`], [`user_by_id`]).
    fn in_provider_database(&self) -> bool {
        false
    }
    /// Cheap enough for every health request: one round trip when all is well.
    async fn ping(&self) -> Result<(), PingError>;
}

/// The user `id`: the one a look-up brought along when it was asked to ([`UserLookup`]), else
/// the directory's answer.
pub async fn user_by_id(
    directory: &dyn Directory,
    joined: UserLookup,
    id: &str,
) -> anyhow::Result<Option<User>> {
    match joined {
        UserLookup::NotAsked => directory.find_by_id(id).await,
        UserLookup::Gone => Ok(None),
        UserLookup::Found(user) => Ok(Some(User::from(user))),
    }
}

/// A directory for unit tests: it knows nobody and counts how often it is asked.
#[cfg(test)]
pub(crate) mod counting {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;

    use super::{Directory, FoundLogin, PingError, User};

    #[derive(Default)]
    pub(crate) struct Counting {
        pub lookups_by_login: AtomicUsize,
        pub lookups_by_id: AtomicUsize,
    }

    impl Counting {
        pub fn by_login(&self) -> usize {
            self.lookups_by_login.load(Ordering::SeqCst)
        }

        pub fn by_id(&self) -> usize {
            self.lookups_by_id.load(Ordering::SeqCst)
        }
    }

    #[async_trait]
    impl Directory for Counting {
        async fn find_by_login(&self, _login: &str) -> anyhow::Result<FoundLogin> {
            self.lookups_by_login.fetch_add(1, Ordering::SeqCst);
            Ok(FoundLogin::Nobody)
        }
        async fn find_by_id(&self, _id: &str) -> anyhow::Result<Option<User>> {
            self.lookups_by_id.fetch_add(1, Ordering::SeqCst);
            Ok(None)
        }
        async fn replace_password_hash(&self, _id: &str, _hash: &str) -> anyhow::Result<()> {
            anyhow::bail!("not used")
        }
        fn rehash_enabled(&self) -> bool {
            false
        }
        fn kind(&self) -> &'static str {
            "counting"
        }
        async fn ping(&self) -> Result<(), PingError> {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::counting::Counting;
    use super::*;

    #[tokio::test]
    async fn only_a_user_not_asked_for_is_looked_up_in_the_directory() {
        let directory = Counting::default();
        let local = crate::store::users::LocalUser {
            id: uuid::Uuid::nil(),
            email: crate::domain::Email::parse("ann@example.com").unwrap(),
            username: None,
            display_name: "Ann".into(),
            company_id: uuid::Uuid::nil(),
            role: "member".into(),
            active: true,
            password_hash: String::new(),
            created_at: 0,
        };
        let id = local.id.to_string();
        let found = user_by_id(&directory, UserLookup::Found(local), &id).await;
        assert_eq!(found.unwrap().unwrap().email, "ann@example.com");
        let gone = user_by_id(&directory, UserLookup::Gone, &id).await;
        assert!(gone.unwrap().is_none());
        assert_eq!(directory.by_id(), 0);
        let not_asked = user_by_id(&directory, UserLookup::NotAsked, &id).await;
        assert!(not_asked.unwrap().is_none());
        assert_eq!(directory.by_id(), 1);
    }
}
