//! Bheem Mail's API (`/api/v1/mail`) driven over HTTP as the workspace SPA drives it: tokens
//! from the first-party login, the hub reading and sending as each person through the master-user
//! login of a real Dovecot and Postfix (support/mail.rs), and the admins' mailboxes through the
//! fake Mailcow.

mod admin;
mod attachments;
mod changes;
mod config_check;
mod failures;
mod isolation;
mod read;
mod send;
mod tls;

use bheem_sso::store::users::LocalUser;
use rand::distributions::{Alphanumeric, DistString};
use secrecy::SecretString;
use serde_json::Value;
use uuid::Uuid;

use crate::fakes::mailcow::FakeMailcow;
use crate::support::{
    add_user, remember_secret, Backend, MailOptions, MailServers, Sso, TestApp, TestConfig, ACME,
    GLOBEX, PASSWORD,
};

pub const MASTER: &str = "bheem@mailcow.local";
pub const ALICE: &str = "alice@acme.example";
pub const BOB: &str = "bob@acme.example";
pub const EVE: &str = "eve@globex.example";
const MASTER_ENV: &str = "BHEEM_TEST_MAIL_MASTER_PASSWORD";
const MAILCOW_KEY: &str = "mailcow-api-key-for-the-mail-tests";

/// The provider with `[mail]` on the test servers and `[provisioning.mailcow]` on the fake, and
/// access tokens of alice and bob of Acme, eve of Globex, and carol, Acme's admin.
pub struct MailApp {
    pub sso: Sso,
    pub mail: MailServers,
    pub mailcow: FakeMailcow,
    pub alice: String,
    pub bob: String,
    pub eve: String,
    pub carol: String,
    http: reqwest::Client,
}

impl MailApp {
    pub async fn start(backend: Backend) -> Option<Self> {
        Self::start_with(backend, |_, _| {}).await
    }

    /// As [`MailApp::start`], with the configuration edited once the servers' ports are known.
    pub async fn start_with(
        backend: Backend,
        edit: impl FnOnce(&mut TestConfig, &MailServers),
    ) -> Option<Self> {
        let master_password = Alphanumeric.sample_string(&mut rand::thread_rng(), 32);
        let mail = MailServers::start(MailOptions {
            domains: vec!["acme.example".into(), "globex.example".into()],
            master_user: MASTER.into(),
            master_password: master_password.clone(),
        })
        .await?;
        remember_secret(MAILCOW_KEY);
        let mailcow = FakeMailcow::start(MAILCOW_KEY, &["acme.example", "globex.example"]).await;
        let mailcow_url = mailcow.url();
        let sso = TestApp::builder()
            .backend(backend)
            .env(MASTER_ENV, &master_password)
            .config(|c| {
                c.set("mail.imap_host", "127.0.0.1")
                    .set("mail.imap_port", i64::from(mail.imap_port()))
                    .set("mail.smtp_port", i64::from(mail.submission_port()))
                    .set("mail.tls", "none")
                    .set("mail.master_user", MASTER)
                    .set("mail.master_password_env", MASTER_ENV)
                    .set("mail.request_timeout_seconds", 5)
                    .set("mail.max_message_mib", 2)
                    .set("provisioning.mailcow.url", mailcow_url.as_str())
                    .set("provisioning.mailcow.api_key", MAILCOW_KEY)
                    .set("provisioning.mailcow.domain", "shared.example")
                    .set("provisioning.mailcow.company_domains", {
                        let mut domains = toml::Table::new();
                        domains.insert(ACME.into(), "acme.example".into());
                        domains.insert(GLOBEX.into(), "globex.example".into());
                        domains
                    });
                edit(c, &mail);
            })
            .start_sso()
            .await?;
        add_user(&sso.h.app, BOB, Some("bob"), ACME, PASSWORD).await;
        add_user(&sso.h.app, EVE, Some("eve"), GLOBEX, PASSWORD).await;
        add_admin(&sso.h.app, "carol@acme.example", ACME).await;
        for address in [ALICE, BOB, EVE] {
            mail.add_mailbox(address);
        }
        let http = reqwest::Client::new();
        let login = |email: &'static str| {
            let sso = &sso;
            async move {
                sso.api_login(email, PASSWORD).await["access_token"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            }
        };
        let (alice, bob, eve, carol) = (
            login(ALICE).await,
            login(BOB).await,
            login(EVE).await,
            login("carol@acme.example").await,
        );
        Some(Self {
            sso,
            mail,
            mailcow,
            alice,
            bob,
            eve,
            carol,
            http,
        })
    }

    /// `method path` with `token` and the JSON body if any: the status and the JSON answer
    /// (`null` when there is none).
    pub async fn call(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .http
            .request(method, self.sso.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status} {e}: {text}"))
        };
        (status, json)
    }

    pub async fn get(&self, token: &str, path: &str) -> Value {
        let (status, body) = self.call(token, "GET", path, None).await;
        assert_eq!(status, 200, "GET {path}: {body:#}");
        body
    }

    /// The raw answer, for downloads.
    pub async fn download(&self, token: &str, path: &str) -> reqwest::Response {
        self.http
            .get(self.sso.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// A folder's first page, newest first.
    pub async fn messages(&self, token: &str, folder: &str) -> Vec<Value> {
        let page = self
            .get(
                token,
                &format!("/api/v1/mail/inbox?folder={folder}&limit=200"),
            )
            .await;
        page["messages"].as_array().unwrap().clone()
    }

    /// Stores a message in a folder as if it had been delivered.
    pub fn deliver(&self, address: &str, folder: &str, raw: &str) {
        self.mail.save(address, folder, raw.as_bytes());
    }
}

/// A user of `company` whose role makes them its admin in the workspace.
async fn add_admin(app: &TestApp, email: &str, company: &str) -> LocalUser {
    remember_secret(PASSWORD);
    let state = &app.state;
    let user = LocalUser {
        id: Uuid::new_v4(),
        email: bheem_sso::domain::Email::parse(email).unwrap(),
        username: None,
        display_name: format!("Admin {email}"),
        company_id: Uuid::parse_str(company).unwrap(),
        role: "admin".into(),
        active: true,
        password_hash: state
            .logins
            .passwords
            .hash(&SecretString::from(PASSWORD.to_owned()))
            .await
            .unwrap(),
        created_at: state.clock.now(),
    };
    state.db.insert_user(&user).await.unwrap();
    user
}

/// A short plain message from `from` to `to`.
pub fn plain(from: &str, to: &str, subject: &str, body: &str) -> String {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{}@acme.example>\r\n\
         Date: Tue, 1 Dec 2026 10:00:00 +0000\r\n\r\n{body}\r\n",
        Uuid::new_v4()
    )
}
