//! Where users live. `ErpDirectory` reads the ERP's `auth.users`; `LocalDirectory` keeps users
//! in the provider's own database for the embedded default. Both sit behind one trait; checking
//! a password against them is the login layer's (`crate::login`).

mod erp;
mod local;

pub use erp::ErpDirectory;
pub use local::LocalDirectory;

use async_trait::async_trait;
use uuid::Uuid;

use crate::store::users::JoinedUser;

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

#[async_trait]
pub trait Directory: Send + Sync {
    /// Look-up by email or username, case-insensitively.
    async fn find_by_login(&self, login: &str) -> anyhow::Result<Option<Credentials>>;
    async fn find_by_id(&self, id: &str) -> anyhow::Result<Option<User>>;
    /// Replaces a legacy hash after a successful login; only called when [`Directory::rehash_enabled`].
    async fn replace_password_hash(&self, id: &str, hash: &str) -> anyhow::Result<()>;
    fn rehash_enabled(&self) -> bool;
    /// For logs and `/health`: `local` or `erp`.
    fn kind(&self) -> &'static str;
    /// Whether the users live in the provider's own database, so that a look-up of a token or
    /// code can bring its user along in the same statement ([`JoinedUser`], [`user_by_id`]).
    fn in_provider_database(&self) -> bool {
        false
    }
    async fn ping(&self) -> anyhow::Result<()>;
}

/// The user `id`: the one a look-up brought along when it was asked to ([`JoinedUser`]), else
/// the directory's answer.
pub async fn user_by_id(
    directory: &dyn Directory,
    joined: JoinedUser,
    id: &str,
) -> anyhow::Result<Option<User>> {
    match joined {
        Some(user) => Ok(user.map(User::from)),
        None => directory.find_by_id(id).await,
    }
}
