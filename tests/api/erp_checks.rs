//! The ERP's table checked against `[directory]` in a real PostgreSQL: by `bheem-sso config
//! check` (every problem in one run, each naming its key), at start-up (a missing column or grant
//! stops it; an ERP that is down does not), and by `/health` (the reason shown, not `ok` while
//! every login fails).

use std::path::Path;
use std::process::Output;

use sqlx::{Connection, Executor, PgConnection};

use crate::support::{postgres_admin_url, ClientSpec, TestApp, TestConfig, TestDb};

/// An ERP database with an empty `auth.users` shaped as the default `[directory.columns]` say:
/// the least an ERP needs for the provider to start on it.
pub async fn erp() -> Option<TestDb> {
    let db = TestDb::postgres().await?;
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    conn.execute(
        "CREATE SCHEMA auth;
         CREATE TABLE auth.users (
             id UUID PRIMARY KEY,
             email VARCHAR(255) NOT NULL UNIQUE,
             username VARCHAR(100),
             full_name VARCHAR(255),
             company_id UUID,
             role VARCHAR(50),
             is_active BOOLEAN NOT NULL DEFAULT TRUE,
             hashed_password TEXT
         );",
    )
    .await
    .unwrap();
    Some(db)
}

/// A login role of the test's own (roles belong to the whole server) that may use the schema
/// `auth` of `erp` and has no grant on its table. The test server trusts local connections, so
/// the role has no password.
struct Role {
    name: String,
    erp_url: String,
}

impl Role {
    async fn without_grant(erp: &TestDb) -> Self {
        let name = format!("bheem_reader_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&postgres_admin_url()).await.unwrap();
        admin
            .execute(format!("CREATE ROLE {name} LOGIN").as_str())
            .await
            .unwrap();
        let role = Self {
            name,
            erp_url: erp.url.clone(),
        };
        role.on_erp(&format!("GRANT USAGE ON SCHEMA auth TO {}", role.name))
            .await;
        role
    }

    /// The ERP's URL, connecting as this role.
    fn url(&self) -> String {
        let mut url = url::Url::parse(&self.erp_url).unwrap();
        url.set_username(&self.name).unwrap();
        url.set_password(None).unwrap();
        url.to_string()
    }

    /// Runs `sql` on the ERP as its owner.
    async fn on_erp(&self, sql: &str) {
        let mut conn = PgConnection::connect(&self.erp_url).await.unwrap();
        conn.execute(sql).await.unwrap();
    }

    async fn drop(self) {
        self.on_erp(&format!("DROP OWNED BY {}", self.name)).await;
        let mut admin = PgConnection::connect(&postgres_admin_url()).await.unwrap();
        admin
            .execute(format!("DROP ROLE {}", self.name).as_str())
            .await
            .unwrap();
    }
}

fn config_check(dir: &Path, config: &TestConfig) -> Output {
    let file = dir.join("bheem-sso.toml");
    std::fs::write(&file, config.to_string()).unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_bheem-sso"));
    for (name, _) in std::env::vars() {
        if name.starts_with("BHEEM_SSO_") {
            command.env_remove(name);
        }
    }
    command
        .current_dir(dir)
        .args(["config", "check", "--config"])
        .arg(&file)
        .output()
        .unwrap()
}

fn problems(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|line| line.starts_with("problem: "))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn config_check_lists_a_wrong_column_a_missing_grant_and_a_weak_secret_in_one_run() {
    let Some(erp) = erp().await else {
        return;
    };
    let role = Role::without_grant(&erp).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = TestConfig::default();
    config
        .set(
            "database_url",
            format!("sqlite://{}/sso.db", dir.path().display()),
        )
        .set("directory.url", role.url())
        .set("directory.columns.email", "mail")
        .client(
            ClientSpec::new("bheem-docs")
                .secret("short-secret")
                .redirect_uri("https://docs.example.com/cb"),
        );
    let out = config_check(dir.path(), &config);
    assert!(!out.status.success());
    let found = problems(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(found.len(), 3, "{stdout}");
    let has = |key: &str, words: &str| {
        found
            .iter()
            .any(|line| line.contains(&format!("`{key}`")) && line.contains(words))
    };
    assert!(
        has(
            "directory.columns.email",
            "column auth.users.mail does not exist"
        ),
        "{stdout}"
    );
    assert!(
        has(
            "directory.table",
            &format!("role {} has no SELECT permission on auth.users", role.name)
        ),
        "{stdout}"
    );
    assert!(
        has(
            r#"clients["bheem-docs"].client_secret"#,
            "at least 16 characters"
        ),
        "{stdout}"
    );
    assert!(!stdout.contains("short-secret"), "{stdout}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("3 problems"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Each fixed, nothing is left.
    role.on_erp(&format!("GRANT SELECT ON auth.users TO {}", role.name))
        .await;
    let mut fixed = TestConfig::default();
    fixed
        .set(
            "database_url",
            format!("sqlite://{}/sso.db", dir.path().display()),
        )
        .set("directory.url", role.url())
        .client(
            ClientSpec::new("bheem-docs")
                .secret("a-long-enough-docs-secret")
                .redirect_uri("https://docs.example.com/cb"),
        );
    let out = config_check(dir.path(), &fixed);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("configuration OK"), "{stdout}");

    // With rehash on, the role must also be allowed to write the hash column.
    fixed.set("directory.rehash", true);
    let out = config_check(dir.path(), &fixed);
    let found = problems(&out);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].contains("`directory.rehash`") && found[0].contains("UPDATE"),
        "{found:?}"
    );
    role.drop().await;
}

