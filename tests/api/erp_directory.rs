//! The ERP's `auth.users` in a real PostgreSQL, shaped like an ERP's, with hashes made here.

use argon2::password_hash::{PasswordHasher, SaltString};
use base64::Engine;
use bheem_sso::directory::{Directory, ErpDirectory};
use bheem_sso::login::{AuthOutcome, Failure};
use bheem_sso::password::Passwords;
use openidconnect::OAuth2TokenResponse;
use sqlx::{Connection, Executor, PgConnection};
use uuid::Uuid;

use crate::audit::{the, trail};
use crate::on_both_backends;
use crate::support::{
    check_login, jwt_payload, AuthRequest, Backend, Logs, TestApp, TestConfig, TestDb, PASSWORD,
};

const ACME: &str = "6f1c2a64-8a34-4a8e-9d3c-0c2f5b7e9a11";

fn passlib_pbkdf2_sha256(password: &str, rounds: u32) -> String {
    let salt: [u8; 16] = rand::random();
    let mut derived = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), &salt, rounds, &mut derived);
    let ab64 = |b: &[u8]| {
        base64::engine::general_purpose::STANDARD_NO_PAD
            .encode(b)
            .replace('+', ".")
    };
    format!("$pbkdf2-sha256${rounds}${}${}", ab64(&salt), ab64(&derived))
}

fn argon2id(password: &str) -> String {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .unwrap()
        .to_string()
}

struct Erp {
    db: TestDb,
    passwords: Passwords,
}

impl Erp {
    /// An ERP database with `auth.users` seeded with one user per hash format.
    async fn seeded() -> Option<Self> {
        let db = TestDb::postgres().await?;
        let mut conn = PgConnection::connect(&db.url).await.unwrap();
        conn.execute(
            "CREATE SCHEMA auth;
             CREATE TABLE auth.users (
                 id UUID PRIMARY KEY,
                 email VARCHAR(255) NOT NULL UNIQUE,
                 username VARCHAR(100) UNIQUE,
                 full_name VARCHAR(255),
                 company_id UUID,
                 role VARCHAR(50) NOT NULL DEFAULT 'employee',
                 is_active BOOLEAN NOT NULL DEFAULT TRUE,
                 hashed_password TEXT,
                 created_at TIMESTAMPTZ NOT NULL DEFAULT now()
             );",
        )
        .await
        .unwrap();
        let rows = [
            (
                "alice@acme.example",
                Some("alice"),
                bcrypt::hash("alice-pw-1", 4)
                    .unwrap()
                    .replacen("$2b$", "$2y$", 1),
                true,
                Some(ACME),
            ),
            (
                "Bob@Acme.example",
                Some("bob"),
                passlib_pbkdf2_sha256("bob-pw-22", 1000),
                true,
                Some(ACME),
            ),
            (
                "carol@acme.example",
                None,
                argon2id("carol-pw-333"),
                true,
                Some(ACME),
            ),
            (
                "dave@acme.example",
                Some("dave"),
                bcrypt::hash("dave-pw-4444", 4).unwrap(),
                false,
                Some(ACME),
            ),
            (
                "erin@acme.example",
                Some("erin"),
                "$2b$04$this-is-not-a-bcrypt-hash".to_owned(),
                true,
                Some(ACME),
            ),
            (
                "frank@acme.example",
                Some("frank"),
                bcrypt::hash("frank-pw", 4).unwrap(),
                true,
                None,
            ),
        ];
        for (email, username, hash, active, company) in rows {
            sqlx::query(
                "INSERT INTO auth.users (id, email, username, full_name, company_id, role, is_active, hashed_password)
                 VALUES ($1::uuid, $2, $3, $4, $5::uuid, 'employee', $6, $7)",
            )
            .bind(Uuid::new_v4().to_string())
            .bind(email)
            .bind(username)
            .bind(format!("Name of {email}"))
            .bind(company)
            .bind(active)
            .bind(hash)
            .execute(&mut conn)
            .await
            .unwrap();
        }
        let passwords = Passwords::new(&bheem_sso::config::PasswordConfig {
            memory_kib: 8192,
            iterations: 1,
            ..Default::default()
        })
        .unwrap();
        Some(Self { db, passwords })
    }

