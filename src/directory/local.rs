use async_trait::async_trait;

use super::{Credentials, Directory, FoundLogin, PingError, User};
use crate::clock::Clock;
use crate::store::users::LocalUser;
use crate::store::Db;

/// Users in the provider's own database, managed with `bheem-sso users …`.
#[derive(Clone)]
pub struct LocalDirectory {
    db: Db,
    clock: Clock,
}

impl LocalDirectory {
    pub fn new(db: Db, clock: Clock) -> Self {
        Self { db, clock }
    }
}

impl From<LocalUser> for User {
    fn from(u: LocalUser) -> Self {
        User {
            id: u.id.to_string(),
            email: u.email.as_str().to_owned(),
            username: u.username,
            name: u.display_name,
            company_id: u.company_id,
            role: u.role,
            active: u.active,
        }
    }
}

#[async_trait]
impl Directory for LocalDirectory {
    async fn find_by_login(&self, login: &str) -> anyhow::Result<FoundLogin> {
        // Every local user has a company: `users add` requires one.
        Ok(match self.db.find_user_by_login(login).await? {
            Some(u) => {
                let password_hash = Some(u.password_hash.clone());
                FoundLogin::Account(Credentials {
                    user: u.into(),
                    password_hash,
                })
            }
            None => FoundLogin::Nobody,
        })
    }

    async fn find_by_id(&self, id: &str) -> anyhow::Result<Option<User>> {
        Ok(self.db.find_user_by_id(id).await?.map(User::from))
    }

    async fn replace_password_hash(&self, id: &str, hash: &str) -> anyhow::Result<()> {
        self.db
            .set_user_password_hash(id, hash, self.clock.now())
            .await
    }

    fn rehash_enabled(&self) -> bool {
        // Our own table: keeping its hashes current is always ours to do.
        true
    }

    fn kind(&self) -> &'static str {
        "local"
    }

    fn in_provider_database(&self) -> bool {
        true
    }

    async fn ping(&self) -> Result<(), PingError> {
        Ok(self.db.ping().await?)
    }
}
