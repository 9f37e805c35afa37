//! The test harness: the real app on port 0 (one builder sets it up), its databases, its
//! configuration as a value, and the relying party and browser that drive it.
//!
//! The crate's internals that the harness needs (`AppState`, `serve`, `Config`) are named only
//! in this folder, so that a module moved in `src/` is followed in one place.

mod app;
mod browser;
mod caldav;
mod certificate;
mod config;
mod db;
mod directory;
mod leaks;
mod logs;
mod mail;
mod moto;
mod py_server;
mod python;
mod rp;
mod s3rver;
mod sso;
mod webdav;

pub use app::{kek_in, new_kek, Beside, Harness, TestApp};
pub use browser::{input_value, Browser, Landing};
pub use caldav::{CalDavOptions, CalDavServer};
pub use certificate::Certificate;
pub use config::{ClientSpec, TestConfig};
pub use db::{postgres_admin_url, Backend, TestDb};
pub use directory::check_login;
pub use leaks::{capture_logs, remember as remember_secret};
pub use logs::Logs;
pub use mail::{MailOptions, MailServers};
pub use moto::Moto;
pub use python::with_modules as python_with_modules;
pub use s3rver::{S3rver, S3RVER_KEY, S3RVER_SECRET};
/// The credentials and region the tests use with moto.
pub mod moto_keys {
    pub use super::moto::{S3_ACCESS_KEY, S3_REGION, S3_SECRET_KEY};
}
pub use rp::{jwt_payload, query, AuthRequest, Rp, SignIn};
pub use sso::{
    add_user, standard_clients, Sso, ACME, CALLBACK, GLOBEX, LOGOUT_RETURN, OTHER_CALLBACK,
    PASSWORD, SECRET,
};
pub use webdav::{DavOptions, DavServer};

/// Runs an async test body on SQLite and on PostgreSQL, as `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    super::$name($crate::support::Backend::Sqlite).await
                }
                #[tokio::test]
                async fn postgres() {
                    super::$name($crate::support::Backend::Postgres).await
                }
            }
        )*
    };
}