    /// The `[directory]` section for this ERP's `auth.users`.
    fn configure(&self, config: &mut TestConfig) {
        config
            .set("directory.url", self.db.url.as_str())
            .set("directory.table", "auth.users");
    }

    /// A configuration of nothing but that section.
    fn config(&self) -> TestConfig {
        let mut config = TestConfig::default();
        self.configure(&mut config);
        config
    }

    fn directory(&self) -> ErpDirectory {
        connect(&self.config())
    }

    async fn login(&self, directory: &ErpDirectory, login: &str, password: &str) -> AuthOutcome {
        check_login(directory, &self.passwords, login, password).await
    }

    async fn id_of(&self, email: &str) -> String {
        let mut conn = PgConnection::connect(&self.db.url).await.unwrap();
        sqlx::query_scalar("SELECT id::text FROM auth.users WHERE email = $1")
            .bind(email)
            .fetch_one(&mut conn)
            .await
            .unwrap()
    }

    async fn stored_hash(&self, email: &str) -> String {
        let mut conn = PgConnection::connect(&self.db.url).await.unwrap();
        sqlx::query_scalar("SELECT hashed_password FROM auth.users WHERE email = $1")
            .bind(email)
            .fetch_one(&mut conn)
            .await
            .unwrap()
    }
}

/// The ERP directory that `config` describes.
fn connect(config: &TestConfig) -> ErpDirectory {
    let config = config.load().unwrap();
    ErpDirectory::connect(config.directory.as_ref().unwrap()).unwrap()
}

fn authenticated_email(outcome: AuthOutcome) -> String {
    match outcome {
        AuthOutcome::Authenticated(user, _) => user.email,
        other => panic!("expected a successful login, got {other:?}"),
    }
}

#[tokio::test]
async fn right_passwords_pass_for_bcrypt_pbkdf2_and_argon2_hashes() {
    let Some(erp) = Erp::seeded().await else {
        return;
    };
    let dir = erp.directory();
    assert_eq!(
        authenticated_email(erp.login(&dir, "alice@acme.example", "alice-pw-1").await),
        "alice@acme.example"
    );
    assert_eq!(
        authenticated_email(erp.login(&dir, "bob@acme.example", "bob-pw-22").await),
        "Bob@Acme.example"
    );
    assert_eq!(
        authenticated_email(erp.login(&dir, "carol@acme.example", "carol-pw-333").await),
        "carol@acme.example"
    );
}

#[tokio::test]
async fn lookup_is_by_email_or_username_case_insensitively() {
    let Some(erp) = Erp::seeded().await else {
        return;
    };
    let dir = erp.directory();
    let AuthOutcome::Authenticated(user, _) = erp.login(&dir, "ALICE", "alice-pw-1").await else {
        panic!("username login failed")
    };
    assert_eq!(user.company_id.to_string(), ACME);
    assert_eq!(user.role, "employee");
    assert_eq!(user.name, "Name of alice@acme.example");
    assert!(matches!(
        erp.login(&dir, "  BOB@acme.EXAMPLE ", "bob-pw-22").await,
        AuthOutcome::Authenticated(..)
    ));
    let found = dir.find_by_id(&user.id).await.unwrap().unwrap();
    assert_eq!(found, user);
}

#[tokio::test]
async fn wrong_passwords_and_unknown_users_fail() {
    let Some(erp) = Erp::seeded().await else {
        return;
    };
    let dir = erp.directory();
    for (login, password) in [
        ("alice@acme.example", "alice-pw-2"),
        ("bob", "BOB-PW-22"),
        ("carol@acme.example", ""),
        ("nobody@acme.example", "whatever"),
        ("", "x"),
    ] {
        assert!(
            matches!(
                erp.login(&dir, login, password).await,
                AuthOutcome::InvalidCredentials(_)
            ),
            "{login}"
        );
    }
}

