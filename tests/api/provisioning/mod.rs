//! First-login provisioning of Nextcloud users and Mailcow mailboxes through the outbox, against
//! faithful fakes of both, including while they fail. Here: the fakes and the configuration
//! that points at them, and the steps the tests share.

mod audit;
mod failures;
mod lifecycle;
mod mailcow;
mod nextcloud;

use std::time::Duration;

use serde_json::Value;

use crate::fakes::mailcow::FakeMailcow;
use crate::fakes::nextcloud::FakeNextcloud;
use crate::fakes::Fault;
use crate::support::{
    add_user, jwt_payload, AuthRequest, ClientSpec, Rp, Sso, TestConfig, CALLBACK, PASSWORD,
};

const NC_ADMIN: (&str, &str) = ("admin", "nc-admin-password");
const MC_KEY: &str = "mailcow-api-key-0123";

struct Downstream {
    nc: FakeNextcloud,
    mc: FakeMailcow,
}

impl Downstream {
    async fn start() -> Self {
        Self {
            nc: FakeNextcloud::start(NC_ADMIN.0, NC_ADMIN.1).await,
            mc: FakeMailcow::start(MC_KEY, &["acme.example"]).await,
        }
    }

    /// Both targets, at these fakes, and an outbox that retries within a second.
    fn configure(&self, config: &mut TestConfig) {
        config
            .set("outbox.poll_interval_ms", 100)
            .set("outbox.retry_base_seconds", 1)
            .set("outbox.retry_max_seconds", 1)
            .set("outbox.max_attempts", 100)
            .set("outbox.request_timeout_seconds", 1)
            .set("provisioning.targets", vec!["nextcloud", "mailcow"])
            .set("provisioning.nextcloud.url", self.nc.url())
            .set("provisioning.nextcloud.admin_user", NC_ADMIN.0)
            .set("provisioning.nextcloud.admin_password", NC_ADMIN.1)
            .set("provisioning.nextcloud.uid_claim", "preferred_username")
            .set("provisioning.nextcloud.quota", "5 GB")
            .set("provisioning.mailcow.url", self.mc.url())
            .set("provisioning.mailcow.api_key", MC_KEY)
            .set("provisioning.mailcow.domain", "acme.example")
            .set("provisioning.mailcow.quota_mib", 2048);
    }

    fn set_fault(&self, fault: Fault) {
        self.nc.set_fault(fault);
        self.mc.set_fault(fault);
    }

    /// Nextcloud users other than the admin account the fake starts with.
    fn nc_user_count(&self) -> usize {
        self.nc
            .users()
            .keys()
            .filter(|id| *id != NC_ADMIN.0)
            .count()
    }

    fn provisioned(&self, uid: &str, mailbox: &str) -> bool {
        self.nc.users().contains_key(uid) && self.mc.mailboxes().contains_key(mailbox)
    }
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never happened: {what}");
}

async fn jobs(sso: &Sso) -> Vec<bheem_sso::store::outbox::JobStatus> {
    sso.h.app.state.db.job_statuses().await.unwrap()
}

async fn eventually_jobs(
    db: &bheem_sso::store::Db,
    what: &str,
    check: impl Fn(&[bheem_sso::store::outbox::JobStatus]) -> bool,
) {
    for _ in 0..200 {
        if check(&db.job_statuses().await.unwrap()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "never happened: {what}: {:?}",
        db.job_statuses().await.unwrap()
    );
}

async fn add_user_with_role(
    sso: &Sso,
    email: &str,
    username: &str,
    company: &str,
    role: &str,
) -> uuid::Uuid {
    let user = add_user(&sso.h.app, email, Some(username), company, PASSWORD).await;
    set_role(sso, user.id, role).await;
    user.id
}

async fn set_role(sso: &Sso, user: uuid::Uuid, role: &str) {
    sqlx::query("UPDATE users SET role = $1 WHERE id = $2")
        .bind(role.to_owned())
        .bind(user.to_string())
        .execute(sso.h.app.state.db.pool())
        .await
        .unwrap();
}

/// Logs in through the first-party API, which provisions the global targets.
async fn api_login(sso: &Sso, login: &str) -> u16 {
    reqwest::Client::new()
        .post(sso.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"username": login, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The ID token's claims and userinfo of `login` signing in through `rp`.
async fn claims_of(sso: &Sso, rp: &Rp, login: &str, scopes: &[&str]) -> [Value; 2] {
    use openidconnect::{OAuth2TokenResponse as _, TokenResponse as _};
    let browser = sso.browser();
    let request = AuthRequest::new(rp, scopes);
    let landing = browser.visit(request.url.as_str()).await;
    let tokens = sso
        .finish_login(&browser, rp, &request, &landing, login)
        .await;
    let id = jwt_payload(&tokens.id_token().unwrap().to_string());
    let info = sso.userinfo_json(tokens.access_token().secret()).await;
    [id, info]
}

/// The outbox job with this dedupe key once it has ended (done or failed for good).
async fn ended_job(sso: &Sso, key: &str) -> bheem_sso::store::outbox::JobStatus {
    let db = &sso.h.app.state.db;
    eventually_jobs(db, &format!("job {key} ended"), |jobs| {
        jobs.iter()
            .any(|j| j.dedupe_key == key && (j.state == "done" || j.state == "failed"))
    })
    .await;
    jobs(sso)
        .await
        .into_iter()
        .find(|j| j.dedupe_key == key)
        .unwrap()
}

fn is_nextcloud_admin_group(group: &str) -> bool {
    group.eq_ignore_ascii_case("admin")
}

const MAIL_SECRET: &str = "mail-secret-0123456789";

/// Mailcow's client: its `email` is the user's mailbox.
fn mail_client() -> ClientSpec {
    ClientSpec::new("bheem-mail")
        .secret(MAIL_SECRET)
        .redirect_uri(CALLBACK)
        .auth_method("client_secret_post")
        .skip_consent()
        .email_claim("mailbox")
}

fn mail_rp(sso: &Sso) -> Rp {
    sso.rp("bheem-mail", Some(MAIL_SECRET))
        .set_auth_type(openidconnect::AuthType::RequestBody)
}