#[tokio::test]
async fn start_up_stops_on_a_missing_column_or_grant_naming_the_key() {
    let Some(erp) = erp().await else {
        return;
    };
    let role = Role::without_grant(&erp).await;
    let db = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/sso.db", db.path().display());

    let wrong_column = TestApp::builder()
        .set("directory.url", erp.url.as_str())
        .set("directory.columns.name", "display_name");
    let error = wrong_column
        .try_start_on(&url, &db.path().join("keys"))
        .await
        .err()
        .expect("start-up should stop");
    let message = format!("{error:#}");
    assert!(
        message.contains("`directory.columns.name`")
            && message.contains("column auth.users.display_name does not exist"),
        "{message}"
    );

    let no_grant = TestApp::builder().set("directory.url", role.url());
    let error = no_grant
        .try_start_on(&url, &db.path().join("keys"))
        .await
        .err()
        .expect("start-up should stop");
    let message = format!("{error:#}");
    assert!(
        message.contains("`directory.table`") && message.contains("no SELECT permission"),
        "{message}"
    );

    role.on_erp(&format!("GRANT SELECT ON auth.users TO {}", role.name))
        .await;
    let app = no_grant.try_start_on(&url, &db.path().join("keys")).await;
    assert!(app.is_ok(), "{:?}", app.err());
    app.unwrap().stop().await;
    role.drop().await;
}

/// As ErpDirectory::connect promises: an ERP that does not answer makes logins fail, not
/// start-up.
#[tokio::test]
async fn start_up_goes_on_while_the_erp_is_down() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let Some(h) = TestApp::builder()
        .set(
            "directory.url",
            format!("postgres://nobody@127.0.0.1:{closed}/erp"),
        )
        .start()
        .await
    else {
        return;
    };
    let response = h.app.get("/health").await;
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    // Refused connections are retried until the pool gives up, past the check's limit.
    let status = body["directory"]["status"].as_str().unwrap_or_default();
    assert!(matches!(status, "unavailable" | "timeout"), "{body}");
    assert!(body["directory"].get("reason").is_none(), "{body}");
}

#[tokio::test]
async fn health_names_a_column_or_grant_gone_since_start_up() {
    let Some(erp) = erp().await else {
        return;
    };
    let role = Role::without_grant(&erp).await;
    role.on_erp(&format!("GRANT SELECT ON auth.users TO {}", role.name))
        .await;
    let h = TestApp::builder()
        .set("directory.url", role.url())
        .start()
        .await
        .unwrap();
    let health = |path: &'static str| {
        let app = &h.app;
        async move {
            let response = app.get(path).await;
            let status = response.status().as_u16();
            (status, response.json::<serde_json::Value>().await.unwrap())
        }
    };
    assert_eq!(health("/health").await.0, 200);

    role.on_erp("ALTER TABLE auth.users DROP COLUMN full_name")
        .await;
    let (status, body) = health("/health").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["directory"]["status"], "error", "{body}");
    assert_eq!(
        body["directory"]["reason"],
        "column auth.users.full_name does not exist (directory.columns.name)"
    );
    let (status, body) = health("/health/ready").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["not_ready"], serde_json::json!(["directory"]));
    assert_eq!(
        body["directory"]["reason"],
        "column auth.users.full_name does not exist (directory.columns.name)"
    );

    role.on_erp("ALTER TABLE auth.users ADD COLUMN full_name VARCHAR(255)")
        .await;
    assert_eq!(health("/health").await.0, 200);

    role.on_erp(&format!("REVOKE SELECT ON auth.users FROM {}", role.name))
        .await;
    let (status, body) = health("/health").await;
    assert_eq!(status, 503, "{body}");
    let reason = body["directory"]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("no SELECT permission on auth.users") && reason.contains("directory.table"),
        "{body}"
    );
    h.app.stop().await;
    role.drop().await;
}