#[tokio::test]
async fn inactive_users_are_refused() {
    let Some(erp) = Erp::seeded().await else {
        return;
    };
    let dir = erp.directory();
    assert!(
        matches!(erp.login(&dir, "dave", "dave-pw-4444").await, AuthOutcome::Inactive(u) if !u.active)
    );
    // Without the right password, nothing is said about the account.
    assert!(matches!(
        erp.login(&dir, "dave", "wrong").await,
        AuthOutcome::InvalidCredentials(Failure::WrongPassword(_))
    ));
}

#[tokio::test]
async fn corrupt_hash_and_missing_company_are_refused_without_error() {
    let Some(erp) = Erp::seeded().await else {
        return;
    };
    let dir = erp.directory();
    assert!(matches!(
        erp.login(&dir, "erin", "anything").await,
        AuthOutcome::InvalidCredentials(Failure::UnusableHash(_))
    ));
    assert_eq!(
        erp.login(&dir, "frank", "frank-pw").await,
        AuthOutcome::InvalidCredentials(Failure::NoCompany(erp.id_of("frank@acme.example").await))
    );
}

/// An ERP account without a company cannot log in: the person trying is told what a wrong
/// password tells, the operator which account it is and why, in the log and the audit trail.
#[tokio::test]
async fn an_account_without_a_company_is_refused_and_the_operator_is_told_why() {
    let Some(erp) = Erp::seeded().await else {
        return;
    };
    let logs = Logs::capture();
    let Some(sso) = TestApp::builder()
        .backend(Backend::Sqlite)
        .config(|c| erp.configure(c))
        .start_sso()
        .await
    else {
        return;
    };
    let frank = erp.id_of("frank@acme.example").await;
    let response = reqwest::Client::new()
        .post(sso.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "Frank", "password": "frank-pw"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_credentials");
    let lines: Vec<_> = logs
        .with_message_starting("login refused")
        .into_iter()
        .filter(|line| line["request_id"] == id.as_str())
        .collect();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(lines[0]["level"], "WARN");
    assert_eq!(lines[0]["reason"], "no_company");
    assert_eq!(lines[0]["user_id"], frank.as_str());
    assert_eq!(lines[0]["directory"], "erp");
    assert!(lines[0].get("login_digest").is_none());
    logs.assert_absent("password", "frank-pw");
    let events = trail(&sso.h, &["--kind", "login_failed"]).await;
    let failed = the(&events, "login_failed");
    assert_eq!(failed["user_id"], frank.as_str());
    assert!(failed["company_id"].is_null(), "{failed:#}");
    assert_eq!(failed["detail"]["reason"], "no_company");
}

#[tokio::test]
async fn the_erp_table_is_never_written_without_rehash_enabled() {
    let Some(erp) = Erp::seeded().await else {
        return;
    };
    let dir = erp.directory();
    let before = erp.stored_hash("alice@acme.example").await;
    erp.login(&dir, "alice", "alice-pw-1").await;
    assert_eq!(erp.stored_hash("alice@acme.example").await, before);
}

#[tokio::test]
async fn with_rehash_enabled_legacy_hashes_become_argon2id() {
    let Some(erp) = Erp::seeded().await else {
        return;
    };
    let dir = connect(erp.config().set("directory.rehash", true));
    authenticated_email(erp.login(&dir, "bob", "bob-pw-22").await);
    let after = erp.stored_hash("Bob@Acme.example").await;
    assert!(after.starts_with("$argon2id$"), "{after}");
    authenticated_email(erp.login(&dir, "bob", "bob-pw-22").await);
    assert!(matches!(
        erp.login(&dir, "bob", "bob-pw-23").await,
        AuthOutcome::InvalidCredentials(Failure::WrongPassword(_))
    ));
}

#[tokio::test]
async fn column_names_are_configurable() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    conn.execute(
        "CREATE SCHEMA auth;
         CREATE TABLE auth.users (uid BIGSERIAL PRIMARY KEY, mail TEXT, tenant UUID, enabled INTEGER, pw TEXT);",
    )
    .await
    .unwrap();
    sqlx::query("INSERT INTO auth.users (mail, tenant, enabled, pw) VALUES ($1, $2::uuid, 1, $3)")
        .bind("grace@acme.example")
        .bind(ACME)
        .bind(bcrypt::hash("grace-pw", 4).unwrap())
        .execute(&mut conn)
        .await
        .unwrap();
    let mut config = TestConfig::default();
    config
        .set("directory.url", db.url.as_str())
        .set("directory.columns.id", "uid")
        .set("directory.columns.email", "mail")
        .set("directory.columns.username", "")
        .set("directory.columns.name", "")
        .set("directory.columns.role", "")
        .set("directory.columns.company_id", "tenant")
        .set("directory.columns.active", "enabled")
        .set("directory.columns.password_hash", "pw");
    let dir = connect(&config);
    let passwords = Passwords::new(&Default::default()).unwrap();
    let outcome = check_login(&dir, &passwords, "Grace@acme.example", "grace-pw").await;
    let AuthOutcome::Authenticated(user, _) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(user.id, "1");
    assert_eq!(user.role, "member");
    assert_eq!(user.name, "grace@acme.example");
}

on_both_backends!(with_the_erp_as_directory_tokens_follow_the_erp_user);

/// The whole code flow with the ERP as the directory (the production set-up): the token grants,
/// userinfo and introspection cannot join the user into their look-ups there, so they ask the
/// ERP; a user deactivated in the ERP loses userinfo, introspection, the refresh grant and a code
/// issued before.
async fn with_the_erp_as_directory_tokens_follow_the_erp_user(backend: Backend) {
    let Some(erp) = Erp::seeded().await else {
        return;
    };
    let mut conn = PgConnection::connect(&erp.db.url).await.unwrap();
    sqlx::query("UPDATE auth.users SET hashed_password = $1 WHERE email = 'alice@acme.example'")
        .bind(argon2id(PASSWORD))
        .execute(&mut conn)
        .await
        .unwrap();
    let Some(sso) = TestApp::builder()
        .backend(backend)
        .config(|c| erp.configure(c))
        .start_sso()
        .await
    else {
        return;
    };
    let rp = sso.default_rp();
    let browser = sso.browser();
    let sign_in = sso.sign_in(&browser, &rp, &["offline_access"]).await;
    assert_eq!(jwt_payload(&sign_in.access_token())["company_id"], ACME);
    assert_eq!(sso.userinfo_status(&sign_in.access_token()).await, 200);
    let refreshed = sso
        .refresh(&rp, &sign_in.refresh_token().unwrap())
        .await
        .expect("a refresh while the ERP user is active");
    let pending = AuthRequest::new(&rp, &[]);
    let pending_code = pending.code_from(&browser.visit(pending.url.as_str()).await.callback());
    sqlx::query("UPDATE auth.users SET is_active = FALSE WHERE email = 'alice@acme.example'")
        .execute(&mut conn)
        .await
        .unwrap();
    let access = refreshed.access_token().secret().clone();
    assert_eq!(sso.userinfo_status(&access).await, 401);
    assert_eq!(sso.introspect(&access).await["active"], false);
    let next = refreshed.refresh_token().unwrap().secret();
    assert_eq!(sso.refresh(&rp, next).await.unwrap_err(), "invalid_grant");
    assert_eq!(
        sso.exchange(&rp, pending_code, pending.verifier_secret())
            .await
            .unwrap_err(),
        "invalid_grant"
    );
}
